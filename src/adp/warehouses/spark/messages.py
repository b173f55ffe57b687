"""Spark error texts -> engine-neutral SqlFacts (the same taxonomy and fix rules as DuckDB's).

Spark (3.4+, pinned 4.0) names every error with a class in brackets, e.g.
`[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column ... with name `frist` cannot be resolved. Did you mean
one of the following? [`first_name`, ...]`. Positions (`line 1 pos 7`, `== SQL (line n, position m) ==`)
refer to dbt's wrapped SQL, so only the quoted SQL text is kept, never the position.
"""
from __future__ import annotations

import difflib
import functools
import re
from typing import Callable

from adp.warehouses import facts as f

_CLASS = re.compile(r"\[(?P<cls>[A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)?)\]\s*(?P<text>[^\n]*)")
_NAMES = re.compile(r"`((?:[^`]|``)+)`")
# Spark quotes the failing SQL line and marks it: `    ^^^` under a fragment, or `----^^^` after a parse error.
_SQL_CONTEXT = re.compile(r"^(?P<line>[^\n]*)\n(?P<caret>[ \t]*-*\^+)[ \t]*$", re.M)

# Failures that a retry can cure: a dropped Thrift/HTTP connection, a lost executor, a stopped context,
# a metastore that cannot be reached or is held by another process (an embedded Derby metastore admits
# one JVM: a notebook or spark-shell open on the project makes dbt fail with the Hive client error).
_TRANSIENT = re.compile(
    r"TTransportException|Could not connect to any of|Connection refused|Connection reset|Broken pipe"
    r"|Another instance of Derby may have already booted|Unable to instantiate \S*SessionHiveMetaStoreClient"
    r"|Could not connect to meta store"
    r"|Read timed out|ExecutorLostFailure|Executor heartbeat timed out|Lost executor|FetchFailed"
    r"|Cannot call methods on a stopped SparkContext|SparkContext was shut down|Spark session is (?:already )?stopped"
    r"|Answer from Java side is empty|Error while sending or receiving"
)


def _unquote(name: str) -> str:
    """`a`.`b` -> a.b (Spark quotes each part with backticks)."""
    parts = _NAMES.findall(name)
    return ".".join(p.replace("``", "`") for p in parts) if parts else name.strip("`'\" ")


def _suggestions(text: str) -> list[str]:
    m = re.search(r"Did you mean one of the following\? \[(?P<names>[^\]]*)\]", text)
    return [_unquote(n) for n in re.split(r",\s*", m.group("names")) if n.strip()] if m else []


def _split(qualified: str) -> tuple[str | None, str]:
    head, _, last = qualified.rpartition(".")
    return (head.rpartition(".")[2] or None) if head else None, last


def _unresolved_column(text: str) -> dict | None:
    m = re.search(r"with name (?P<name>`(?:[^`]|``)+`(?:\.`(?:[^`]|``)+`)*) cannot be resolved", text)
    if not m:
        return None
    qualifier, column = _split(_unquote(m.group("name")))
    suggested = _suggestions(text)
    if qualifier is None:
        return {"kind": f.COLUMN_NOT_FOUND, "name": column, "hints": [_split(s)[1] for s in suggested]}
    scopes = [q for q, _ in map(_split, suggested) if q]
    if qualifier.lower() not in {s.lower() for s in scopes}:  # `o`.`status` with no `o` in scope
        return {"kind": f.ALIAS_NOT_FOUND, "name": qualifier, "hints": list(dict.fromkeys(scopes))}
    same = [c for q, c in map(_split, suggested) if q and q.lower() == qualifier.lower()]
    return {"kind": f.COLUMN_NOT_FOUND, "name": column, "relation": qualifier, "hints": same}


def _ambiguous(text: str) -> dict | None:
    m = re.search(r"Reference (?P<name>`[^\n]*?`) is ambiguous, could be: \[(?P<choices>[^\]]*)\]", text)
    if not m:
        return None
    return {"kind": f.AMBIGUOUS_COLUMN, "name": _split(_unquote(m.group("name")))[1],
            "hints": [_unquote(c) for c in re.split(r",\s*", m.group("choices")) if c.strip()]}


def _missing_aggregation(text: str) -> dict | None:
    m = re.search(r'The non-aggregating expression "(?P<expr>[^"]+)" is based on columns', text)
    return {"kind": f.GROUP_BY, "name": _split(m.group("expr"))[1]} if m else None


def _routine(text: str) -> dict | None:
    """Spark offers no suggestion here: the close names among its built-ins stand in for one."""
    m = re.search(r"Cannot resolve routine (?P<name>`[^\n]*?`) on search path", text)
    if not m:
        return None
    name = _split(_unquote(m.group("name")))[1]
    return {"kind": f.FUNCTION_NOT_FOUND, "name": name,
            "hints": difflib.get_close_matches(name.lower(), function_names(), n=5, cutoff=0.6)}


