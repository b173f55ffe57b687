"""What a person sees on a terminal: the real `adp` CLI on a pseudo-terminal, on a real dbt project copy.

The screen is replayed through a small terminal model (carriage return, clear-line, newline) so the tests
assert on what stays visible, not on the bytes: a failed node's progress line stays on screen as in dbt,
the outcome's status word starts its own line, verification is its own phase with its own counter, and a
heal names its backups, patch, report and validation. The renderer itself is tested on synthetic events.
"""
from __future__ import annotations

import io
import os
import pty
import re
import select
import sys
from pathlib import Path

import pytest

from adp.progress import Progress
from conftest import run_adp
from test_modes import TYPO, break_model

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold: invisible


def pty_adp(args: list[str], cwd: Path, answers: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, str]:
    """Run `python -m adp *args` on a pseudo-terminal (stdin, stdout and stderr); answer each prompt in
    `answers` (prompt text -> reply) once. Returns the exit code and the raw screen bytes as text."""
    answers = dict(answers or {})
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real CLI, its three streams on the pty
        os.chdir(cwd)
        os.environ["DO_NOT_TRACK"] = "1"
        os.execv(sys.executable, [sys.executable, "-m", "adp", *args])
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                os.kill(pid, 9)
                raise AssertionError(f"no output for {timeout} s:\n" + screen.decode(errors="replace"))
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
            for prompt in [p for p in answers if p.encode() in screen]:
                os.write(fd, answers.pop(prompt).encode() + b"\n")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


def visible(screen: str) -> list[str]:
    """The lines a terminal shows after `screen`: `\\r` returns to column 0, ESC[2K clears the line."""
    lines, current, col = [], [], 0
    for token in re.split(r"(\r\n|\r|\n|\x1b\[2K)", ANSI.sub("", screen)):
        if token in ("\n", "\r\n"):
            lines.append("".join(current).rstrip())
            current, col = [], 0
        elif token == "\r":
            col = 0
        elif token == "\x1b[2K":
            current = []
        elif token:
            current[col:col + len(token)] = list(token)
            col += len(token)
    if current:
        lines.append("".join(current).rstrip())
    return lines


