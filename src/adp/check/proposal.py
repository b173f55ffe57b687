"""`adp check --proposal FILE`: bind the project as if a proposal were applied, without writing it.

Each edit of the proposal is made to the compiled SQL of every node it reaches, through the node's
compiled-to-source map (`adp.diagnose.locate.CompiledMap`: its own template, its ephemeral CTEs, the
project macros it calls); the chain is then bound as `adp check` binds it. An edit the map cannot carry
into a node's compiled SQL (one that changes what Jinja renders, such as a `ref()` name) makes that node
`not checked`, said so: the proposal is never written into the project to find out.
"""
from __future__ import annotations

from adp.artifacts import Manifest
from adp.errors import FixError
from adp.diagnose.locate import CompiledMap, SourceEdit
from adp.models import FixProposal
from adp.project import DbtProject
from adp.warehouses.base import ChainNode


def source_edits(project: DbtProject, proposal: FixProposal) -> list[SourceEdit]:
    """The proposal's edits as offsets into the files as they are now (an `old` must occur there once)."""
    out = []
    for e in proposal.edits:
        text = (project.project_dir / e.path).read_text(encoding="utf-8")
        at = text.find(e.old)
        if at < 0 or text.find(e.old, at + 1) >= 0:
            raise FixError(f"{e.path}: the proposal's old text does not occur exactly once")
        out.append(SourceEdit(e.path, at, at + len(e.old), e.new))
    return out


def edited_files(proposal: FixProposal) -> set[str]:
    return {e.path for e in proposal.edits}


def applied(project: DbtProject, manifest: Manifest, chain: list[ChainNode],
            edits: list[SourceEdit]) -> tuple[list[ChainNode], dict[str, str]]:
    """The chain with each node's SQL as the edits would compile it, and why the map could not for some."""
    def read(rel: str | None) -> str | None:
        path = project.project_dir / rel if rel else None
        return path.read_text(encoding="utf-8") if path is not None and path.is_file() else None

    files = {e.file for e in edits}
    out, refused = [], {}
    for node in chain:
        compiled = _compiled(manifest, node)
        cmap = CompiledMap.for_node(manifest, node.unique_id, read, compiled)
        reached = [e for e in edits if cmap is not None and any(layer.file == e.file for layer in cmap.layers())]
        sql = cmap.apply(reached) if cmap is not None and reached else None
        if sql is None:
            if reached or (manifest.node(node.unique_id) or {}).get("original_file_path") in files:
                refused[node.unique_id] = "the edit cannot be followed into its compiled SQL (it changes what Jinja renders)"
            out.append(node)
            continue
        # the node's SQL is its compiled code, or wraps it (a snapshot's key columns): edit the code inside
        out.append(ChainNode(node.unique_id, node.relation, node.sql.replace(compiled, sql), node.parents))
    return out, refused


def _compiled(manifest: Manifest, node: ChainNode) -> str:
    return (manifest.node(node.unique_id) or {}).get("compiled_code") or node.sql
