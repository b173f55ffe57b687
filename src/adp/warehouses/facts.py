"""Engine-neutral facts a warehouse reads out of its engine's error messages.

Each engine's `Warehouse.parse_error(text) -> SqlFact | None` (adp.warehouses.base) yields them; the
diagnosis core (adp.diagnose) only ever sees these facts, never an engine's wording.
"""
from __future__ import annotations

from dataclasses import dataclass, field

COLUMN_NOT_FOUND = "column_not_found"  # name; relation when the reference was qualified
COLUMN_BEFORE_DEFINED = "column_before_defined"  # name: missing upstream, hidden by a same-named alias
AMBIGUOUS_COLUMN = "ambiguous_column"  # name; hints = the qualified choices
GROUP_BY = "group_by"  # name: selected, neither grouped nor aggregated
FUNCTION_NOT_FOUND = "function_not_found"  # name; hints = engine suggestions
TYPE_NOT_FOUND = "type_not_found"  # name = the data type as written; hints = engine suggestions
TABLE_NOT_FOUND = "table_not_found"  # name; hints = engine suggestions (often unrelated)
ALIAS_NOT_FOUND = "alias_not_found"  # name = the alias; hints = tables in scope
SYNTAX = "syntax"  # name = token the parser stopped at ("" at end of input)
CONVERSION = "conversion"  # name = source column, value, target_type
DIVISION_BY_ZERO = "division_by_zero"  # value = the expression
FILE_MISSING = "file_missing"  # name = path or pattern
LOCKED = "locked"  # name = database file, value = holder
UNAVAILABLE = "unavailable"  # the engine or its connection dropped (Thrift/HTTP, executor loss): retry
CSV_COLUMNS_CHANGED = "csv_columns_changed"  # name = file: column count differs from the existing table
CSV_CONVERSION = "csv_conversion"  # name = column, value, line = CSV line (1-based, header = 1)


@dataclass(frozen=True)
class SqlFact:
    """One engine error in neutral terms."""

    kind: str
    name: str | None = None
    relation: str | None = None
    hints: tuple[str, ...] = ()  # names the engine offered
    hints_trusted: bool = True  # False when the engine's suggestions are known to mislead for this kind
    value: str | None = None
    target_type: str | None = None
    line: int | None = None
    line_text: str | None = None  # the source line the engine quoted
    evidence: tuple[str, ...] = field(default_factory=tuple)  # verbatim lines relied on
