"""Rules for warehouse errors: each declares the `SqlFact` kinds it reads (`ctx.fact`, parsed by the engine's package)."""
from __future__ import annotations

import re

from adp.diagnose import sql_columns
from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_line, find_pattern, find_text, find_yaml_key
from adp.diagnose.rules._base import lines_with, node_id, rule
from adp.models import Candidate, Diagnosis
from adp.warehouses import facts as F
from adp.warehouses.facts import SqlFact

DATE_PARTS = frozenset(
    "year quarter month week day dayofweek dayofyear hour minute second millisecond microsecond isodow dow doy".split()
)


@rule(facts=(F.COLUMN_NOT_FOUND,))
def unquoted_date_part(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A date part passed bare to a date function reads as a column (the engine's candidates mislead).

    Message: `Binder Error: Referenced column "day" not found in FROM clause!` for `datediff(day, a, b)`
    Diagnosis: `sql.unquoted_date_part` at the call, candidate `'day'` (quoted).
    """
    if (fact.name or "").lower() not in DATE_PARTS or fact.relation:
        return None
    pattern = rf"\b(date_?diff|date_?add|date_?sub|date_?part|date_?trunc|datepart|extract)\s*\(\s*{re.escape(fact.name)}\s*[,)]"
    loc = ctx.locate(node_id(f), None, pattern)
    if loc.line is None:
        return None
    line_text = (ctx.read(loc.file) or "").splitlines()[loc.line - 1]
    function = re.search(pattern, line_text, re.I).group(1)
    quoted = f"'{fact.name}'"
    return ctx.diagnosis(
        f, "sql.unquoted_date_part", f"{function}({fact.name}, ...) passes the date part as a column name; quote it: {function}({quoted}, ...).",
        location=loc, identifier=fact.name, candidates=[Candidate(quoted, 1.0, "lookup")],
        evidence=[fact.evidence[0]], details={"date_part": fact.name, "function": function, "ignored_hints": list(fact.hints)},
    )


@rule(facts=(F.COLUMN_NOT_FOUND,), resources=("test",))
def column_in_test(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A generic test names a column its model does not have.

    Message: `Runtime Error in test not_null_customer_orders_lifetime_valu (...)  Referenced column "lifetime_valu" not found`
    Diagnosis: `sql.column_not_found` at the YAML `- name:` line of the column, candidates the model's columns.
    """
    node = ctx.node(node_id(f))
    column = (node.get("test_metadata") or {}).get("kwargs", {}).get("column_name")
    if column != fact.name:
        return None
    rel = node.get("original_file_path")
    model = ctx.attached(node_id(f))
    line = find_yaml_key(ctx.read(rel) or "", "name", column)
    return ctx.diagnosis(
        f, "sql.column_not_found", f"{rel} declares a test on column '{column}', which {ctx.node(model).get('name')} does not have.",
        location=Location(rel, line, node_id(f)), identifier=column,
        candidates=ctx.rank(column, ctx.columns(model) if model else [], fact.hints),
        evidence=fact.evidence, details={"model": model, "yaml_line": line, "test": (node.get("test_metadata") or {}).get("name")},
    )


@rule(facts=(F.COLUMN_NOT_FOUND, F.COLUMN_BEFORE_DEFINED))
def column_not_found(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A SQL reference to a column its inputs do not have (qualified or not; or renamed upstream).

    Message: `Binder Error: Referenced column "frist_name" not found in FROM clause! Candidate bindings: "first_name", ...`
    Diagnosis: `sql.column_not_found` at the line (in the model, an ephemeral model or a macro compiled into it),
    candidates the columns of the relation or of every input. When the change is a parent's (it had the column at
    the last good run, or, with no close candidate, its own input has it), the diagnosis is on the parent's file,
    without candidates: following or undoing a change upstream is a decision.
    """
    uid = node_id(f)
    name = fact.name or ""
    pattern = rf"(?<![\w.]){re.escape(fact.relation)}\.{re.escape(name)}\b" if fact.relation else None
    loc = ctx.locate(uid, name, pattern)
    if loc.line is None and fact.relation:
        loc = ctx.locate(uid, name)
    owner = loc.owner or uid
    upstream = fact.kind == F.COLUMN_BEFORE_DEFINED
    if upstream:  # the alias hides it: the column is missing from the inputs, not from this select
        pool = [c for p in ctx.parents(owner) for c in ctx.columns(p)]
    else:
        pool = ctx.column_pool(owner, fact.relation)
    candidates = ctx.rank(name, pool, fact.hints if fact.hints_trusted else ())
    cause = _lost_since_good_run(ctx, owner, name) or (None if candidates else _not_passed_on(ctx, owner, name))
    if cause is not None:
        return _upstream_change(ctx, f, fact, loc, *cause)
    where = f"'{fact.relation}'" if fact.relation else "its inputs"
    summary = (f"{loc.file} selects '{name}', which no longer exists upstream (renamed or removed)." if upstream
               else f"{loc.file} references column '{name}', which {where} do not have.")
    return ctx.diagnosis(
        f, "sql.column_not_found", summary, location=loc, identifier=name, candidates=candidates, evidence=fact.evidence,
        details={"qualifier": fact.relation, "missing_upstream": upstream},
    )


def _lost_since_good_run(ctx: Context, owner: str | None, name: str) -> tuple[str, str, dict] | None:
    """The parent that had `name` at the last good run (adp's history) and has it no more, and what changed."""
    history = ctx.log_dir
    if history is None or not owner:
        return None
    from adp.history_db import last_good_columns  # imports duckdb: only when there is a history to read

    for parent in ctx.parents(owner):
        before = last_good_columns(history, parent)
        now = ctx.columns(parent) if before and name.lower() in _lower(before[1]) else []
        if now and name.lower() not in _lower(now):
            run, old = before
            added = [c for c in now if c.lower() not in _lower(old)]
            renamed = next((c.name for c in ctx.rank(name, added)), None)
            also = f"; `{renamed}` is new there (renamed?)" if renamed else ""
            return parent, f"existed in {_name(ctx, parent)} at the last good run ({run}) and is gone now{also}", {
                "last_good_run": run, "new_columns": added, "renamed_to": renamed}
    return None


def _not_passed_on(ctx: Context, owner: str | None, name: str) -> tuple[str, str, dict] | None:
    """The one parent that lacks `name` although its own input has exactly that column (dropped, or never passed on)."""
    found = []
    for parent in ctx.parents(owner) if owner else ():
        if name.lower() in _lower(ctx.columns(parent)):
            return None
        source = next((g for g in ctx.parents(parent) if name.lower() in _lower(ctx.columns(g))), None)
        if source:
            found.append((parent, f"is not selected by {_name(ctx, parent)}, though its input {_name(ctx, source)} has it",
                          {"upstream_source": source}))
    return found[0] if len(found) == 1 else None


def _upstream_change(ctx: Context, f: Failure, fact: SqlFact, loc: Location, parent: str, what: str, extra: dict) -> Diagnosis:
    """`sql.column_not_found` on the parent's file, the failed node in details, no candidates (nothing is renamed)."""
    rel = ctx.file_of(parent)
    renamed = extra.get("renamed_to")
    return ctx.diagnosis(
        f, "sql.column_not_found",
        f"Column `{fact.name}` {what}. The change is in {rel}; {loc.file} still reads `{fact.name}`: "
        "restoring the column upstream or changing its readers is a decision.",
        location=Location(rel, find_line(ctx.read(rel) or "", renamed) if renamed else None, parent),
        identifier=fact.name, evidence=fact.evidence,
        details={"failed_node": node_id(f), "failed_file": loc.file, "failed_line": loc.line, "qualifier": fact.relation,
                 "missing_upstream": True, **extra},
    )


def _name(ctx: Context, uid: str) -> str:
    return ctx.node(uid).get("name", uid)


def _lower(names: list[str]) -> set[str]:
    return {n.lower() for n in names}


@rule(facts=(F.AMBIGUOUS_COLUMN,))
def ambiguous_column(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """An unqualified column exists in several joined relations.

    Message: `Binder Error: Ambiguous reference to column name "customer_id" (use: 'customers.customer_id' or 'orders.customer_id')`
    Diagnosis: `sql.ambiguous_column` at the reference, candidates the qualified names (first relation in FROM first).
    """
    uid = node_id(f)
    name = fact.name or ""
    loc = _ambiguous_use(ctx, uid, name, fact.hints) or ctx.locate(uid, None, rf"(?<![\w.]){re.escape(name)}(?![\w.])")
    owner = loc.owner or uid
    order = list(sql_columns.from_relations(ctx.code(owner)))
    # Qualify with the relation that comes first in FROM (the preserved side of a left join).
    choices = sorted(fact.hints, key=lambda c: order.index(c.split(".")[0].lower()) if c.split(".")[0].lower() in order else len(order))
    return ctx.diagnosis(
        f, "sql.ambiguous_column", f"'{name}' exists in several joined relations; qualify it ({' or '.join(choices)}).",
        location=loc, identifier=name, candidates=[Candidate(c, round(1.0 - 0.1 * i, 2), "message") for i, c in enumerate(choices)],
        evidence=fact.evidence, details={"choices": choices},
    )


def _ambiguous_use(ctx: Context, uid: str | None, name: str, hints: tuple[str, ...]) -> Location | None:
    """The source of the first bare `name` in a SELECT of the compiled SQL that joins every relation the
    engine offered (`revenue.x`, `tenure.x`): a same-named column in a one-relation CTE is no ambiguity."""
    cmap = ctx.compiled_map(uid) if uid else None
    qualifiers = {h.rsplit(".", 1)[0].lower() for h in hints if "." in h}
    if cmap is None or len(qualifiers) < 2:
        return None
    for select in sql_columns.selects(cmap.compiled, ctx.warehouse.name):
        if qualifiers <= {r.alias.lower() for r in select.relations}:
            for ref in select.unqualified(name):
                origin = cmap.origin(ref.start)
                if origin.line is not None:
                    line = cmap.compiled.count("\n", 0, ref.start) + 1
                    return Location(origin.file, origin.line, origin.node, line, origin.macro)
    return None


@rule(facts=(F.GROUP_BY,))
def group_by(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A selected column is neither grouped nor aggregated.

    Message: `Binder Error: column "tier" must appear in the GROUP BY clause or must be part of an aggregate function.`
    Diagnosis: `sql.group_by` at the column; details give the GROUP BY line.
    """
    uid = node_id(f)
    name = fact.name or ""
    loc = ctx.locate(uid, None, rf"(?<![\w]){re.escape(name)}\b(?!\s*\()")
    text = ctx.read(loc.file) or ""
    return ctx.diagnosis(
        f, "sql.group_by", f"'{name}' is selected but neither grouped nor aggregated; add it to GROUP BY or aggregate it.",
        location=loc, identifier=name, evidence=fact.evidence,
        details={"group_by_line": find_pattern(text, r"\bgroup\s+by\b")},
    )


# A name the warehouse does not know: (category, where it is written, what the model does with it).
_UNKNOWN_NAMES = {
    F.FUNCTION_NOT_FOUND: ("sql.function_not_found", r"(?<![\w.]){name}\s*\(", "calls function", "function"),
    F.TYPE_NOT_FOUND: ("sql.type_not_found", r"(?i)(?:\bas\s+|::\s*){name}\b", "casts to type", "type"),
}


@rule(facts=_UNKNOWN_NAMES)
def unknown_function_or_type(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A function call or a cast names a function or data type the warehouse does not have.

    Message: `Catalog Error: Scalar Function with name summ does not exist! Did you mean "sum"?` (or `Type with name decmal ...`)
    Diagnosis: `sql.function_not_found` / `sql.type_not_found` at the call or cast, candidates the engine's names and hints.
    """
    category, written, verb, key = _UNKNOWN_NAMES[fact.kind]
    name = fact.name or ""
    loc = ctx.locate(node_id(f), None, written.format(name=re.escape(name)))
    pool = ctx.warehouse.function_names() if key == "function" else []
    return ctx.diagnosis(
        f, category, f"{loc.file} {verb} '{name}', which the warehouse does not have.",
        location=loc, identifier=name, candidates=ctx.rank(name, pool, fact.hints), evidence=fact.evidence,
        details={key: name},
    )


@rule(facts=(F.TABLE_NOT_FOUND,))
def table_not_found(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A model reads a relation by a hard-coded name that does not exist.

    Message: `Catalog Error: Table with name raw_customer does not exist! Did you mean "raw_customers"?`
    Diagnosis: `sql.table_not_found` at the FROM/JOIN, candidates the project's nodes and sources; details give the ref()/source().
    """
    name = fact.name or ""
    loc = ctx.locate(node_id(f), None, rf"\b(from|join)\s+[\w.\"]*{re.escape(name)}\b")
    refs = {n: f"{{{{ ref('{n}') }}}}" for n in ctx.names()}
    refs.update({s: "{{{{ source('{}', '{}') }}}}".format(*s.split(".", 1)) for s in ctx.source_names()})
    pool = list(refs) + [s.split(".", 1)[1] for s in ctx.source_names()]
    candidates = ctx.rank(name, pool)
    top = candidates[0].name if candidates else None
    replacement = refs.get(top) or next((v for k, v in refs.items() if top and k.endswith("." + top)), None)
    return ctx.diagnosis(
        f, "sql.table_not_found", f"{loc.file} reads table '{name}', which does not exist; use ref()/source() for project relations.",
        location=loc, identifier=name, candidates=candidates, evidence=fact.evidence,
        details={"replacement": replacement, "ignored_hints": list(fact.hints) if not fact.hints_trusted else []},
    )


@rule(facts=(F.ALIAS_NOT_FOUND,))
def alias_not_found(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A column is qualified with an alias the FROM clause does not define.

    Message: `Binder Error: Referenced table "o" not found! Candidate tables: "orders", "products"`
    Diagnosis: `sql.alias_not_found` at the reference, candidates the tables in scope (1.0 for those that have the
    column); details give each table's known columns (`columns_by_table`).
    """
    alias = fact.name or ""
    pattern = rf"(?<![\w.]){re.escape(alias)}\.\w"
    loc = ctx.locate(node_id(f), None, pattern)
    owner = loc.owner or node_id(f)
    line_text = (ctx.read(loc.file) or "").splitlines()[loc.line - 1] if loc.line else ""
    col = re.search(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", line_text)
    column = col.group(1) if col else None
    sql = ctx.code(owner) if owner else ""
    known = {table: ctx.alias_columns(sql, table, owner) for table in fact.hints}
    scored = []
    for table in fact.hints:
        has = column is not None and column.lower() in {c.lower() for c in known[table] or []}
        scored.append(Candidate(table, 1.0 if has else round(0.5 * (column is None), 2), "message"))
    scored.sort(key=lambda c: -c.score)
    return ctx.diagnosis(
        f, "sql.alias_not_found", f"'{alias}.' qualifies a column with an alias the FROM clause does not define.",
        location=loc, identifier=alias, candidates=scored, evidence=fact.evidence,
        details={"alias": alias, "column": column, "tables_in_scope": list(fact.hints), "columns_by_table": known},
    )


@rule(facts=(F.SYNTAX,))
def syntax(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """The SQL does not parse; the engine's quoted line (or its token, when unique) locates it.

    Message: `Parser Error: syntax error at or near "gruop"  LINE 35: gruop by customers.customer_id`
    Diagnosis: `sql.syntax` at the quoted line of the model (or the macro/ephemeral model compiled into it), identifier the token.
    """
    uid = node_id(f)
    loc = Location(ctx.file_of(uid), None, uid)
    if fact.line_text:
        for owner in [uid, *ctx.shared_code(uid)]:
            rel = ctx.file_of(owner)
            line = find_text(ctx.read(rel) or "", fact.line_text)
            if line:
                loc = Location(rel, line, owner)
                break
    if loc.line is None:  # the quoted line is compiled (or cut with `...`): the token's line, if unique
        line = find_line(ctx.read(loc.file) or "", fact.name or "", unique=True)
        loc = Location(loc.file, line, uid) if line else loc
    return ctx.diagnosis(
        f, "sql.syntax", f"{loc.file} does not parse near '{fact.name}'" + (f" (line {loc.line})." if loc.line else "."),
        location=loc, identifier=fact.name or None, evidence=fact.evidence,
        details={"token": fact.name, "line_text": fact.line_text},
    )


@rule(facts=(F.CONVERSION, F.CSV_CONVERSION))
def conversion(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A value cannot be converted: bad data (a cast in the nearest upstream model, a seed cell) or mismatched types.

    Message: `Conversion Error: Could not convert string "N/A" to DECIMAL(10,2) when casting from source column amount`
    Diagnosis: `data.bad_value` at the cast (or the seed line), else `sql.conversion` (a comparison or join of two types).
    """
    uid = node_id(f)
    column = fact.name or ""
    details = {"value": fact.value, "target_type": fact.target_type, "column": column}
    if fact.kind == F.CSV_CONVERSION:
        rel = ctx.file_of(uid)
        return ctx.diagnosis(
            f, "data.bad_value", f"{rel} line {fact.line}: '{fact.value}' in column '{column}' is not a {fact.target_type}.",
            location=Location(rel, fact.line, uid), identifier=column, evidence=fact.evidence, details=details,
        )
    cast = rf"(try_)?cast\(\s*(\w+\.)?\"?{re.escape(column)}\"?\s+as\b|\b{re.escape(column)}\s*::"
    # A failing test or table may only read the column: the cast lives in the nearest upstream model.
    for candidate in ctx.upstream(uid):
        if candidate.split(".")[0] not in ("model", "snapshot"):
            continue
        loc = ctx.locate(candidate, None, cast)
        if loc.line:
            return ctx.diagnosis(
                f, "data.bad_value", f"'{fact.value}' in column '{column}' cannot be cast to {fact.target_type or 'the declared type'} in {loc.file}.",
                location=loc, identifier=column, evidence=fact.evidence, details=details,
            )
    loc = ctx.locate(uid, column)
    return ctx.diagnosis(
        f, "sql.conversion", f"{loc.file} makes the warehouse convert '{fact.value}' (column '{column}') to {fact.target_type}: compare or join columns of the same type.",
        location=loc, identifier=column or None, evidence=fact.evidence, details=details,
    )


@rule(facts=(F.DIVISION_BY_ZERO,))
def division_by_zero(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """An integer division or modulo divides by zero.

    Message: `Invalid Input Error: Division by zero in expression (count_star() // count(...))`
    Diagnosis: `sql.division_by_zero` at the `//` or `%`; details keep the expression.
    """
    loc = ctx.locate(node_id(f), None, r"(//|(?<![-/*])%(?!\}))")
    return ctx.diagnosis(
        f, "sql.division_by_zero", f"An integer division or modulo in {loc.file} divides by zero; guard the divisor with nullif(..., 0).",
        location=loc, evidence=fact.evidence, details={"expression": fact.value},
    )


@rule(facts=(F.FILE_MISSING,))
def file_missing(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A source reads files that are not there.

    Message: `IO Error: No files found that match the pattern "data/raw_payments.csv"`
    Diagnosis: `source.file_missing` at the source's YAML line naming the pattern.
    """
    uid = node_id(f)
    source = next((p for p in ctx.upstream(uid) if p.startswith("source.")), None)
    rel = ctx.file_of(source) if source else ctx.file_of(uid)
    line = find_line(ctx.read(rel) or "", fact.name or "", whole_word=False)
    return ctx.diagnosis(
        f, "source.file_missing", f"No file matches '{fact.name}', which a source reads from.",
        location=Location(rel, line, source or uid), identifier=fact.name, evidence=fact.evidence,
        details={"pattern": fact.name, "source": source},
    )


@rule(facts=(F.CSV_COLUMNS_CHANGED,), resources=("seed",))
def seed_schema_change(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """A seed's header changed while its table exists with the old columns.

    Message: `Runtime Error in seed raw_customers (...)  Invalid Input Error: Error when sniffing file ... does not match the number of columns`
    Diagnosis: `dbt.seed_schema_change` at the CSV; details name the seed to `--full-refresh`.
    """
    node = ctx.node(node_id(f))
    return ctx.diagnosis(
        f, "dbt.seed_schema_change", f"{node.get('original_file_path')} no longer matches its existing table's columns; rebuild it with --full-refresh.",
        location=Location(node.get("original_file_path"), 1, node_id(f)), evidence=[fact.evidence[0], *lines_with(f.text, "does not match the number of columns")],
        details={"full_refresh": node.get("name")},
    )
