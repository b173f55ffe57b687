"""Ctrl-C, SIGTERM and kill -9 in the middle of `dbt build`, through the real `adp` CLI.

adp must stop its dbt (no process of the run survives it), log run_finished `interrupted` with exit code
130/143, exit 130/143 with one line on stderr (no `Aborted!`, no traceback), leave the writer lock free and
the warehouse readable; a run whose process was killed reads as `interrupted` in `adp history`.
The signal goes to adp only (not to the process group), which is the hard case: dbt does not see it.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import run_adp

pytestmark = pytest.mark.dbt

# A table model DuckDB needs minutes for (1e11 rows); it is always interrupted long before it ends.
SLOW_SQL = "{{ config(materialized='table') }}\nselect sum(a.range * b.range) as n from range(1000000) a cross join range(100000) b\n"
# adp as a terminal starts it: SIGINT at its default, whatever the test runner's worker has.
LAUNCH = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, [sys.executable, '-m', 'adp', *sys.argv[1:]])"


def slow_project(warm_project, tmp_path: Path, engine: str | None = None) -> Path:
    proj = warm_project("mini")
    (proj / "models" / "slow").mkdir()
    (proj / "models" / "slow" / "slow.sql").write_text(SLOW_SQL)
    if engine:
        (tmp_path / "config").mkdir(exist_ok=True)
        (tmp_path / "config" / "execution_mode.yml").write_text(f"engine: {engine}\n")
    return proj


def start_run(proj: Path, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "run", "--project-dir", str(proj), "--profiles-dir", str(proj), "--json"],
        cwd=tmp_path,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def events(tmp_path: Path) -> list[dict]:
    path = tmp_path / "logs" / "pipeline_runs.log"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def wait_for_slow_node(proc: subprocess.Popen, proj: Path, tmp_path: Path, timeout: float = 60) -> str:
    """Until dbt is executing the slow model: the run log has dbt_invoked and dbt wrote the node's SQL to run."""
    run_sql = proj / "target" / "run" / "mini" / "models" / "slow" / "slow.sql"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"adp ended before the slow node ran: {proc.communicate()}"
        evs = events(tmp_path)
        if run_sql.is_file() and any(e["event"] == "dbt_invoked" for e in evs):
            time.sleep(1.0)  # the query is running now
            return next(e["run_id"] for e in evs if e["event"] == "run_started")
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the slow node never started")