def human_run(project: Path, cwd: Path) -> tuple[int, list[str]]:
    """`adp run --mode human-in-loop` on a TTY, answering n at `Apply? [y/N]`."""
    code, screen = pty_adp(["run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "human-in-loop"],
                           cwd, {"Apply? [y/N]": "n"})
    return code, visible(screen)


def rejected_id(lines: list[str]) -> str:
    [pid] = [m.group(1) for line in lines for m in [re.search(r"kept as rejected proposal (\w+)", line)] if m]
    return pid


# --- the renderer on synthetic dbt events ------------------------------------------------------------------
def event(name: str, invocation: str = "inv-1", **data) -> dict:
    return {"info": {"name": name, "invocation_id": invocation}, "data": data}


def node(name: str, status: str, index: int, total: int, invocation: str = "inv-1", kind: str = "LogModelResult") -> dict:
    return event(kind, invocation, index=index, total=total, execution_time=0.05, status=status,
                 node_info={"node_name": name, "node_status": status})


def test_a_failed_nodes_line_stays_on_screen_and_the_next_text_starts_on_its_own_line():
    out = io.StringIO()
    progress = Progress(out, tty=True)
    for ev in (event("ConcurrencyLine", node_count=4), node("a", "success", 1, 4), node("b", "error", 2, 4),
               node("c", "success", 3, 4)):
        progress(ev)
    progress.end_line()  # as the CLI does before the prompt or the outcome
    out.write("NEEDS_REVIEW  run x\n")
    lines = visible(out.getvalue())
    assert [line for line in lines if " a (" in line] == []  # a success line is redrawn over
    assert [line.split("] ", 1)[1] for line in lines if "] " in line] == [
        "build     2/4    error    b (0.05s)", "build     3/4    success  c (0.05s)"]
    assert lines[-1] == "NEEDS_REVIEW  run x"  # not glued to `(0.05s)`


def test_verification_is_its_own_phase_with_its_own_counter():
    out = io.StringIO()
    progress = Progress(out, tty=False)
    progress(event("ConcurrencyLine", node_count=3))
    for i, status in enumerate(("success", "error"), 1):
        progress(node(f"m{i}", status, i, 3))
    progress(event("SkippingDetails", index=3, total=3, node_info={"node_name": "t3", "node_status": "skipped"}))
    progress(event("ConcurrencyLine", "inv-2", node_count=2))
    progress(node("m2", "success", 1, 2, "inv-2"))
    progress(node("t3", "pass", 2, 2, "inv-2", kind="LogTestResult"))
    assert out.getvalue().splitlines() == [
        "build     1/3    success  m1 (0.05s)",
        "build     2/3    error    m2 (0.05s)",
        "build     3/3    skip     t3 (0.00s)",
        "verify: re-running what the fix can affect",
        "verify    1/2    success  m2 (0.05s)",
        "verify    2/2    pass     t3 (0.05s)",
    ]


def test_fix_apply_labels_its_first_invocation_verify():
    out = io.StringIO()
    progress = Progress(out, tty=False, first="verify")
    progress(event("ConcurrencyLine", node_count=1))
    progress(node("m", "success", 1, 1))
    assert out.getvalue().splitlines() == ["verify: re-running what the fix can affect", "verify    1/1    success  m (0.05s)"]


# --- acceptance: the real CLI on a pseudo-terminal ----------------------------------------------------------
@pytest.mark.dbt
def test_no_at_the_prompt_then_fix_apply_heals_on_a_terminal(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    code, lines = human_run(project, tmp_path)
    assert code == 3, "\n".join(lines)
    prompt = next(i for i, line in enumerate(lines) if line.startswith("Apply? [y/N]"))
    failed = [i for i, line in enumerate(lines) if re.search(r"build +\d+/\d+ +error +city_scores", line)]
    assert failed and failed[0] < prompt, "\n".join(lines)  # the error line is still on screen above the prompt
    assert any(line.startswith("NEEDS_REVIEW  run ") for line in lines), "\n".join(lines)
    pid = rejected_id(lines)
    assert TYPO[1] in model.read_text()

    code, screen = pty_adp(["fix", "apply", pid], tmp_path)
    lines = visible(screen)
    assert code == 0, "\n".join(lines)
    assert TYPO[0] in model.read_text()
    assert "verify: re-running what the fix can affect" in lines
    counters = [m.groups() for line in lines for m in [re.search(r"(build|verify) +(\d+)/(\d+)", line)] if m]
    assert counters and {c[0] for c in counters} == {"verify"} and counters[-1][1] == counters[-1][2], lines
    status = next(i for i, line in enumerate(lines) if line.startswith("HEALED  run "))
    traces = dict(line.strip().split(":", 1) for line in lines[status + 1:] if re.match(r"  (backups|patch|report|validation):", line))
    assert set(traces) == {"backups", "patch", "report", "validation"}, lines
    assert Path(traces["backups"].strip()).is_dir() and Path(traces["report"].strip()).is_file()
    patch = Path(traces["patch"].strip())
    assert patch.name.endswith(".patch") and f"+select city, count(*) as people, {TYPO[0]}" in patch.read_text()
    assert traces["validation"].strip().startswith("ok")


@pytest.mark.dbt
def test_a_stale_proposal_is_refused_on_a_terminal_with_the_reason(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    _, lines = human_run(project, tmp_path)
    pid = rejected_id(lines)
    model.write_text(model.read_text().replace(TYPO[1], "sum(score) -- fixed by hand"))
    by_hand = model.read_bytes()
    code, screen = pty_adp(["fix", "apply", pid], tmp_path)
    lines = visible(screen)
    assert code == 2, "\n".join(lines)
    [error] = [line for line in lines if line.startswith("Error: ")]
    assert f"proposal {pid} is stale" in error and "city_scores.sql` changed since" in error
    assert model.read_bytes() == by_hand


@pytest.mark.dbt
def test_a_superseded_proposal_is_refused_on_a_terminal_with_the_reason(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    _, lines = human_run(project, tmp_path)
    pid = rejected_id(lines)
    healed = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "autonomous",
                     "--json", cwd=tmp_path)
    assert healed.returncode == 0 and healed.json()["status"] == "healed", healed.stdout[-2000:]
    fixed = model.read_bytes()
    code, screen = pty_adp(["fix", "apply", pid], tmp_path)
    lines = visible(screen)
    assert code == 2, "\n".join(lines)
    [error] = [line for line in lines if line.startswith("Error: ")]
    assert f"proposal {pid} was superseded" in error and healed.json()["run_id"] in error
    assert model.read_bytes() == fixed


@pytest.mark.dbt
def test_a_failed_run_without_healing_prints_its_status_on_its_own_line(warm_project, tmp_path):
    project = warm_project("mini")
    break_model(project)
    code, screen = pty_adp(["run", "--project-dir", str(project), "--profiles-dir", str(project), "--no-heal"], tmp_path)
    lines = visible(screen)
    assert code == 1, "\n".join(lines)
    assert ")FAILED" not in ANSI.sub("", screen)
    status = next(i for i, line in enumerate(lines) if line.startswith("FAILED  run "))
    assert any(re.search(r"build +\d+/\d+ +error +city_scores", line) for line in lines[:status]), lines
