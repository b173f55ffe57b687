"""The run log: one JSON object per line in logs/pipeline_runs.log, and the history read from it."""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from adp.models import RunResult

LOG_NAME = "pipeline_runs.log"


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus a short random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunLog:
    """Appends events of one run; each line is written with a single write() and flushed."""

    def __init__(self, log_dir: Path, run_id: str):
        self.log_dir = Path(log_dir)
        self.run_id = run_id
        self.path = self.log_dir / LOG_NAME

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": now_iso(), "run_id": self.run_id, "event": event, **fields}
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return record


def read_events(log_dir: Path, run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every well-formed event in the log (a torn or foreign line is skipped), optionally for one run."""
    path = Path(log_dir) / LOG_NAME
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and (run_id is None or record.get("run_id") == run_id):
                yield record


@dataclass(frozen=True)
class RunSummary:
    """One row of `adp history`."""

    run_id: str
    started: str
    status: str
    attempts: int
    duration: float | None
    failed_nodes: int
    fixes_applied: int
    project_dir: str


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22), so a reused pid is
    told apart; None when there is no such live process (gone, or a zombie) or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) ": state is field 3, starttime 22
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None


_HOST = os.uname().nodename if hasattr(os, "uname") else ""


def process_identity() -> dict[str, Any]:
    """What run_started records about this process, for `_alive` to recognise it later."""
    return {"pid": os.getpid(), "pid_started": process_start(os.getpid()), "host": _HOST}


def _alive(started: dict[str, Any]) -> bool:
    """Whether the process that logged this run_started still runs (True when it cannot be told)."""
    pid = started.get("pid")
    if not isinstance(pid, int) or started.get("host", _HOST) != _HOST:
        return True  # an older log line, or another machine's run: no way to tell, keep "running"
    if Path("/proc/self/stat").is_file():
        now = process_start(pid)
        return now is not None and (started.get("pid_started") is None or now == started.get("pid_started"))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def history(log_dir: Path, limit: int | None = None) -> list[RunSummary]:
    """Runs in the log, oldest first (the last `limit` of them). A run without run_finished is `running`
    while the process that started it lives, else `interrupted` (killed, e.g. by SIGKILL or a crash)."""
    runs: dict[str, dict[str, Any]] = {}
    for ev in read_events(log_dir):
        if not isinstance(ev.get("run_id"), str):
            continue
        run = runs.setdefault(ev["run_id"], {"started": ev.get("ts", ""), "fixes": 0})
        kind = ev.get("event")
        if kind == "run_started":  # also when `adp fix apply` resumes the run: it is in progress again
            run["started"] = ev.get("ts", "")
            run["project_dir"] = ev.get("project_dir", "")
            run["started_by"] = ev
            run.pop("finished", None)
        elif kind == "fix_applied":
            run["fixes"] += 1
        elif kind == "rollback":
            run["fixes"] -= 1
        elif kind == "run_finished":
            run["finished"] = ev
    rows = []
    for run_id, run in runs.items():
        if "project_dir" not in run:
            continue  # events of a standalone command (e.g. `adp ingest`), not a pipeline run
        fin = run.get("finished", {})
        if not fin and not _alive(run["started_by"]):
            fin = {"status": "interrupted"}
        rows.append(
            RunSummary(
                run_id=run_id,
                started=run["started"],
                status=fin.get("status", "running"),
                attempts=int(fin.get("attempts", 0)),
                duration=fin.get("duration"),
                failed_nodes=int(fin.get("failed_nodes", 0)),
                fixes_applied=max(run["fixes"], 0),
                project_dir=run.get("project_dir", ""),
            )
        )
    rows.sort(key=lambda r: r.started)
    return rows[-limit:] if limit else rows


def save_result(log_dir: Path, run_id: str, result: "RunResult") -> Path:
    """Keep the latest RunResult of a run (with dbt's error lines) for `adp diagnose --run-id`."""
    path = Path(log_dir) / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**result.to_dict(), "log_lines": result.log_lines}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_result(log_dir: Path, run_id: str | None = None) -> "RunResult | None":
    """The saved RunResult of `run_id`, or of the most recent run when None."""
    from adp.models import NodeResult, RunResult

    runs = Path(log_dir) / "runs"
    if run_id is None:
        files = sorted(runs.glob("*.json")) if runs.is_dir() else []
        if not files:
            return None
        path = files[-1]
    else:
        path = runs / f"{run_id}.json"
        if not path.is_file():
            return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data["nodes"] = [NodeResult(**n) for n in data.get("nodes", [])]
    return RunResult(**data)