@functools.lru_cache(maxsize=1)
def function_names() -> list[str]:
    """Spark SQL's built-in function names, as pyspark exposes them (lower, sum, date_diff, ...)."""
    try:
        from pyspark.sql import functions
    except ImportError:
        return []
    return sorted({n for n in dir(functions) if n.islower() and not n.startswith("_")})


def _table(text: str) -> dict | None:
    m = re.search(r"The table or view (?P<name>`[^\n]*?`) cannot be found", text)
    return {"kind": f.TABLE_NOT_FOUND, "name": _unquote(m.group("name"))} if m else None


def _syntax(text: str) -> dict | None:
    m = re.search(r"Syntax error at or near (?:'(?P<token>[^']*)'|(?P<end>end of input))", text)
    return {"kind": f.SYNTAX, "name": "" if m.group("end") else m.group("token")} if m else None


def _datatype(text: str) -> dict | None:
    """`Unsupported data type "VARCHR(10)"`: the type name without its arguments (Spark upper-cases it)."""
    m = re.search(r'Unsupported data type "(?P<name>\w+)', text)
    return {"kind": f.TYPE_NOT_FOUND, "name": m.group("name")} if m else None


def _division(text: str) -> dict | None:
    return {"kind": f.DIVISION_BY_ZERO}


def _cast(text: str) -> dict | None:
    m = re.search(r"The value (?P<value>'(?:[^']|'')*'|\S+) of the type \"(?P<source>[^\"]+)\" cannot be cast to "
                  r"\"(?P<target>[^\"]+)\" because it is malformed", text)
    if not m:
        return None
    value = m.group("value")
    value = value[1:-1].replace("''", "'") if value.startswith("'") else value
    return {"kind": f.CONVERSION, "value": value, "target_type": m.group("target")}


def _path(text: str) -> dict | None:
    m = re.search(r"Path does not exist: (?P<name>\S+?)\.?(?:\s|$)", text)
    return {"kind": f.FILE_MISSING, "name": m.group("name")} if m else None


# Error class (or class prefix) -> reader. The first class in the text that has a reader wins.
_READERS: dict[str, Callable[[str], "dict | None"]] = {
    "UNRESOLVED_COLUMN": _unresolved_column,
    "UNRESOLVED_FIELD": _unresolved_column,
    "AMBIGUOUS_REFERENCE": _ambiguous,
    "MISSING_AGGREGATION": _missing_aggregation,
    "UNRESOLVED_ROUTINE": _routine,
    "TABLE_OR_VIEW_NOT_FOUND": _table,
    "PARSE_SYNTAX_ERROR": _syntax,
    "UNSUPPORTED_DATATYPE": _datatype,
    "DIVIDE_BY_ZERO": _division,
    "REMAINDER_BY_ZERO": _division,
    "INTERVAL_DIVIDED_BY_ZERO": _division,
    "CAST_INVALID_INPUT": _cast,
    "PATH_NOT_FOUND": _path,
}


def parse_error(text: str) -> f.SqlFact | None:
    """The first Spark error in `text` as a SqlFact, None when no known error class matches."""
    for m in _CLASS.finditer(text):
        reader = _READERS.get(m.group("cls")) or _READERS.get(m.group("cls").split(".")[0])
        found = reader(text[m.start():]) if reader else None
        if found is None:
            continue
        context = _SQL_CONTEXT.search(text, m.start())
        line_text = context.group("line").strip() if context else None
        if found["kind"] == f.DIVISION_BY_ZERO and context:
            start = len(context.group("caret")) - len(context.group("caret").lstrip(" \t-"))
            found["value"] = context.group("line")[start:len(context.group("caret"))].strip()
        if found["kind"] == f.CONVERSION and context:
            cast = re.search(r"cast\(\s*(?:\w+\.)?`?(\w+)`?\s+as\b", context.group("line"), re.I)
            found["name"] = cast.group(1) if cast else None
        evidence = [m.group(0).strip()]
        if line_text:
            evidence.append(line_text)
        return f.SqlFact(
            kind=found["kind"],
            name=found.get("name"),
            relation=found.get("relation"),
            hints=tuple(dict.fromkeys(found.get("hints", ()))),
            hints_trusted=found["kind"] != f.TABLE_NOT_FOUND,
            value=found.get("value"),
            target_type=found.get("target_type"),
            line_text=line_text if found["kind"] == f.SYNTAX else None,
            evidence=tuple(dict.fromkeys(evidence)),
        )
    lost = _TRANSIENT.search(text)
    if lost:
        start = text.rfind("\n", 0, lost.start()) + 1
        end = text.find("\n", lost.end())
        return f.SqlFact(kind=f.UNAVAILABLE, name=lost.group(0), evidence=(text[start:end if end >= 0 else None].strip(),))
    return None
