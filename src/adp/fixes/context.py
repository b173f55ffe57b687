"""What a fix rule may read (the current project, the artifacts, the warehouse read-only) and how it builds a proposal."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import partialmethod
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from adp.artifacts import Manifest
from adp.diagnose.context import read_project_file
from adp.models import Diagnosis, Edit, FixProposal, RunResult
from adp.project import DbtProject
from adp.proposals import proposal_id
from adp.warehouses import for_project
from adp.warehouses.base import Bound

R = TypeVar("R", bound=Callable[..., object])


def rule(*categories: str) -> Callable[[R], R]:
    """Declare the diagnosis categories a fix rule handles; the registry calls it only for those.

    >>> @rule("sql.group_by")
    ... def example(d, ctx): ...
    >>> sorted(example.categories)
    ['sql.group_by']
    """
    def declare(fn: R) -> R:
        fn.categories = frozenset(categories)  # type: ignore[attr-defined]
        return fn

    return declare


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class FixContext:
    """The inputs every rule gets: the diagnosis is passed separately."""

    project: DbtProject
    result: RunResult | None = None
    manifest: Manifest | None = None  # shared with the caller's other steps when given
    _texts: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.manifest is None:
            self.manifest = Manifest(self.project.target_dir)

    def read(self, rel: str | None) -> str | None:
        """The current text of a project file (None when absent or outside the project)."""
        if not rel:
            return None
        if rel not in self._texts:
            self._texts[rel] = read_project_file(self.project, rel)
        return self._texts[rel]

    def config_paths(self, key: str, default: str) -> list[str]:
        value = self.project.project_config.get(key) or [default]
        return [str(v).strip("/") for v in (value if isinstance(value, list) else [value])]

    def project_files(self, key: str, default: str, suffixes: tuple[str, ...]) -> list[str]:
        """Project-relative files under the dbt_project.yml paths `key` with one of `suffixes`."""
        root = self.project.project_dir
        out = []
        for base in self.config_paths(key, default):
            for p in sorted((root / base).rglob("*")):
                if p.suffix in suffixes and p.is_file():
                    out.append(p.relative_to(root).as_posix())
        return out

    # -- names the rules look up -----------------------------------------------------------------

    def node_names(self) -> list[str]:
        """Models, seeds and snapshots: from the current files, plus the manifest's names."""
        names = [Path(f).stem for f in self.project_files("model-paths", "models", (".sql", ".py"))]
        names += [Path(f).stem for f in self.project_files("seed-paths", "seeds", (".csv",))]
        names += [n["name"] for n in self.manifest.nodes.values() if n.get("resource_type") in ("model", "seed", "snapshot")]
        for doc in self.yaml_docs("model-paths", "models") + self.yaml_docs("snapshot-paths", "snapshots"):
            names += [s.get("name") for s in doc.get("snapshots") or [] if isinstance(s, dict)]
        return [n for n in dict.fromkeys(names) if isinstance(n, str)]

    def source_tables(self) -> list[tuple[str, str]]:
        """(source name, table name) pairs from the current YAML files and the manifest."""
        pairs = [(s.get("source_name"), s.get("name")) for s in self.manifest.sources.values()]
        for doc in self.yaml_docs("model-paths", "models"):
            for src in doc.get("sources") or []:
                if isinstance(src, dict):
                    pairs += [(src.get("name"), t.get("name")) for t in src.get("tables") or [] if isinstance(t, dict)]
        return [p for p in dict.fromkeys(pairs) if all(isinstance(x, str) for x in p)]

    def macro_names(self) -> list[str]:
        return list(dict.fromkeys(m.get("name") for m in self.manifest.macros.values() if m.get("name")))

    def yaml_docs(self, key: str, default: str) -> list[dict[str, Any]]:
        docs = []
        for rel in self.project_files(key, default, (".yml", ".yaml")):
            try:
                doc = yaml.safe_load(self.read(rel) or "")
            except yaml.YAMLError:
                continue
            if isinstance(doc, dict):
                docs.append(doc)
        return docs

    def compiled_sql(self, unique_id: str | None) -> str | None:
        """The compiled SQL of a node: target/compiled/... from this run, else the manifest's."""
        if not unique_id:
            return None
        for n in (self.result.nodes if self.result else []):
            if n.unique_id == unique_id and n.compiled_path:
                text = self.read(n.compiled_path)
                if text:
                    return text
        node = self.manifest.node(unique_id) or {}
        return node.get("compiled_code")

    def relation_columns(self, relation: str) -> list[str] | None:
        return for_project(self.project).relation_columns(self.project, relation)

    def sql_parses(self, sql: str) -> bool | None:
        return for_project(self.project).sql_parses(sql)

    def bind(self, queries: list[str]) -> list[Bound] | None:
        """The warehouse binder's verdict on each query (None: the judge was skipped)."""
        return for_project(self.project).bind(self.project, queries)

    # -- building proposals ----------------------------------------------------------------------

    def proposal(
        self,
        rule: str,
        d: Diagnosis,
        rationale: str,
        confidence: float,
        edits: list[Edit] = (),  # type: ignore[assignment]
        action: dict[str, Any] | None = None,
        needs_review: bool = False,
    ) -> FixProposal:
        edits = list(edits)
        return FixProposal(
            id=proposal_id(rule, edits, action),
            rule=rule,
            diagnosis_category=d.category,
            rationale=rationale,
            confidence=round(confidence, 3),
            edits=edits,
            file_sha256={e.path: sha256_text(self.read(e.path) or "") for e in edits},
            action=action,
            node=d.root_cause_node or d.node,
            needs_review=needs_review,
        )

    # A rule's proposal; the registry (`adp.fixes.candidates`) names it after the rule and sets its id.
    fix = partialmethod(proposal, "")


