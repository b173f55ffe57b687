"""Typed values passed between the stages of the loop (documented in docs/schemas.md)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adp.warehouses.facts import SqlFact

# Exit codes of every adp command.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NEEDS_REVIEW = 3

# Phase of a dbt invocation, read from its exit code and artifacts.
PHASE_OK = "ok"  # exit 0
PHASE_NODE = "node"  # exit 1: nodes ran, run_results.json belongs to this run
PHASE_PARSE = "parse"  # exit 2: project load/parse/connect failed, nothing ran

# dbt's node statuses (NodeStatus strings as dbt writes them): the one home of both sets.
OK_STATUSES = frozenset({"success", "pass", "warn", "no-op", "reused", "partial success"})  # a node that passed
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})  # a node that failed (skipped is neither)


@dataclass(frozen=True)
class NodeResult:
    """One executed node of a dbt invocation."""

    unique_id: str
    name: str
    resource_type: str
    status: str  # dbt's NodeStatus string, kept as dbt wrote it
    message: str | None = None
    file: str | None = None  # original_file_path, relative to the dbt project
    execution_time: float = 0.0
    failures: int | None = None
    compiled_path: str | None = None  # target/compiled/... relative to the project
    relation_name: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


@dataclass(frozen=True)
class RunResult:
    """The outcome of one dbt invocation, read from exit code, JSON log and artifacts."""

    invocation_id: str | None
    exit_code: int
    phase: str
    command: list[str]
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None  # phase-P text from MainEncounteredError (or stdout)
    elapsed: float = 0.0
    log_lines: list[str] = field(default_factory=list)  # raw dbt messages, for diagnosis
    # dbt's warning for each node it left out of the graph because a ref()/source() names nothing
    # (a test with `to: ref('typo')` is dropped and the build still passes)
    dropped: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    @property
    def failed_nodes(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.failed]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("log_lines")
        return d


@dataclass(frozen=True)
class Candidate:
    """A ranked replacement for an offending identifier."""

    name: str
    score: float  # similarity in [0, 1]
    source: str = "lookup"  # "message" when the error text offered it, else "lookup"


@dataclass(frozen=True)
class Diagnosis:
    """One root failure: what broke, where, and what the evidence says."""

    category: str
    summary: str
    transient: bool = False
    node: str | None = None  # unique_id of the node that failed
    root_cause_node: str | None = None  # unique_id of the node/macro holding the cause
    file: str | None = None  # relative to the dbt project: the file that holds the cause
    line: int | None = None
    identifier: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    phase: str = PHASE_NODE
    message: str = ""  # the full verbatim error message
    details: dict[str, Any] = field(default_factory=dict)  # rule-specific structured facts
    fact: SqlFact | None = None  # the warehouse error as its engine's package parsed it (fix rules read this)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Edit:
    """Replace `old` (occurring exactly once) with `new` in `path` (relative to the dbt project)."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class FixProposal:
    """A fix: text edits and/or a run action, with the evidence-derived confidence."""

    id: str
    rule: str
    diagnosis_category: str
    rationale: str
    confidence: float
    edits: list[Edit] = field(default_factory=list)
    file_sha256: dict[str, str] = field(default_factory=dict)  # path -> sha256 at proposal time
    action: dict[str, Any] | None = None  # e.g. {"full_refresh": "model.x.y"}
    node: str | None = None
    source: str = "rule"  # "rule" | "agent"
    needs_review: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
