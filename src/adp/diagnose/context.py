"""What the rules read: the failure, the manifest, project files, upstream columns, shared code."""
from __future__ import annotations

import csv
import re
from collections import deque
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from adp.artifacts import Manifest
from adp.diagnose import sql_columns
from adp.diagnose.candidates import rank
from adp.diagnose.locate import CompiledMap, find_line, find_pattern, find_text
from adp.diagnose.taxonomy import CATEGORIES, is_transient
from adp.editable import safe_path
from adp.errors import FixError
from adp.models import Candidate, Diagnosis, NodeResult, RunResult
from adp.project import DbtProject
from adp.warehouses import for_project
from adp.warehouses.facts import SqlFact

MODEL_TYPES = ("model", "seed", "snapshot")
EPHEMERAL_PREFIX = "__dbt__cte__"
_RAW_REF = re.compile(r"\{\{\s*(?:ref|source)\s*\(([^)]*)\)\s*\}\}")


def read_project_file(project: DbtProject, rel: str | None) -> str | None:
    """The text of a project file as stored (bytes decoded, newlines kept), for diagnosis and fix rules alike.

    None when `rel` is empty, the file is absent or not UTF-8, or it is not the project's own: outside the
    project, reached through a symlink, or hard-linked (the checks of `adp.editable.safe_path`).
    """
    if not rel:
        return None
    try:
        path = safe_path(project, rel)
        return path.read_bytes().decode("utf-8") if path.is_file() else None
    except (FixError, OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Failure:
    """One failure to diagnose: a failed node's message, or the run's parse-phase error."""

    text: str
    phase: str
    node: NodeResult | None = None


@dataclass(frozen=True)
class Location:
    """Where a cause lives: a file relative to the project, its line, and the node/macro that owns it."""

    file: str | None
    line: int | None = None  # a line of `file` (the source, never the compiled SQL)
    owner: str | None = None
    compiled_line: int | None = None  # the line of the node's compiled SQL it was mapped from
    macro: str | None = None  # the project macro whose call wrote the text (the call is at `line`)


class Context:
    """Read-only view of one run and its project; every lookup is cached and tolerant of missing files."""

    def __init__(self, result: RunResult, project: DbtProject, manifest: Manifest | None = None,
                 log_dir: Path | None = None, columns: dict[str, list[str]] | None = None):
        self.result = result
        self.project = project
        self.log_dir = log_dir  # adp's log dir (its history.duckdb): causes across runs; None without one
        self.manifest = manifest or Manifest(project.target_dir)
        self.warehouse = for_project(project)
        self._facts: dict[str, SqlFact | None] = {}
        self._columns: dict[str, list[str]] = {uid: list(cols) for uid, cols in (columns or {}).items()}
        self._maps: dict[str, CompiledMap | None] = {}

    # -- facts and files -------------------------------------------------------------------------
    def fact(self, failure: Failure) -> SqlFact | None:
        if failure.text not in self._facts:
            self._facts[failure.text] = self.warehouse.parse_error(failure.text)
        return self._facts[failure.text]

    def read(self, rel: str | None) -> str | None:
        return read_project_file(self.project, rel)

    def exists(self, rel: str) -> bool:
        return (self.project.project_dir / rel).is_file()

    @cached_property
    def package(self) -> str | None:
        return self.manifest.project_name or self.project.name

    def node(self, uid: str | None) -> dict[str, Any]:
        return (self.manifest.node(uid) if uid else None) or self.manifest.macros.get(uid or "") or {}

    def file_of(self, uid: str | None) -> str | None:
        return self.node(uid).get("original_file_path")

    def node_by_file(self, rel: str) -> str | None:
        for uid, node in {**self.manifest.nodes, **self.manifest.macros}.items():
            if node.get("original_file_path") == rel and node.get("resource_type") != "test":
                return uid
        return None

    def names(self, types: tuple[str, ...] = MODEL_TYPES) -> list[str]:
        return sorted({n["name"] for n in self.manifest.nodes.values() if n.get("resource_type") in types})

    def source_names(self) -> list[str]:
        return sorted(f"{s['source_name']}.{s['name']}" for s in self.manifest.sources.values())

    def macro_names(self) -> list[str]:
        """Macros a model can call by bare name: the project's and dbt's own (not adapter internals)."""
        return sorted({m["name"] for m in self.manifest.macros.values() if not m["name"].startswith(("test_", "materialization_"))})

    def test_names(self) -> list[str]:
        return sorted({m["name"][5:] for m in self.manifest.macros.values() if m["name"].startswith("test_")})

    def materializations(self) -> list[str]:
        return sorted({re.sub(r"^materialization_|_(default|\w+)$", "", m["name"])
                       for m in self.manifest.macros.values() if m["name"].startswith("materialization_")})

    def code(self, uid: str) -> str:
        """Compiled SQL of a node (manifest, then target/compiled), else its raw code with refs resolved."""
        node = self.node(uid)
        if node.get("compiled_code"):
            return node["compiled_code"]
        compiled = self.read(node.get("compiled_path"))
        return compiled or _RAW_REF.sub(self._render_ref, node.get("raw_code") or "")

    def _render_ref(self, m: re.Match[str]) -> str:
        args = re.findall(r"['\"]([^'\"]+)['\"]", m.group(1))
        if m.group(0).lstrip("{ ").startswith("source") and len(args) == 2:
            uid = next((k for k, s in self.manifest.sources.items() if [s["source_name"], s["name"]] == args), None)
        else:
            node = self.manifest.by_name(args[-1]) if args else None
            uid = node["unique_id"] if node else None
        node = self.node(uid)
        if node.get("config", {}).get("materialized") == "ephemeral":
            return EPHEMERAL_PREFIX + node["name"]
        return node.get("relation_name") or (args[-1] if args else m.group(0))

    # -- graph -----------------------------------------------------------------------------------
    def parents(self, uid: str) -> list[str]:
        return self.manifest.parent_map.get(uid) or self.node(uid).get("depends_on", {}).get("nodes", [])

    def upstream(self, uid: str) -> Iterator[str]:
        """uid itself, then its ancestors breadth-first (nearest first)."""
        seen, queue = {uid}, deque([uid])
        while queue:
            current = queue.popleft()
            yield current
            for parent in self.parents(current):
                if parent not in seen:
                    seen.add(parent)
                    queue.append(parent)

    def attached(self, uid: str) -> str | None:
        """The model a test or unit test is about."""
        node = self.node(uid)
        if node.get("attached_node"):
            return node["attached_node"]
        if node.get("resource_type") == "unit_test":
            return next(iter(node.get("depends_on", {}).get("nodes", [])), None)
        return next((p for p in self.parents(uid) if p.split(".")[0] in MODEL_TYPES), None)

    def shared_code(self, uid: str) -> list[str]:
        """Ephemeral models and project macros whose code is compiled into `uid`, nearest first."""
        out: list[str] = []
        seen = {uid}
        queue = deque([uid])
        while queue:
            current = queue.popleft()
            node = self.node(current)
            deps = node.get("depends_on", {})
            nexts = [p for p in deps.get("nodes", []) if self.node(p).get("config", {}).get("materialized") == "ephemeral"]
            nexts += [m for m in deps.get("macros", []) if m.split(".")[1:2] == [self.package]]
            for nxt in nexts:
                if nxt not in seen:
                    seen.add(nxt)
                    out.append(nxt)
                    queue.append(nxt)
        return out

    def locate(self, uid: str | None, identifier: str | None, pattern: str | None = None) -> Location:
        """The file holding `identifier` (or matching regex `pattern`) for a failure of `uid`.

        Looks in the node's own file first, then in the ephemeral models and project macros compiled
        into it (nearest first); the node's own file without a line when nothing matches.
        """
        own = self.file_of(uid)
        if not (identifier or pattern) or not uid:
            return Location(own, None, uid)
        for owner in [uid, *self.shared_code(uid)]:
            rel = self.file_of(owner)
            text = self.read(rel) or ""
            line = find_pattern(text, pattern) if pattern else find_line(text, identifier or "")
            if line:
                return Location(rel, line, owner)
        regex = pattern or rf"(?<![\w.]){re.escape(identifier or '')}(?![\w])"
        return self.compiled_location(uid, regex) or Location(own, None, uid)

    def compiled_map(self, uid: str) -> CompiledMap | None:
        """`uid`'s compiled SQL traced to the files that wrote it (None without compiled SQL)."""
        if uid not in self._maps:
            node = self.node(uid)
            compiled = node.get("compiled_code") or self.read(node.get("compiled_path"))
            self._maps[uid] = CompiledMap.for_node(self.manifest, uid, self.read, compiled) if compiled else None
        return self._maps[uid]

    def compiled_location(self, uid: str, regex: str) -> Location | None:
        """The source of the first text matching `regex` in `uid`'s compiled SQL (a name Jinja built, a macro's text)."""
        cmap = self.compiled_map(uid)
        for m in re.finditer(regex, cmap.compiled if cmap else "", re.I):
            origin = cmap.origin(m.start())
            if origin.line is not None:
                line = cmap.compiled.count("\n", 0, m.start()) + 1
                return Location(origin.file, origin.line, origin.node, line, origin.macro)
        return None

    def engine_location(self, failure: Failure, uid: str | None, loc: Location | None) -> Location:
        """`loc`, or when it has no line, the source line that wrote the compiled line the engine quoted (`LINE n: ...`).

        Without `loc` that line's file and node are the answer (an ephemeral model's, a macro's); a rule's `loc`
        keeps its file and takes the line only when it is in that file.
        """
        own = loc or Location(self.file_of(uid), None, uid)
        fact = self.fact(failure)
        cmap = self.compiled_map(uid) if own.line is None and uid and fact and fact.line_text else None
        line = find_text(cmap.compiled, fact.line_text) if cmap else None
        origin = cmap.origin_of_line(line) if line else None
        if origin is None or origin.line is None or (loc is not None and origin.file != loc.file):
            return own
        return Location(origin.file, origin.line, origin.node, line, origin.macro)

    # -- columns ---------------------------------------------------------------------------------
    def relation_uid(self, relation: str) -> str | None:
        """The node or source behind a relation text (quoted name, bare name or ephemeral CTE)."""
        bare = relation.split(".")[-1].strip('"').lower()
        if bare.startswith(EPHEMERAL_PREFIX):
            node = self.manifest.by_name(bare[len(EPHEMERAL_PREFIX):], ("model",))
            return node["unique_id"] if node else None
        want = relation.replace('"', "").lower()
        for uid, node in {**self.manifest.nodes, **self.manifest.sources}.items():
            rel = (node.get("relation_name") or "").replace('"', "").lower()
            if rel and (rel == want or (want == bare and rel.split(".")[-1] == bare)):
                return uid
        return None

    def columns(self, uid: str) -> list[str]:
        """Columns of a node: as given (bound, not yet built), else the warehouse, the seed header, the compiled
        select list, YAML."""
        if uid not in self._columns:
            self._columns[uid] = []  # guards recursion through `select *`
            self._columns[uid] = self._lookup_columns(uid)
        return self._columns[uid]

    def _lookup_columns(self, uid: str) -> list[str]:
        node = self.node(uid)
        found: list[str] = []
        if node.get("relation_name"):
            found += self.warehouse.relation_columns(self.project, node["relation_name"]) or []
        if not found and node.get("resource_type") == "seed":
            found += self._seed_header(node)
        if not found and node.get("resource_type") in ("model", "snapshot"):
            found += self.sql_columns(self.code(uid), uid)
        found += list(node.get("columns", {}))
        return list(dict.fromkeys(found))

    def _seed_header(self, node: dict[str, Any]) -> list[str]:
        text = self.read(node.get("original_file_path"))
        if not text:
            return []
        return next(csv.reader(text.splitlines()[:1]), [])

    def sql_columns(self, sql: str, uid: str | None = None, scope: dict[str, str] | None = None) -> list[str]:
        """Output columns of a SELECT, expanding `*` through CTEs (`scope`: those of enclosing queries) and relations."""
        out: list[str] = []
        for item in sql_columns.select_items(sql):
            name = sql_columns.output_name(item)
            if name != "*":
                out += [name] if name else []
                continue
            qualifier = item.split(".")[0].strip('"') if "." in item else None
            sources = [qualifier] if qualifier else list(dict.fromkeys(sql_columns.from_relations(sql).values()))
            for source in sources:
                out += self.alias_columns(sql, source, uid, scope) or []
        return list(dict.fromkeys(out))

    def alias_columns(self, sql: str, alias: str, uid: str | None = None, scope: dict[str, str] | None = None) -> list[str] | None:
        """Columns behind a name used in `sql`: a CTE (its own or an enclosing query's), a FROM alias, or a relation."""
        visible = {**(scope or {}), **sql_columns.ctes(sql)}
        relation = sql_columns.from_relations(sql).get(alias.strip('"').lower()) or alias
        for key in (alias.strip('"').lower(), relation.strip('"').lower()):
            if key in visible:  # a CTE's body no longer sees itself: `orders as (select * from orders)`
                return self.sql_columns(visible[key], uid, {k: v for k, v in visible.items() if k != key})
        target = self.relation_uid(relation)
        return self.columns(target) if target else None

    def column_pool(self, uid: str, qualifier: str | None = None) -> list[str]:
        """Names a column reference in `uid` could have meant: the qualifier's relation, else all inputs."""
        sql = self.code(uid)
        if qualifier:
            cols = self.alias_columns(sql, qualifier, uid)
            if cols:
                return cols
        pool: list[str] = []
        for name in sql_columns.from_relations(sql).values():
            pool += self.alias_columns(sql, name, uid) or []
        for parent in self.parents(uid):
            pool += self.columns(parent)
        return list(dict.fromkeys(pool))

    # -- building a diagnosis ---------------------------------------------------------------------
    def diagnosis(
        self,
        failure: Failure,
        category: str,
        summary: str,
        *,
        location: Location | None = None,
        identifier: str | None = None,
        candidates: list[Candidate] | None = None,
        evidence: list[str] | tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        node: str | None = None,
    ) -> Diagnosis:
        assert category in CATEGORIES, category
        uid = node or (failure.node.unique_id if failure.node else None)
        loc = self.engine_location(failure, uid, location)
        mapped = {"compiled_line": loc.compiled_line, "macro": loc.macro}
        details = {**{k: v for k, v in mapped.items() if v}, **(details or {})}
        return Diagnosis(
            category=category,
            summary=summary,
            transient=is_transient(category),
            node=uid,
            root_cause_node=loc.owner or uid,
            file=loc.file,
            line=loc.line,
            identifier=identifier,
            candidates=candidates or [],
            evidence=list(dict.fromkeys(e.strip() for e in evidence if e and e.strip()))[:6],
            phase=failure.phase,
            message=failure.text,
            details=details,
            fact=self.fact(failure),
        )

    def rank(self, name: str, pool: list[str], hints: tuple[str, ...] | list[str] = ()) -> list[Candidate]:
        return rank(name, pool, hints)