def line_span(text: str, line: int) -> tuple[int, int]:
    """Character offsets [start, end) of 1-based `line` (without its newline)."""
    lines = text.split("\n")
    start = sum(len(x) + 1 for x in lines[: line - 1])
    return start, start + len(lines[line - 1])


def edit_spans(path: str, text: str, spans: list[tuple[int, int, str]]) -> Edit | None:
    """One Edit replacing each (start, end, new) span; `old` is the whole lines around them, widened until unique."""
    if not spans:
        return None
    spans = sorted(spans)
    lo = text.rfind("\n", 0, spans[0][0]) + 1
    hi_nl = text.find("\n", spans[-1][1])
    hi = len(text) if hi_nl < 0 else hi_nl + 1
    while True:
        old = text[lo:hi]
        if old and text.count(old) == 1:
            break
        if lo == 0 and hi == len(text):
            return None
        if lo > 0:
            lo = text.rfind("\n", 0, lo - 1) + 1
        if hi < len(text):
            nl = text.find("\n", hi)
            hi = len(text) if nl < 0 else nl + 1
    new, pos = [], lo
    for start, end, repl in spans:
        new.append(text[pos:start] + repl)
        pos = end
    new.append(text[pos:hi])
    return Edit(path=path, old=old, new="".join(new))


def word_spans(text: str, word: str, *, skip_alias: bool = False, after: str = "", before: str = "") -> list[tuple[int, int]]:
    """Spans of `word` as a whole identifier (optionally only after/before a regex context).

    `skip_alias` leaves out `as word` (an output name, not a reference).
    """
    pattern = re.compile(rf"(?<![\w$]){after}(?P<w>{re.escape(word)}){before}(?![\w$])", re.I)
    out = []
    for m in pattern.finditer(text):
        if skip_alias and re.search(r"\bas\s+$", text[: m.start("w")][-12:], re.I):
            continue
        out.append((m.start("w"), m.end("w")))
    return out


def apply_edit(text: str, edit: Edit) -> str:
    return text.replace(edit.old, edit.new, 1)
