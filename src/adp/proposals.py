"""Proposals kept for a person: logs/proposals/<id>.json (+ .diff), listed, applied, rejected or superseded.

A proposal is open (`pending`, or `rejected` at the prompt) until it is applied, rejected with
`adp fix reject` (final), or superseded: a later run found its node passing or its file changed.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from adp.apply import edits_from_json, sha256_file
from adp.editable import safe_path
from adp.errors import FixError
from adp.models import OK_STATUSES, Edit, FixProposal
from adp.project import DbtProject

OPEN = ("pending", "rejected")  # `adp fix apply <id>` still applies these (unless `final`)
REJECTED = "rejected by the person"
AWAITING = "awaiting approval"


@dataclass(frozen=True)
class PendingProposal:
    """A stored proposal plus the run it came from (to verify it the same way the run would have)."""

    proposal: FixProposal
    run_id: str
    project_dir: str
    profiles_dir: str | None
    target: str | None
    spec: dict[str, Any]  # the run's BuildSpec: `adp fix apply` verifies with the same selection and flags
    diff: str
    diagnosis: dict[str, Any]
    status: str = "pending"  # pending | rejected | applied | superseded
    reason: str | None = None  # why it was not applied (awaiting approval, rejected by the person, why superseded)
    final: bool = False  # rejected with `adp fix reject`: never applied


def proposal_from_dict(data: dict[str, Any]) -> FixProposal:
    """A FixProposal from its JSON form (rule engine or diagnostician agent); unknown keys are refused."""
    allowed = set(FixProposal.__dataclass_fields__)
    unknown = set(data) - allowed
    if unknown:
        raise FixError(f"proposal has unknown keys: {', '.join(sorted(unknown))}")
    try:
        return FixProposal(**{**data, "edits": edits_from_json(data.get("edits") or [])})
    except (TypeError, KeyError) as exc:
        raise FixError(f"proposal is not in the FixProposal format: {exc}") from exc


def _dir(log_dir: Path) -> Path:
    return log_dir / "proposals"


def save(log_dir: Path, pending: PendingProposal) -> Path:
    d = _dir(log_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{pending.proposal.id}.json"
    data = asdict(pending)
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    (d / f"{pending.proposal.id}.diff").write_text(pending.diff, encoding="utf-8")
    return path


def load(log_dir: Path, proposal_id: str) -> PendingProposal:
    """The stored proposal `proposal_id`; an unknown id is a FixError (exit 2) naming the closest one."""
    path = _dir(log_dir) / f"{proposal_id}.json"
    if not path.is_file():
        known = [p.stem for p in _dir(log_dir).glob("*.json")]
        close = difflib.get_close_matches(proposal_id, known, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise FixError(f"no proposal `{proposal_id}` in {_dir(log_dir)}{hint} (see `adp fix list --all`)")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["proposal"] = proposal_from_dict(data["proposal"])
    return PendingProposal(**data)


def list_pending(log_dir: Path, include_done: bool = False) -> list[PendingProposal]:
    d = _dir(log_dir)
    if not d.is_dir():
        return []
    items = [load(log_dir, p.stem) for p in sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime)]
    return [p for p in items if include_done or p.status == "pending"]


def mark(log_dir: Path, proposal_id: str, status: str, reason: str | None = None, final: bool = False) -> PendingProposal:
    pending = load(log_dir, proposal_id)
    updated = PendingProposal(**{**pending.__dict__, "status": status, "reason": reason, "final": final})
    save(log_dir, updated)
    return updated


def refusal(project: DbtProject, pending: PendingProposal) -> str | None:
    """Why `adp fix apply` will not apply `pending` (applied, rejected for good, superseded, stale), or None."""
    pid = pending.proposal.id
    if pending.final:
        return f"proposal {pid} was rejected with `adp fix reject`; it is never applied"
    if pending.status == "superseded":
        return f"proposal {pid} was superseded: {pending.reason}; run `adp run` to diagnose it again"
    if pending.status not in OPEN:
        return f"proposal {pid} was already {pending.status}" + (f" ({pending.reason})" if pending.reason else "")
    changed = changed_files(project, pending.proposal)
    if changed:
        return (f"proposal {pid} is stale: `{changed[0]}` changed since run {pending.run_id} proposed it "
                "(fixed by hand or by a later run); nothing was written. Run `adp run` to diagnose it again")
    return None


def changed_files(project: DbtProject, proposal: FixProposal) -> list[str]:
    """The proposal's files whose sha256 is no longer the one it was made against."""
    return [rel for rel, sha in sorted(proposal.file_sha256.items())
            if not (path := safe_path(project, rel)).is_file() or sha256_file(path) != sha]


