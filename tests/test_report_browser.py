"""The HTML report opened in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4, stdlib only)."""
from __future__ import annotations

import base64
import difflib
import json
import os
import queue
import random
import shutil
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adp.history_db import DataTestMeta, HistoryDB, LineageNode, NodeSpan
from adp.runlog import RunLog, history
from adp.workspace import Workspace
from conftest import REPO, run_adp

ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--remote-debugging-pipe"]

pytestmark = pytest.mark.browser


class Page:
    """One headless Chromium with one page; collects console errors, exceptions and network requests."""

    def __init__(self, user_data_dir: Path, width: int = 1280, height: int = 1000):
        binary = shutil.which("chromium")
        if binary is None:
            pytest.skip("chromium is not installed (bash .ci/test-deps installs it)")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def fds_3_and_4() -> None:  # in the child: the pipe ends Chromium expects
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
                                     preexec_fn=fds_3_and_4, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out = os.fdopen(to_chrome_w, "wb")
        self._in = os.fdopen(from_chrome_r, "rb")
        self._messages: queue.Queue = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._id = 0
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _read(self) -> None:
        buf = b""
        while chunk := self._in.read1(1 << 16):
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for m in messages:
                self._messages.put(json.loads(m))
        self._messages.put(None)

    def _next(self, deadline: float) -> dict[str, Any]:
        msg = self._messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        if msg is None:
            raise RuntimeError("chromium closed the DevTools pipe")
        return msg

    def call(self, method: str, session: bool = False, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self._out.write(json.dumps(msg).encode() + b"\0")
        self._out.flush()
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, path: Path, timeout: float = 60) -> None:
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._next(deadline))

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def console_errors(self) -> list[dict[str, Any]]:
        self.js("0")  # let pending events arrive
        return [
            e for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
        ]

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = min(self.js("document.documentElement.scrollHeight"), 6000)
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, queue.Empty, AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture
def page(tmp_path):
    p = Page(tmp_path / "chromium-profile")
    yield p
    p.close()


def counts(page: Page) -> dict[str, Any]:
    return page.js("""({
        rows: document.querySelectorAll('#timeline tbody tr.run').length,
        models: document.querySelectorAll('svg.lineage g.node[data-kind="model"]').length,
        nodes: document.querySelectorAll('svg.lineage g.node').length,
    })""")


# -- a realistic report: real `adp run`s on a warm project plus the healing events the loop writes ----


def adp(project: Path, *args: str):
    return run_adp(*args, "--project-dir", ".", "--profiles-dir", ".", cwd=project)


def run_json(project: Path) -> dict[str, Any]:
    res = adp(project, "run", "--no-heal", "--json")
    assert res.returncode in (0, 1), res.stderr
    return res.json()


def heal_by_hand(ws: Workspace, run_id: str, path: Path, broken: str, fixed: str) -> None:
    """What the healing loop logs for one failed run: a wrong fix rolled back, then the right one."""
    log = RunLog(ws.log_dir, run_id)
    rel = path.relative_to(ws.project.project_dir).as_posix()
    log.emit("diagnosis", category="unknown_column", node="model.mini.city_scores", file=rel, line=2,
             summary="`scor` is not a column of `stg_people`", evidence=["Candidate bindings: \"score\""])
    text = path.read_text()
    for pid, new, outcome in (("p1", "sum(people) as total_score", "rollback"), ("p2", fixed, "kept")):
        after = text.replace(broken, new)
        diff = "".join(difflib.unified_diff(text.splitlines(True), after.splitlines(True), f"a/{rel}", f"b/{rel}"))
        log.emit("fix_proposed", proposal={"id": pid, "rule": "rename_column", "confidence": 0.92, "diff": diff,
                                           "rationale": "closest column name", "edits": [{"path": rel, "old": broken, "new": new}]})
        log.emit("fix_applied", proposal_id=pid, rule="rename_column", file=rel, diff=diff, approved_by="autonomous")
        if outcome == "rollback":
            log.emit("rollback", proposal_id=pid, reason="verification failed: the fix does not build")
    path.write_text(text.replace(broken, fixed))


