"""The one interface the core has to an engine: `Warehouse`, a base class with documented hooks.

As dbt-duckdb's `BasePlugin`, each operation says when the core calls it and what an engine that
cannot do it returns. Two are abstract (every engine must say where its writer lock lives and how to
read its messages); the others default to "cannot tell", and the core then falls back to the
manifest, the compiled SQL and the message itself. An engine is a package under `adp.warehouses`
exporting one `Warehouse` subclass, registered by its profile `type` in `adp.warehouses.WAREHOUSES`.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef
    from adp.project import DbtProject
    from adp.warehouses.facts import SqlFact

Relation = tuple["str | None", str, str]  # (database or None for the current one, schema, name)


@dataclass(frozen=True)
class Bound:
    """The binder's verdict on one query: it binds (with its output columns), or the engine's error."""

    ok: bool
    columns: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ChainNode:
    """One node of a pre-flight check: its compiled SQL, the relation it will be, the relations it reads."""

    unique_id: str
    relation: str | None  # as the compiled SQL names it (`"db"."schema"."name"`); None: not materialized (ephemeral)
    sql: str
    parents: tuple[str, ...] = ()  # the relations its SQL reads (models, seeds, snapshots, sources)


@dataclass(frozen=True)
class Rows:
    """A few rows a query returned: its column names and the values, as JSON scalars."""

    columns: tuple[str, ...]
    rows: tuple[tuple["str | int | float | bool | None", ...], ...]

    @classmethod
    def of(cls, columns: list[str] | tuple[str, ...], rows: list[Any]) -> "Rows":
        """Rows with every value made a JSON scalar (dates, decimals, lists ... as their text).

        >>> Rows.of(["n", "d"], [(1, __import__("decimal").Decimal("2.5"))]).rows
        ((1, '2.5'),)
        """
        return cls(tuple(columns), tuple(tuple(_scalar(v) for v in row) for row in rows))


def _scalar(value: Any) -> "str | int | float | bool | None":
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def sample_query(sql: str, limit: int) -> str:
    """`sql` (one SELECT) wrapped to return at most `limit` rows, in SQL DuckDB and Spark both read.

    >>> print(sample_query("select 1 as n;", 5))
    select * from (
    select 1 as n
    ) as failing_rows limit 5
    """
    return f"select * from (\n{sql.strip().rstrip(';').strip()}\n) as failing_rows limit {int(limit)}"


class Warehouse(abc.ABC):
    """What adp asks of an engine. Stateless: every call gets the project it is about."""

    name: ClassVar[str]  # the profile output's `type` that selects this engine

    # -- locking (adp.workspace, before any dbt call) --------------------------------------------
    @abc.abstractmethod
    def lock_path(self, project: DbtProject) -> Path:
        """The file adp locks so that one writer at a time runs dbt on this project's warehouse.

        Called once per command that writes. Engines whose storage is the project's own (a file,
        a metastore in the project) return a path next to it, else `project.target_dir / ".adp.lock"`.
        """

    # -- diagnosis (adp.diagnose, adp.fixes) -----------------------------------------------------
    @abc.abstractmethod
    def parse_error(self, text: str) -> SqlFact | None:
        """The first engine error in a dbt message, as an engine-neutral `SqlFact`.

        Called for every failed node's message. None when no known pattern matches: the
        diagnosis then rests on dbt's own categories and the SQL text only.
        """

    def function_names(self) -> list[str]:
        """The engine's built-in function names, the pool a misspelled function is matched against.

        Called when a diagnosis finds an unknown function. An engine that cannot list them returns
        [] (the engine's own suggestions, if any, are then the only candidates).
        """
        return []

    def relation_columns(self, project: DbtProject, relation: str) -> list[str] | None:
        """Column names of `relation` as dbt renders it (`"db"."schema"."name"`, `` `s`.`n` ``), read-only.

        Called by diagnosis and fix rules looking for the upstream columns of a failed node. None
        when the engine cannot be read (no file, locked, no session) or has no such relation.
        """
        return None

    def sql_parses(self, sql: str) -> bool | None:
        """Whether the engine's parser accepts `sql` (names are not bound; nothing is run).

        Called by fix rules to check that a repaired text parses before proposing it. None means
        "cannot tell" (no parser at hand), which a rule treats as neither a pass nor a failure.
        """
        return None

    def bind(self, project: DbtProject, sqls: list[str]) -> list[Bound] | None:
        """Bind each query against the current catalog without running it (names, types, GROUP BY).

        Called by fix rules to judge candidate repairs of a failed node's compiled SQL before proposing
        them, and by the pre-flight check. Read-only: nothing is created, written or executed. None
        means "the judge was skipped" (no second client can reach the warehouse now).
        """
        return None

    def bind_chain(self, project: DbtProject, nodes: list[ChainNode]) -> dict[str, Bound | str] | None:
        """Bind `nodes` (in dependency order) as the next build would run them, without running or writing.

        Called by `adp check`. A parent in `nodes` is a stand-in with the columns its own bind produced;
        any other parent is the real relation, read only. Returns, per unique_id, its Bound, or why it was
        not checked (a parent that failed or does not exist). None: the check cannot reach the warehouse.
        """
        return None

    # -- inspection and validation (adp.inspect_node, adp.validate; after dbt has exited) ----------
    def column_types(self, project: DbtProject, relations: list[Relation]) -> dict[Relation, list[tuple[str, str]]]:
        """(database, schema, name) -> [(column, type)] for each of `relations` that exists, read-only.

        Called by `adp inspect` for a node's upstream relations. Matching ignores case; a relation
        that does not exist is left out; an engine that cannot be read returns {}.
        """
        return {}

    def profile_relations(self, project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
        """Columns and types of each relation that exists; for tables also rows, nulls and min/max.

        Called by validation after a green build, to compare with the last good run's snapshot.
        Must never take dbt's writer lock. Relations that do not exist are left out; an engine that
        cannot be read returns [] (validation then checks dbt's test results only).
        """
        return []

    def sample_rows(self, project: DbtProject, sql: str, limit: int) -> Rows | None:
        """The first `limit` rows of `sql` (a SELECT, e.g. a failed data test's compiled SQL), read-only.

        Called when adp escalates a data-test failure, after dbt has exited, to show a person the failing
        rows. Nothing may be written. None means "no sample" (the warehouse cannot be read now, the query
        is not a single SELECT, or the engine cannot run it read-only).
        """
        return None

    # -- the in-process engine (adp.engine.in_process) -------------------------------------------
    def release_in_process_handles(self) -> None:
        """Drop what the adapter keeps open after an in-process dbt call (e.g. a file lock).

        Called after every in-process dbt invocation. The default keeps everything (nothing to release).
        """
