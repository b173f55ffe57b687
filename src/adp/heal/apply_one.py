"""The one apply path every fix takes, from a rule, an agent or a person: guard, back up and write the fix,
then judge it on its effect (dbt parses the project with the fix and the parse is compared with the one
before); a refused fix is rolled back at once and leaves nothing on disk."""
from __future__ import annotations

import time

from adp.apply import AppliedFix, apply_fix, edited_texts, rollback
from adp.artifacts import Manifest, read_result
from adp.engine import get_engine
from adp.errors import FixError
from adp.fixes.effects import Baseline, judge
from adp.fixes.guards import check
from adp.heal.good_run import last_good_manifest
from adp.heal.records import FixRecord, Ledger
from adp.models import PHASE_PARSE, Diagnosis, FixProposal, RunResult
from adp.session import Session


def apply_one(session: Session, ledger: Ledger, diag: Diagnosis, proposal: FixProposal, by: str,
              manifest: Manifest, baseline: Baseline | None) -> AppliedFix | None:
    """Guard, write and judge one fix; None when it was refused (and nothing of it is left on disk)."""
    project = session.ws.project
    record = ledger.record(proposal, by)
    try:
        check(proposal, project, manifest)
        texts = edited_texts(project, proposal)
        fix = apply_fix(project, proposal, session.ws.log_dir, session.log, by)
    except FixError as exc:
        return _refuse(session, record, str(exc))
    try:
        reason = _judge(session, diag, proposal, by, texts, baseline) if proposal.edits else None
    except BaseException:  # Ctrl-C or SIGTERM while dbt parses: the fix was never judged
        rollback(project, fix, session.log, "interrupted before the fix was judged")
        raise
    if reason is not None:
        rollback(project, fix, session.log, reason)
        return _refuse(session, record, reason)
    record.applied, record.diff = True, fix.diff
    return fix


def baseline(session: Session, before: RunResult, manifest: Manifest) -> Baseline | None:
    """What a fix is judged against: this build's parse, else (parse failed) the last good run's."""
    root = session.ws.project.project_dir
    if before.phase != PHASE_PARSE and manifest.data.get("nodes"):
        return Baseline(manifest.data, last_good=False, project_dir=root)
    for kept in (last_good_manifest(session.ws), manifest):
        if kept.data.get("nodes"):
            return Baseline(kept.data, last_good=True, project_dir=root)
    return None


def _refuse(session: Session, record: FixRecord, reason: str) -> None:
    record.refused = reason
    session.log.emit("fix_refused", proposal_id=record.proposal.id, rule=record.proposal.rule, reason=reason)
    return None


def _judge(session: Session, diag: Diagnosis, proposal: FixProposal, by: str, texts: dict[str, tuple[str, str]],
           baseline: Baseline | None) -> str | None:
    """Parse the project with the fix on disk and compare it with `baseline`; the reason to refuse, or None."""
    if baseline is None:
        return "no parse of the project before the fix to compare with; refused (fail closed)"
    project = session.ws.project
    args = ["parse", *(["--vars", session.spec.vars] if session.spec.vars else [])]
    # dbtRunner in this process whatever the build engine: no interpreter start-up for the parse, and
    # dbt's partial parsing (target/partial_parse.msgpack) lets the verifying build reuse it
    started = time.monotonic()
    parsed = get_engine("in_process").invoke(project, args, None)
    session.log.emit("fix_parsed", proposal_id=proposal.id, exit_code=parsed.exit_code,
                     elapsed=round(time.monotonic() - started, 3))  # dbt's import in this process included
    if parsed.exit_code != 0:
        first = (read_result(project, parsed).error or "").strip().splitlines()
        return "the project does not parse after the fix; refused: " + (first[0][:200] if first else "dbt parse failed")
    try:
        judge(baseline, Manifest(project.target_dir).data, diag, texts, by)
    except FixError as exc:
        return str(exc)
    return None
