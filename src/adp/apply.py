"""Safe apply: only editable files (adp.editable), backup first, atomic writes, a patch file, rollback."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from adp.editable import editable_path, safe_path
from adp.errors import FixError, UsageError
from adp.models import Edit, FixProposal
from adp.project import DbtProject
from adp.runlog import LOG_NAME, RunLog, read_events


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edited_texts(project: DbtProject, proposal: FixProposal) -> dict[str, tuple[str, str]]:
    """path -> (current text, text after the proposal's edits); each `old` must occur exactly once."""
    out: dict[str, tuple[str, str]] = {}
    for edit in proposal.edits:
        path = editable_path(project, edit.path)
        if edit.path not in out:
            if not path.is_file():
                raise FixError(f"{edit.path}: no such file in the project")
            text = path.read_text(encoding="utf-8")
            out[edit.path] = (text, text)
        before, after = out[edit.path]
        count = after.count(edit.old)
        if count != 1:
            raise FixError(f"{edit.path}: the text to replace occurs {count} times (must be exactly once)")
        out[edit.path] = (before, after.replace(edit.old, edit.new, 1))
    return out


def render_diff(project: DbtProject, proposal: FixProposal, prefix: str = "") -> str:
    """Unified diff of the proposal against the current files (paths relative to `prefix`)."""
    chunks = []
    for rel, (before, after) in edited_texts(project, proposal).items():
        name = f"{prefix}{rel}"
        chunks.append(
            "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
                )
            )
        )
    return "".join(chunks)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename: the file is old or new, never half."""
    tmp = path.with_name(f".{path.name}.adp-tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class AppliedFix:
    """A proposal that is on disk now, with where its backups are."""

    proposal: FixProposal
    backup_dir: Path
    files: list[str] = field(default_factory=list)
    diff: str = ""


def git_prefix(project: DbtProject) -> str:
    """The project's path inside its git work tree ('' when not in one), for `git apply` patches."""
    root = project.project_dir.resolve()
    for parent in (root, *root.parents):
        if (parent / ".git").exists():
            rel = root.relative_to(parent).as_posix()
            return "" if rel == "." else rel + "/"
    return ""


def check_fresh(project: DbtProject, proposal: FixProposal) -> None:
    """Refuse a proposal whose files changed since it was made."""
    for rel, sha in proposal.file_sha256.items():
        path = safe_path(project, rel)
        if not path.is_file() or sha256_file(path) != sha:
            raise FixError(f"{rel}: the file changed since proposal {proposal.id} was made; diagnose again")


def apply_fix(project: DbtProject, proposal: FixProposal, log_dir: Path, log: RunLog, approved_by: str) -> AppliedFix:
    """Back up every file the proposal edits, then write the new text atomically and record it.

    The `fix_applied` event keeps each file's sha256 before and after: `rollback_run` trusts only those.
    """
    check_fresh(project, proposal)
    texts = edited_texts(project, proposal)
    diff = render_diff(project, proposal, git_prefix(project))
    run_backups = log_dir / "backups" / log.run_id
    seq = len(list(run_backups.iterdir())) if run_backups.is_dir() else 0
    backup_dir = run_backups / f"{seq:03d}-{proposal.id}"
    for rel, (before, _) in texts.items():
        target = backup_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, before.encode("utf-8"))
    backup_dir.mkdir(parents=True, exist_ok=True)
    for rel, (_, after) in texts.items():
        _atomic_write(editable_path(project, rel), after.encode("utf-8"))
    if diff:
        patch = log_dir / "fixes" / f"{log.run_id}.patch"
        patch.parent.mkdir(parents=True, exist_ok=True)
        with patch.open("a", encoding="utf-8") as fh:
            fh.write(diff)
    log.emit(
        "fix_applied",
        proposal_id=proposal.id,
        rule=proposal.rule,
        source=proposal.source,
        confidence=proposal.confidence,
        files=sorted(texts),
        sha256={rel: {"before": _sha(b), "after": _sha(a)} for rel, (b, a) in sorted(texts.items())},
        action=proposal.action,
        diff=diff,
        approved_by=approved_by,
        backup_dir=str(backup_dir),
    )
    return AppliedFix(proposal, backup_dir, sorted(texts), diff)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rollback(project: DbtProject, applied: AppliedFix, log: RunLog, reason: str) -> None:
    """Restore the files of one applied fix from its backup, byte for byte."""
    for rel in applied.files:
        _atomic_write(editable_path(project, rel), (applied.backup_dir / rel).read_bytes())
    log.emit("rollback", proposal_id=applied.proposal.id, rule=applied.proposal.rule, files=applied.files, reason=reason)


RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")  # what runlog.new_run_id makes


@dataclass(frozen=True)
class _Restore:
    rel: str
    backup: Path
    before: str  # sha256 the run log recorded for the file before the run's first fix of it
    after: str  # ... and after the run's last fix of it


def rollback_run(project: DbtProject, log_dir: Path, run_id: str, log: RunLog) -> list[str]:
    """Restore every file a run's fixes changed to what it was before the run's first fix.

    Only what adp's own run log recorded counts: the run's `fix_applied` events name the files, the
    backup folders and the sha256 of each file before and after; a backup that does not hash to the
    recorded value, or a file changed since the run, is refused before anything is written.
    """
    restores = _restores(log_dir, run_id)
    todo = []
    for r in restores:
        path = editable_path(project, r.rel)
        current = sha256_file(path) if path.is_file() else None
        if current == r.before:
            continue  # already as it was (the fix was rolled back in the run, or restored before)
        if current != r.after:
            raise FixError(f"{r.rel}: changed since run {run_id} fixed it; restore it by hand (see {r.backup})")
        data = _backup_bytes(r)
        todo.append((path, data, r.rel))
    for path, data, _ in todo:
        _atomic_write(path, data)
    restored = sorted(rel for _, _, rel in todo)
    log.emit("rollback", run=run_id, files=restored, reason="manual rollback of the run")
    return restored


def _restores(log_dir: Path, run_id: str) -> list[_Restore]:
    if not RUN_ID.fullmatch(run_id):
        raise UsageError(f"`{run_id}` is not a run id (adp's run ids look like 20261126T172144-8658e2)")
    events = list(read_events(log_dir, run_id))
    if not any(ev.get("event") == "run_started" for ev in events):
        raise UsageError(f"run {run_id} is not in the run log {log_dir / LOG_NAME}")
    applied = [ev for ev in events if ev.get("event") == "fix_applied"]
    if not applied:
        raise FixError(f"run {run_id} applied no fixes; there is nothing to roll back")
    run_backups = (log_dir / "backups" / run_id).resolve()
    first: dict[str, _Restore] = {}
    last_after: dict[str, str] = {}
    for ev in applied:
        hashes = ev.get("sha256")
        if not isinstance(hashes, dict):
            raise FixError(f"run {run_id}: a fix_applied event has no recorded sha256 (an older adp); restore by hand")
        backup_dir = Path(str(ev.get("backup_dir", "")))
        if backup_dir.parent.resolve() != run_backups:
            raise FixError(f"run {run_id}: backup folder {backup_dir} is not under {run_backups}")
        for rel, sha in hashes.items():
            first.setdefault(rel, _Restore(rel, backup_dir / rel, sha["before"], sha["after"]))
            last_after[rel] = sha["after"]
    return [_Restore(r.rel, r.backup, r.before, last_after[r.rel]) for r in first.values()]


def _backup_bytes(r: _Restore) -> bytes:
    if r.backup.is_symlink() or not r.backup.is_file():
        raise FixError(f"{r.rel}: its backup {r.backup} is missing or not a plain file")
    data = r.backup.read_bytes()
    if hashlib.sha256(data).hexdigest() != r.before:
        raise FixError(f"{r.rel}: the backup {r.backup} does not match the sha256 the run log recorded; not restored")
    return data


def edits_from_json(items: list[dict]) -> list[Edit]:
    return [Edit(path=i["path"], old=i["old"], new=i["new"]) for i in items]