@pytest.mark.dbt
def test_report_of_real_runs_in_chromium(warm_project, page):
    project = warm_project("mini")
    ws = Workspace.open(project, project, None, project / "config", project / "logs")
    mart = project / "models/marts/finance/city_scores.sql"
    good = "sum(score) as total_score"

    first = run_json(project)  # green: validated (no baseline yet) and snapshotted by `adp run`
    assert first["status"] == "success"

    mart.write_text(mart.read_text().replace(good, "sum(scor) as total_score"))
    broken = run_json(project)  # a real failure
    assert broken["status"] == "failed"
    heal_by_hand(ws, broken["run_id"], mart, "sum(scor) as total_score", good)

    healed = run_json(project)  # green again after the fix: same data as the baseline
    assert healed["status"] == "success"
    assert [f for f in healed["validation"] if f["severity"] != "info"] == []

    mart.write_text(mart.read_text().replace("from {{ ref('stg_people') }}",
                                              "from {{ ref('stg_people') }} where city = 'Lisbon'"))
    drift = run_json(project)  # green, but validation sees the dropped rows
    assert drift["status"] == "success", drift
    assert [(f["severity"], f["check"]) for f in drift["validation"]] == [("error", "row_volume")]

    res = adp(project, "report")
    assert res.returncode == 0, res.stderr
    report = Path(res.stdout.strip())
    assert report == ws.log_dir / "report.html"

    page.open(report)
    manifest = json.loads((project / "target/manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert counts(page) == {"rows": len(history(ws.log_dir)), "models": len(models), "nodes": len(models) + 1}
    assert counts(page)["rows"] == 4

    failure = page.js(f"""(() => {{
        const d = document.getElementById('run-{broken["run_id"]}');
        return {{
            failed: d.querySelector('.step.failure').textContent,
            added: [...d.querySelectorAll('.step.fix pre.diff .add')].map(e => e.textContent),
            removed: [...d.querySelectorAll('.step.fix pre.diff .del')].map(e => e.textContent),
            approved: d.querySelector('.step.fix b').textContent,
            rollback: d.querySelector('.step.rollback').textContent,
            visible: d.querySelector('.step.fix pre.diff').getBoundingClientRect().height > 0,
        }};
    }})()""")
    assert "model.mini.city_scores" in failure["failed"]
    assert [a.strip() for a in failure["added"]] == ["+" + "select city, count(*) as people, sum(people) as total_score",
                                                     "+" + "select city, count(*) as people, " + good]
    assert all("sum(scor)" in r for r in failure["removed"]) and failure["visible"]
    assert failure["approved"] == "autonomous" and "does not build" in failure["rollback"]

    findings = page.js("[...document.querySelectorAll('#findings tr.finding')].map(r => r.textContent)")
    assert any("from 3 to 1 rows" in f for f in findings)
    status = page.js("document.querySelector('svg.lineage g.node[data-id=\"model.mini.city_scores\"]').getAttribute('class')")
    assert "st-ok" in status

    page.screenshot(ARTIFACTS / "report.png", full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000

    page.js("document.querySelector('svg.lineage g.node[data-id=\"model.mini.stg_people\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert page.js("document.querySelectorAll('svg.lineage.focus g.node.on').length") == 3
    page.js("const s = document.getElementById('status-filter'); s.value = 'failed'; s.dispatchEvent(new Event('change'))")
    assert page.js("[...document.querySelectorAll('#timeline tr.run')].filter(r => !r.hidden).length") == 1

    assert page.console_errors() == []
    assert all(u.startswith("file://") for u in page.requested_urls()), page.requested_urls()


@pytest.mark.dbt
def test_tests_table_timeline_and_test_coloured_lineage_in_chromium(warm_project, page):
    project = warm_project("mini")
    ws = Workspace.open(project, project, None, project / "config", project / "logs")
    assert run_json(project)["status"] == "success"
    seed = project / "seeds/people.csv"
    seed.write_text(seed.read_text() + "1,Eve,Faro,50\n")  # a duplicate person_id: stg_people builds, its unique test fails
    failed = run_json(project)
    assert failed["status"] == "failed"
    log = RunLog(ws.log_dir, failed["run_id"])
    unique = next(n["unique_id"] for n in failed["nodes"] if n["unique_id"].startswith("test.mini.unique_stg_people"))
    log.emit("failed_rows_sampled", node=unique, columns=["unique_field", "n_records"], rows=[[1, 2]],
             query="select person_id as unique_field, count(*) as n_records from stg_people group by 1 having count(*) > 1")
    for _ in range(2):
        log.emit("diagnosis", category="test_failure", node=unique, summary="`person_id` has duplicates")
    log.emit("fix_refused", proposal_id="p1", rule="loosen_test", reason="a fix may not weaken a test")
    res = adp(project, "report")
    assert res.returncode == 0, res.stderr
    page.open(Path(res.stdout.strip()))

    tests = page.js("""[...document.querySelectorAll('#tests-table tr.test')].map(r => ({
        id: r.dataset.id, status: r.dataset.status, model: r.cells[3].textContent, column: r.cells[4].textContent,
        ok: r.querySelectorAll('svg.hist path.h-ok').length, fail: r.querySelectorAll('svg.hist path.h-fail').length}))""")
    assert len(tests) == 3 and tests[0] == {"id": unique, "status": "fail", "model": "stg_people", "column": "person_id",
                                            "ok": 1, "fail": 1}  # passed in the first run, failed in the second
    assert {t["status"] for t in tests[1:]} == {"pass", "skipped"}
    page.js("document.querySelector('#tests-table tr.test details').open = true")
    sample = page.js("""(() => { const t = document.querySelector('#tests-table tr.test table.failed-rows');
        return {cells: [...t.querySelectorAll('td')].map(c => c.textContent), h: t.getBoundingClientRect().height}; })()""")
    assert sample["cells"] == ["1", "2"] and sample["h"] > 0

    def visible() -> int:
        return page.js("[...document.querySelectorAll('#tests-table tr.test')].filter(r => !r.hidden).length")

    def set_value(element_id: str, value: str, event: str) -> None:
        page.js(f"(() => {{ const e = document.getElementById('{element_id}'); e.value = '{value}'; "
                f"e.dispatchEvent(new Event('{event}')); }})()")

    set_value("test-filter", "city", "input")
    assert visible() == 1 and page.js("document.getElementById('test-shown').textContent") == "1 of 3 shown"
    set_value("test-filter", "", "input")
    assert visible() == 3
    set_value("test-status", "fail", "change")
    assert visible() == 1

    node = page.js("""(() => { const g = document.querySelector('svg.lineage g.node[data-id="model.mini.stg_people"]');
        return {cls: g.getAttribute('class'), stroke: getComputedStyle(g.querySelector('rect')).stroke,
                mark: !!g.querySelector('.tmark')}; })()""")
    assert "st-error" in node["cls"] and node["stroke"] == "rgb(214, 69, 61)" and node["mark"]
    assert page.js("""[...document.querySelectorAll('svg.lineage g.node')].every(g =>
        g.querySelector('text').getBBox().width + 8 <= +g.querySelector('rect').getAttribute('width'))""")

    spans = page.js("""[...document.querySelectorAll('svg.timeline g.span')].map(g => ({
        id: g.dataset.id, w: +g.querySelector('rect').getAttribute('width'),
        right: g.querySelector('text.label').getBBox().x + g.querySelector('text.label').getBBox().width,
        left: g.querySelector('text.label').getBBox().x}))""")
    assert {s["id"] for s in spans} >= {"seed.mini.people", "model.mini.stg_people", unique}
    assert all(s["w"] > 0 and 0 <= s["left"] and s["right"] <= 300 for s in spans)  # labels fit left of the bars
    ticks = page.js("[...document.querySelectorAll('svg.timeline text.tick[text-anchor=middle]')].map(t => "
                    "[t.getBBox().x, t.getBBox().x + t.getBBox().width])")
    assert len(ticks) >= 2 and all(a[1] < b[0] for a, b in zip(ticks, ticks[1:]))  # axis labels do not overlap

    detail = page.js(f"document.getElementById('run-{failed['run_id']}').textContent")
    assert "×2" in detail and "Fix refused" in detail and "a fix may not weaken a test" in detail
    assert page.console_errors() == []
    page.screenshot(ARTIFACTS / "report-tests.png", full_page=True)


# -- scale: 1,000 models and 500 runs, written straight into the log and the history DB --------------


def synthetic_history(log_dir: Path, models: int = 1000, runs: int = 500) -> int:
    """Write the log and the history DB; returns how many runs had a failure and a fix."""
    rnd = random.Random(8)
    ids = [f"model.big.m{i:04d}" for i in range(models)]
    lineage = [
        LineageNode(uid, uid.split(".")[-1], "model", f"models/{uid.split('.')[-1]}.sql",
                    sorted({ids[rnd.randrange(i)] for _ in range(rnd.randint(1, 3))}) if i >= 40 else [])
        for i, uid in enumerate(ids)
    ]
    lines, eventful = [], 0
    for r in range(runs):
        run_id = f"20240101T{r // 3600:02d}{r // 60 % 60:02d}{r % 60:02d}-{r:06x}"
        ts = f"2024-01-01T{r // 3600:02d}:{r // 60 % 60:02d}:{r % 60:02d}.000+00:00"
        status = ("failed", "healed", "success", "success", "needs_review")[r % 5] if r % 2 == 0 else "success"
        head = json.dumps({"ts": ts, "run_id": run_id})[:-1]
        lines.append(f'{head}, "event": "run_started", "project_dir": "/big"}}')
        lines += [f'{head}, "event": "node_finished", "node": "{uid}", "status": "success", "execution_time": '
                  f"{rnd.random() * 3:.3f}}}" for uid in ids]  # formatted directly: 500,000 of them
        events = []
        if status != "success":
            eventful += 1
            diff = f"--- a/models/m0999.sql\n+++ b/models/m0999.sql\n@@ -1 +1 @@\n-select amout_{r}\n+select amount_{r}\n"
            events += [
                {"event": "node_finished", "node": ids[-1], "status": "error", "message": "Binder Error: amout", "file": "models/m0999.sql"},
                {"event": "diagnosis", "category": "unknown_column", "node": ids[-1], "summary": "typo"},
                {"event": "fix_applied", "proposal_id": f"p{r}", "rule": "rename_column", "diff": diff, "approved_by": "human"},
            ]
        events.append({"event": "run_finished", "status": status, "attempts": 1 + (status == "healed"),
                       "duration": round(20 + rnd.random() * 40, 2), "failed_nodes": int(status == "failed")})
        if r >= runs - 30:  # the newest runs also ran 600 tests, one of them failing now and then
            lines += [json.dumps({"ts": ts, "run_id": run_id, "event": "node_finished", "node": f"test.big.unique_m{t:04d}_id.x",
                                  "status": "fail" if t == r % 600 else "pass", "failures": int(t == r % 600)})
                      for t in range(600)]
        lines += [json.dumps({"ts": ts, "run_id": run_id, **e}) for e in events]
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "pipeline_runs.log").write_text("\n".join(lines) + "\n")
    with HistoryDB(log_dir) as db:
        db.save_lineage(lineage)
        db.con.execute("insert into runs select 'r' || lpad(r::varchar, 4, '0'), timestamp '2024-01-01' + to_seconds(r) "
                       "from range(?) t(r)", [runs])
        db.con.execute("insert into relations select 'r' || lpad(r::varchar, 4, '0'), 'model.big.m' || m, 'model', "
                       "'big.main.m' || m, 'table', 1000 + (m * r) % 997 from range(?) a(r), range(?) b(m)", [runs, models])
        db.save_test_meta([DataTestMeta(f"test.big.unique_m{t:04d}_id.x", f"unique_m{t:04d}_id", "unique",
                                        f"model.big.m{t:04d}", "id") for t in range(600)])
        t0 = datetime(2024, 1, 1)
        db.save_timings(f"20240101T000819-{runs - 1:06x}", "inv-last", [
            NodeSpan(uid, "success", f"Thread-{i % 4}", t0 + timedelta(seconds=i * 0.05),
                     t0 + timedelta(seconds=i * 0.05 + rnd.random() * 3)) for i, uid in enumerate(ids)])
    return eventful


def test_report_with_1000_models_and_500_runs_renders(tmp_path, page):
    from adp.report import render
    from adp.report.data import collect

    logs = tmp_path / "logs"
    eventful = synthetic_history(logs)
    assert eventful > 100
    report = logs / "report.html"
    report.write_text(render(collect(logs), project="/big"), encoding="utf-8")
    assert report.stat().st_size < 3_000_000

    page.open(report)
    assert counts(page) == {"rows": 500, "models": 1000, "nodes": 1000}
    assert page.js("document.querySelectorAll('article.run-detail').length") == 100  # the newest 100 of them
    assert page.js("document.querySelectorAll('.sparks svg').length") == 12
    assert page.js("document.querySelector('svg.lineage').getBBox().width") > 1000
    assert page.js("document.querySelectorAll('#tests-table tr.test').length") == 500  # capped, failures first
    assert page.js("document.querySelector('#tests-table tr.test').getAttribute('data-status')") == "fail"
    assert "100 more tests" in page.js("document.getElementById('tests').textContent")
    assert page.js("document.querySelectorAll('svg.timeline g.span').length") == 200
    assert "800 more nodes" in page.js("document.getElementById('node-timeline').textContent")
    assert page.console_errors() == []
    page.screenshot(ARTIFACTS / "report-scale.png")
