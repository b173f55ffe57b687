"""Rules whose fix is a run action (`--full-refresh` of one node) rather than a file edit."""
from __future__ import annotations

import csv

from adp.fixes.confidence import MEANING_CHANGE_CAP, score
from adp.fixes.context import FixContext, rule
from adp.models import Diagnosis, FixProposal


def _node_for(d: Diagnosis, ctx: FixContext, resource_type: str) -> str | None:
    for uid in (d.root_cause_node, d.node):
        if uid and uid.split(".")[0] == resource_type:
            return uid
    for uid, node in ctx.manifest.nodes.items():
        if node.get("resource_type") == resource_type and d.file and node.get("original_file_path") == d.file:
            return uid
    if d.file and resource_type == "seed" and d.file.endswith(".csv") and ctx.project.name:
        return f"seed.{ctx.project.name}.{d.file.rsplit('/', 1)[-1][:-4]}"  # the manifest is stale or absent
    return None


@rule("dbt.incremental_schema_change")
def incremental_full_refresh(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """An incremental model's columns changed: rebuild it. This drops its history, so a person decides."""
    uid = _node_for(d, ctx, "model")
    if uid is None:
        return []
    materialized = (ctx.manifest.node(uid) or {}).get("config", {}).get("materialized")
    conf = score(closeness=0.95 if materialized == "incremental" else 0.7, cap=MEANING_CHANGE_CAP)
    why = "rebuild the incremental model with --full-refresh (its stored history is dropped and recomputed)"
    return [ctx.fix(d, why, conf, action={"full_refresh": uid}, needs_review=True)]


@rule("dbt.seed_schema_change")
def seed_full_refresh(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """A seed's header changed while its table exists: reload it from its file (nothing is lost)."""
    uid = _node_for(d, ctx, "seed")
    if uid is None:
        return []
    node = ctx.manifest.node(uid) or {"original_file_path": d.file}
    text = ctx.read(node.get("original_file_path"))
    header = next(csv.reader(text.splitlines()[:1]), []) if text else []
    existing = ctx.relation_columns(node["relation_name"]) if node.get("relation_name") else None
    if header and existing:
        changed = [c.lower() for c in header] != [c.lower() for c in existing]
        closeness = 0.95 if changed else 0.5  # same columns: the header is not what broke
    else:
        closeness = 0.8  # could not compare: the diagnosis alone
    conf = score(closeness=closeness)
    why = "the seed file's columns differ from its existing table: reload it with --full-refresh"
    return [ctx.fix(d, why, conf, action={"full_refresh": uid})]
