"""Safe apply: paths kept inside the project, backup first, atomic writes, a patch file, rollback."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from adp.errors import FixError
from adp.models import Edit, FixProposal
from adp.project import DbtProject
from adp.runlog import RunLog


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def safe_path(project: DbtProject, rel: str) -> Path:
    """The file `rel` inside the project; refuses absolute paths, `..` and symlink escapes."""
    root = project.project_dir.resolve()
    candidate = Path(rel)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise FixError(f"{rel}: edits must stay inside the dbt project {root}")
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise FixError(f"{rel}: resolves to {resolved}, outside the dbt project {root}")
    return resolved


def edited_texts(project: DbtProject, proposal: FixProposal) -> dict[str, tuple[str, str]]:
    """path -> (current text, text after the proposal's edits); each `old` must occur exactly once."""
    out: dict[str, tuple[str, str]] = {}
    for edit in proposal.edits:
        path = safe_path(project, edit.path)
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
    """Back up every file the proposal edits, then write the new text atomically and record it."""
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
    (backup_dir / "files.json").write_text(json.dumps(sorted(texts)), encoding="utf-8")
    for rel, (_, after) in texts.items():
        _atomic_write(safe_path(project, rel), after.encode("utf-8"))
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
        action=proposal.action,
        diff=diff,
        approved_by=approved_by,
        backup_dir=str(backup_dir),
    )
    return AppliedFix(proposal, backup_dir, sorted(texts), diff)


def rollback(project: DbtProject, applied: AppliedFix, log: RunLog, reason: str) -> None:
    """Restore the files of one applied fix from its backup, byte for byte."""
    for rel in applied.files:
        _atomic_write(safe_path(project, rel), (applied.backup_dir / rel).read_bytes())
    log.emit("rollback", proposal_id=applied.proposal.id, rule=applied.proposal.rule, files=applied.files, reason=reason)


def rollback_run(project: DbtProject, log_dir: Path, run_id: str, log: RunLog) -> list[str]:
    """Restore every file a run's fixes changed to what it was before the run's first fix."""
    run_dir = log_dir / "backups" / run_id
    if not run_dir.is_dir():
        raise FixError(f"no backups for run {run_id} in {run_dir}")
    restored: dict[str, Path] = {}
    for fix_dir in sorted(run_dir.iterdir(), reverse=True):
        listing = fix_dir / "files.json"
        if listing.is_file():
            for rel in json.loads(listing.read_text(encoding="utf-8")):
                restored[rel] = fix_dir / rel  # earlier fixes overwrite later ones: the oldest backup wins
    for rel, backup in restored.items():
        _atomic_write(safe_path(project, rel), backup.read_bytes())
    log.emit("rollback", run=run_id, files=sorted(restored), reason="manual rollback of the run")
    return sorted(restored)


def edits_from_json(items: list[dict]) -> list[Edit]:
    return [Edit(path=i["path"], old=i["old"], new=i["new"]) for i in items]