def descendants(pid: int) -> set[int]:
    """Every live descendant of `pid`, from /proc/<pid>/task/<tid>/children."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                kids = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def gone_soon(pids: set[int], seconds: float = 5) -> bool:
    """Helpers that end on their own when adp's pipes close (multiprocessing's resource tracker) get a moment."""
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def history_status(tmp_path: Path, run_id: str) -> str:
    res = run_adp("history", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return next(r["status"] for r in res.json() if r["run_id"] == run_id)


def lock_is_free(proj: Path) -> bool:
    fd = os.open(proj / "mini.duckdb.adp.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def warehouse_tables(proj: Path) -> dict[str, int]:
    con = duckdb.connect(str(proj / "mini.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        return {n: con.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def interrupt(warm_project, tmp_path: Path, sig: int, engine: str | None = None) -> None:
    proj = slow_project(warm_project, tmp_path, engine)
    before = warehouse_tables(proj)
    proc = start_run(proj, tmp_path)
    try:
        run_id = wait_for_slow_node(proc, proj, tmp_path)
        kids = descendants(proc.pid)
        dbts = {k for k in kids if "dbt" in cmdline(k)}
        if engine != "in_process":
            assert dbts, f"no dbt child found under adp: {[cmdline(k) for k in kids]}"
        assert not lock_is_free(proj)  # held while dbt runs
        sent = time.monotonic()
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - sent
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "Aborted" not in err, err
    assert err.strip().splitlines()[-1] == f"adp: interrupted by {signal.Signals(sig).name}"
    assert out == ""  # no half outcome on stdout
    assert took < 15, f"stopping took {took:.1f}s"
    assert not [k for k in dbts if alive(k)], "a dbt process of the run outlived adp"
    assert gone_soon(kids), [cmdline(k) for k in kids if alive(k)]
    evs = [e for e in events(tmp_path) if e["run_id"] == run_id]
    last = evs[-1]
    assert last["event"] == "run_finished", last
    assert (last["status"], last["exit_code"], last["signal"]) == ("interrupted", 128 + sig, signal.Signals(sig).name)
    assert history_status(tmp_path, run_id) == "interrupted"
    assert lock_is_free(proj)
    after = warehouse_tables(proj)  # the file opens, the interrupted table is not there, the rest is intact
    assert "slow" not in after and after == before


def test_sigint_to_adp_only_stops_dbt_and_logs_interrupted(warm_project, tmp_path):
    interrupt(warm_project, tmp_path, signal.SIGINT)
    # another adp command gets the writer lock (and the warehouse) at once
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "execution_mode.yml").write_text("execution:\n  lock_timeout_seconds: 0\n")
    proj = tmp_path / "mini"
    again = run_adp("run", "--project-dir", str(proj), "--profiles-dir", str(proj), "--select", "stg_people", "--no-heal", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "waiting" not in again.stderr


def test_sigterm_to_adp_only_stops_dbt_and_logs_interrupted(warm_project, tmp_path):
    interrupt(warm_project, tmp_path, signal.SIGTERM)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_in_process_engine_is_interrupted_the_same_way(warm_project, tmp_path, sig):
    interrupt(warm_project, tmp_path, sig, engine="in_process")


def test_a_killed_run_shows_interrupted_not_running(warm_project, tmp_path):
    proj = slow_project(warm_project, tmp_path)
    proc = start_run(proj, tmp_path)
    try:
        run_id = wait_for_slow_node(proc, proj, tmp_path)
        assert history_status(tmp_path, run_id) == "running"
        kids = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        for k in kids:
            os.kill(k, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert gone_soon(kids)
    assert proc.returncode == -signal.SIGKILL
    assert [e["event"] for e in events(tmp_path) if e["run_id"] == run_id][-1] != "run_finished"
    assert history_status(tmp_path, run_id) == "interrupted"
    assert lock_is_free(proj)


def test_ctrl_c_while_waiting_for_the_writer_lock(warm_project, tmp_path):
    """Another writer holds the lock: Ctrl-C during the wait exits 130 at once, starts no run, runs no dbt."""
    proj = warm_project("mini")
    fd = os.open(proj / "mini.duckdb.adp.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        proc = start_run(proj, tmp_path)
        try:
            assert "waiting up to" in proc.stderr.readline()
            os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        os.close(fd)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err and err.strip().endswith("adp: interrupted by SIGINT")
    assert not [e for e in events(tmp_path) if e["event"] in ("run_started", "dbt_invoked")]
    assert lock_is_free(proj)


def test_history_tells_a_live_run_from_a_reused_pid(tmp_path):
    """A run without run_finished is `running` only while the very process that started it lives: same pid
    and same start time (/proc/<pid>/stat); a pid now used by another process does not count."""
    stat = Path("/proc/self/stat").read_text()
    start = int(stat[stat.rfind(")") + 2 :].split()[19])
    host = os.uname().nodename
    (tmp_path / "logs").mkdir()
    lines = [
        {"ts": "2026-01-01T00:00:01+00:00", "run_id": "live", "event": "run_started", "project_dir": "/p", "pid": os.getpid(), "pid_started": start, "host": host},
        {"ts": "2026-01-01T00:00:02+00:00", "run_id": "reused", "event": "run_started", "project_dir": "/p", "pid": os.getpid(), "pid_started": start - 1, "host": host},
        {"ts": "2026-01-01T00:00:03+00:00", "run_id": "gone", "event": "run_started", "project_dir": "/p", "pid": 2**22 + 7, "pid_started": 1, "host": host},
        {"ts": "2026-01-01T00:00:04+00:00", "run_id": "elsewhere", "event": "run_started", "project_dir": "/p", "pid": 2**22 + 7, "host": host + "-other"},
    ]
    (tmp_path / "logs" / "pipeline_runs.log").write_text("".join(json.dumps(line) + "\n" for line in lines))
    statuses = {r["run_id"]: r["status"] for r in run_adp("history", "--json", cwd=tmp_path).json()}
    assert statuses == {"live": "running", "reused": "interrupted", "gone": "interrupted", "elsewhere": "running"}


def test_ctrl_c_while_a_fix_is_verified_rolls_the_fix_back(warm_project, tmp_path):
    """The fix is on disk, its verifying build runs a slow child of the fixed model: Ctrl-C rolls it back."""
    proj = warm_project("mini")
    model = proj / "models/marts/finance/city_scores.sql"
    model.write_text(model.read_text().replace("sum(score)", "sum(scor)"))
    broken = model.read_bytes()
    (proj / "models/slow").mkdir()
    (proj / "models/slow/after_scores.sql").write_text(SLOW_SQL.replace(
        "from range(1000000) a", "from {{ ref('city_scores') }} s, range(1000000) a"))
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "run", "--project-dir", str(proj), "--profiles-dir", str(proj),
         "--mode", "autonomous", "--json"], cwd=tmp_path, env={**os.environ, "DO_NOT_TRACK": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        evs = events(tmp_path)
        if any(e["event"] == "fix_applied" for e in evs) and sum(e["event"] == "dbt_invoked" for e in evs) >= 2:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the verifying build never started")
    assert model.read_bytes() != broken  # the fix is on disk while it is verified
    time.sleep(3)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert model.read_bytes() == broken  # not verified, so not kept
    evs = events(tmp_path)
    assert any(e["event"] == "rollback" and "interrupted" in e.get("reason", "") for e in evs)
    assert evs[-1]["event"] == "run_finished" and evs[-1]["status"] == "interrupted"