def supersede(log_dir: Path, project: DbtProject, run_id: str, nodes: list[dict[str, Any]],
              keep: set[str]) -> list[PendingProposal]:
    """Mark superseded every open proposal of `project` (but those in `keep`) whose node passed in run
    `run_id` (`nodes`: the run's last invocation) or whose file changed since it was made."""
    passed = {n["unique_id"] for n in nodes if n["status"] in OK_STATUSES}
    done = []
    for p in _readable(log_dir):
        if p.status not in OPEN or p.final or p.proposal.id in keep or p.project_dir != str(project.project_dir):
            continue
        try:
            changed = changed_files(project, p.proposal)
        except FixError:  # a path no fix may write now: `adp fix apply` refuses it with the reason
            continue
        if changed:
            why = f"run {run_id} found `{changed[0]}` changed since it was proposed"
        elif p.proposal.node in passed:
            why = f"`{p.proposal.node}` passed in run {run_id}"
        else:
            continue
        done.append(mark(log_dir, p.proposal.id, "superseded", why))
    return done


def _readable(log_dir: Path) -> Iterator[PendingProposal]:
    """Every stored proposal that loads; one damaged record must not end a run (`adp fix list` shows it)."""
    for path in sorted(_dir(log_dir).glob("*.json")):
        try:
            yield load(log_dir, path.stem)
        except (FixError, OSError, ValueError, TypeError, KeyError):
            continue


def proposal_from_file(project: DbtProject, path: str | Path) -> FixProposal:
    """A proposal JSON written by hand or by the diagnostician agent; id and hashes filled in when absent."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FixError(f"{path}: not a readable JSON proposal ({exc})") from exc
    if not isinstance(data, dict):
        raise FixError(f"{path}: a proposal must be a JSON object")
    data.setdefault("source", "agent")
    data.setdefault("diagnosis_category", "unknown")
    data.setdefault("rationale", "")
    data.setdefault("confidence", 0.0)
    edits = data.get("edits") or []
    data.setdefault("id", proposal_id(data.get("rule", "agent"), edits, data.get("action")))
    if "file_sha256" not in data:
        data["file_sha256"] = {e["path"]: _sha256_of(project, e["path"]) for e in edits if "path" in e}
    data.setdefault("rule", "agent")
    return proposal_from_dict(data)


def _sha256_of(project: DbtProject, rel: str) -> str:
    path = safe_path(project, rel)
    if not path.is_file():
        raise FixError(f"{rel}: no such file in the project {project.project_dir}")
    return sha256_file(path)


def proposal_id(rule: str, edits: Iterable[Edit | dict[str, Any]], action: dict[str, Any] | None = None) -> str:
    """The one id of a proposal (rule engine, agent, hand-written file): 12 hex digits of the sha256 of
    its rule, edits and action, so the same fix always gets the same id.

    >>> proposal_id("column_typo", [Edit("models/a.sql", "frist", "first")]) == proposal_id(
    ...     "column_typo", [{"path": "models/a.sql", "old": "frist", "new": "first"}])
    True
    """
    items = [asdict(e) if isinstance(e, Edit) else e for e in edits]
    blob = json.dumps([rule, items, action], sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]
