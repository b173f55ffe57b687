"""Tiny SQL text helpers for DuckDB: quoted identifiers and literals for reader options."""
from __future__ import annotations

from typing import Any


def ident(name: str) -> str:
    """A double-quoted identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{ident(schema)}.{ident(table)}"


def literal(value: Any) -> str:
    """A SQL literal for a YAML value: strings, numbers, booleans, null, lists and mappings (STRUCTs).

    >>> literal({"a": "INTEGER", "b": ["x", 1]})
    "{'a': 'INTEGER', 'b': ['x', 1]}"
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    return "'" + str(value).replace("'", "''") + "'"


def call(function: str, first: Any, options: dict[str, Any]) -> str:
    """`function(first, key = value, ...)` with every value rendered as a literal."""
    args = [literal(first)] + [f"{key} = {literal(value)}" for key, value in options.items()]
    return f"{function}({', '.join(args)})"
