"""DuckDB error texts -> engine-neutral SqlFacts.

The texts are DuckDB 2.0's (pinned). Carets and `LINE n` refer to dbt's wrapped SQL, so only the
quoted line text is kept, never the position.
"""
from __future__ import annotations

import re

from adp.warehouses import facts as f

_Q = r"[\"']"
# (kind, pattern): first match wins; named groups fill the fact.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(p, re.S))
    for kind, p in (
        (f.LOCKED, r'Could not set lock on file "(?P<name>[^"]+)": Conflicting lock is held in (?P<value>[^\n]*?\(PID \d+\)|[^\n]*?(?=\. See|$))'),
        (f.COLUMN_BEFORE_DEFINED, r'Column "(?P<name>[^"]+)" referenced that exists in the SELECT clause - but this column cannot be referenced before it is defined'),
        (f.COLUMN_NOT_FOUND, r'Referenced column "(?P<name>[^"]+)" not found in FROM clause'),
        (f.COLUMN_NOT_FOUND, r'(?:Values list|Table|Relation) "(?P<relation>[^"]+)" does not have a column named "(?P<name>[^"]+)"'),
        (f.AMBIGUOUS_COLUMN, r'Ambiguous reference to column name "(?P<name>[^"]+)"'),
        (f.GROUP_BY, r'column "(?P<name>[^"]+)" must appear in the GROUP BY clause'),
        (f.FUNCTION_NOT_FOUND, r'(?:Scalar|Aggregate|Table|Pragma) Function with name "?(?P<name>[\w.]+)"? does not exist'),
        (f.TABLE_NOT_FOUND, r'Table with name "?(?P<name>[\w.]+)"? does not exist'),
        (f.TYPE_NOT_FOUND, r'Type with name "?(?P<name>[\w.]+)"? does not exist'),
        (f.ALIAS_NOT_FOUND, r'Referenced table "(?P<name>[^"]+)" not found'),
        (f.SYNTAX, r'Parser Error: syntax error at or near "(?P<name>[^"]*)"'),
        (f.SYNTAX, r'Parser Error: syntax error at end of input'),
        (f.DIVISION_BY_ZERO, r'Division by zero in expression (?P<value>.*?)\. Use TRY'),
        (f.CSV_COLUMNS_CHANGED, r'Error when sniffing file "(?P<name>[^"]+)"'),
        (f.CSV_CONVERSION, r'CSV Error on Line: (?P<line>\d+).*?Error when converting column "(?P<name>[^"]+)"\. Could not convert string "(?P<value>[^"]*)" to \'?(?P<target_type>[\w(), ]+?)\'?(?:\s|$)'),
        (f.CONVERSION, rf'Could not convert string {_Q}(?P<value>.*?){_Q} to (?P<target_type>[\w(), ]+?) when casting from source column "?(?P<name>\w+)'),
        (f.CONVERSION, rf'(?:invalid|Could not convert)[^:\n]*?: {_Q}(?P<value>[^"\']*){_Q}.*?when casting from source column "?(?P<name>\w+)'),
        (f.CONVERSION, rf'Could not convert string {_Q}(?P<value>.*?){_Q} to (?P<target_type>[\w(), ]+)'),
        (f.FILE_MISSING, r'No files found that match the pattern "(?P<name>[^"]+)"'),
    )
)
_HINTS = re.compile(r"^\s*(?:Candidate bindings|Candidate tables|Did you mean)\s*:?\s*(?P<names>.*)$", re.M)
_LINE = re.compile(r"^\s*LINE (?P<n>\d+):\s?(?P<text>.*)$", re.M)
_ERROR_LINE = re.compile(r"^\s*(?:\w+ )*Error: .*$", re.M)
# DuckDB's hints for these kinds come from its catalog of built-ins and point elsewhere (e.g. pragma_*).
_UNTRUSTED_HINTS = frozenset({f.TABLE_NOT_FOUND})


def parse_error(text: str) -> f.SqlFact | None:
    """The first DuckDB error in `text` as a SqlFact, None when no known pattern matches."""
    for kind, pattern in _PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        g = m.groupdict()
        hints = _hints(text, kind)
        evidence = [_line_at(text, m.start())]
        evidence += [h.group(0).strip() for h in _HINTS.finditer(text)]
        line = _LINE.search(text)
        if line and kind == f.SYNTAX:  # elsewhere LINE points into dbt's wrapper SQL, not at the cause
            evidence.append(line.group(0).strip())
        return f.SqlFact(
            kind=kind,
            name=g.get("name"),
            relation=g.get("relation"),
            hints=hints,
            hints_trusted=kind not in _UNTRUSTED_HINTS,
            value=g.get("value"),
            target_type=(g.get("target_type") or "").strip() or None,
            line=int(g["line"]) if g.get("line") else None,
            line_text=line.group("text").strip() if line else None,
            evidence=tuple(dict.fromkeys(e for e in evidence if e)),
        )
    return None


def _hints(text: str, kind: str) -> tuple[str, ...]:
    if kind == f.AMBIGUOUS_COLUMN:
        m = re.search(r"\(use: (?P<names>[^)]*)\)", text)
        return tuple(re.findall(r"'([^']+)'", m.group("names"))) if m else ()
    names: list[str] = []
    for h in _HINTS.finditer(text):
        names += re.findall(r'"([^"]+)"', h.group("names"))
    return tuple(dict.fromkeys(names))


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)].strip()

