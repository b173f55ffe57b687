"""The diagnosis rules: one ordered registry of small functions `rule(ctx, failure) -> Diagnosis | None`.

The first rule that recognises a failure wins; `unknown` at the end always answers. dbt's own texts
(parse errors, compile errors, test results) are matched here; warehouse errors arrive as neutral
SqlFacts from the warehouse module (`ctx.fact`). Message text is untrusted: it is only matched,
never executed or used as a path outside the project.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from adp.diagnose import sql_columns
from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_line, find_pattern, find_text, find_yaml_key
from adp.models import PHASE_OK, Candidate, Diagnosis
from adp.warehouses import facts as F

Rule = Callable[[Context, Failure], "Diagnosis | None"]

DATE_PARTS = frozenset(
    "year quarter month week day dayofweek dayofyear hour minute second millisecond microsecond isodow dow doy".split()
)
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".py", ".md")
_HEADER = re.compile(r"(?:Compilation|Parsing|Runtime|Database) Error in (?P<type>\w+) (?P<name>\S+) \((?P<file>[^)]+)\)")
_DEPENDS = re.compile(
    r"(?P<type>\w+) '(?P<uid>[^']+)' \((?P<file>[^)]+)\) depends on a (?P<kind>node|source) named '(?P<target>[^']+)'"
    r"(?: with version '[^']*')?(?: in package '[^']*')? which (?P<why>was not found|is disabled)"
)


def _header(f: Failure) -> re.Match[str] | None:
    return _HEADER.search(f.text)


def _uid(f: Failure) -> str | None:
    return f.node.unique_id if f.node else None


def _grep_project(ctx: Context, pattern: str, exts: tuple[str, ...] = (".sql", ".yml", ".yaml")) -> Location | None:
    """First project file (dbt_packages, target and logs excluded) with a line matching `pattern`."""
    root = ctx.project.project_dir
    skip = {"target", "dbt_packages", "logs", ".git"}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix not in exts or skip & set(rel.parts) or not path.is_file():
            continue
        line = find_pattern(ctx.read(str(rel)) or "", pattern)
        if line:
            rel_s = str(rel)
            return Location(rel_s, line, ctx.node_by_file(rel_s))
    return None


def _project_file(ctx: Context, reported: str) -> str | None:
    """A project-relative path for a path dbt reported relative to some resource directory."""
    if ctx.exists(reported):
        return reported
    matches = sorted(
        str(p.relative_to(ctx.project.project_dir))
        for p in ctx.project.project_dir.rglob(Path(reported).name)
        if str(p).endswith(reported) and "target" not in p.relative_to(ctx.project.project_dir).parts
    )
    return matches[0] if matches else None


# -- environment -------------------------------------------------------------------------------------
def db_locked(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.LOCKED:
        return None
    return ctx.diagnosis(
        f, "env.db_locked", f"The warehouse file is locked by another process ({fact.value}); retry when it is released.",
        location=Location(None), evidence=fact.evidence, details={"database": fact.name, "holder": fact.value},
    )


def warehouse_unavailable(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.UNAVAILABLE:
        return None
    return ctx.diagnosis(
        f, "env.warehouse_unavailable", "The warehouse connection was lost or refused; retry when it is back.",
        location=Location(None), evidence=fact.evidence, details={"reason": fact.value},
    )


def profile_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"Could not find profile named '(?P<name>[^']+)'", f.text)
    if not m:
        return None
    name = m.group("name")
    line = find_yaml_key(ctx.read("dbt_project.yml") or "", "profile", name)
    return ctx.diagnosis(
        f, "env.profile", f"dbt_project.yml names profile '{name}', which profiles.yml does not define.",
        location=Location("dbt_project.yml", line), identifier=name,
        candidates=ctx.rank(name, list(ctx.project.profiles())), evidence=[m.group(0)],
        details={"profiles_file": str(ctx.project.profiles_path())},
    )


def target_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"The profile '(?P<profile>[^']+)' does not have a target named '(?P<name>[^']+)'", f.text)
    if not m:
        return None
    name = m.group("name")
    valid = re.findall(r"^\s*- (\S+)\s*$", f.text[m.end():], re.M)
    path = ctx.project.profiles_path()
    try:
        rel = str(path.relative_to(ctx.project.project_dir))
    except ValueError:
        rel = str(path)
    line = find_yaml_key(ctx.read(rel) or "", "target", name) if not Path(rel).is_absolute() else None
    return ctx.diagnosis(
        f, "env.target", f"Target '{name}' is not an output of profile '{m.group('profile')}' (valid: {', '.join(valid)}).",
        location=Location(rel, line), identifier=name, candidates=ctx.rank(name, [], valid) or [Candidate(v, 0.0, "message") for v in valid],
        evidence=[m.group(0), *[f"- {v}" for v in valid]], details={"profile": m.group("profile"), "valid_targets": valid},
    )


def packages_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"dbt found \d+ package\(s\) specified in packages\.yml, but only \d+ package\(s\) installed[^\n]*", f.text)
    if not m:
        return None
    rel = next((p for p in ("packages.yml", "dependencies.yml") if ctx.exists(p)), "packages.yml")
    return ctx.diagnosis(
        f, "dbt.packages_missing", f"{rel} lists packages that are not installed in dbt_packages/; run `dbt deps` (needs network).",
        location=Location(rel, 1), evidence=[m.group(0)],
    )


MISSING_VARIABLES = (  # (message, how the project reads it, category, what is missing)
    (r"Env var required but not provided: '(?P<name>[^']+)'", "env_var", "dbt.env_var_missing", "the variable is not set"),
    (r"Required var '(?P<name>[^']+)' not found in config", "var", "dbt.var_missing",
     "is not defined in dbt_project.yml or --vars"),
)


def variable_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """An `env_var('X')` or `var('X')` without a default whose value was not provided."""
    for pattern, function, category, missing in MISSING_VARIABLES:
        m = re.search(pattern, f.text)
        if not m:
            continue
        name = m.group("name")
        loc = _grep_project(ctx, rf"\b{function}\(\s*['\"]{re.escape(name)}['\"]\s*\)") or Location(None)
        return ctx.diagnosis(
            f, category, f"{function}('{name}') has no default and {missing}.",
            location=loc, identifier=name, evidence=[m.group(0)], details={function: name},
        )
    return None


# -- project parsing -----------------------------------------------------------------------------------
def yaml_syntax(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"Error reading \S+: (?P<file>\S+) - Runtime Error", f.text)
    syntax = re.search(r"Syntax error near line (?P<line>\d+)", f.text)
    if not (m or syntax):
        return None
    rel = _project_file(ctx, m.group("file")) if m else "dbt_project.yml"
    marks = re.findall(r'in "<unicode string>", line (\d+), column \d+', f.text)
    line = int(marks[-1]) if marks else (int(syntax.group("line")) if syntax else None)
    problems = [ln.strip() for ln in f.text.splitlines() if re.match(r"\s*(did not find|expected|mapping values|found)", ln)]
    return ctx.diagnosis(
        f, "dbt.yaml_syntax", f"{rel} is not valid YAML near line {line}; the project cannot be parsed.",
        location=Location(rel, line, ctx.node_by_file(rel or "")),
        evidence=[x for x in (m.group(0) if m else None, syntax.group(0) if syntax else None, *problems) if x],
        details={"yaml_line": line, "problem": problems[-1] if problems else None},
    )


def jinja_syntax(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"(?P<what>unexpected '[^']*'|unexpected end of template[^\n]*|Unexpected end of template[^\n]*|expected token [^\n]*|"
                  r"Encountered unknown tag [^\n]*|unexpected char [^\n]*)", f.text)
    if not m:
        return None
    head = _header(f)
    at = re.search(r"^\s*line (?P<line>\d+)\s*\n(?P<text>[^\n]*)", f.text[m.end():], re.M)
    line = int(at.group("line")) if at else None
    loc: Location | None = None
    if head:
        rel = head.group("file")
        loc = Location(rel, line, ctx.node_by_file(rel))
    elif at and at.group("text").strip():
        # dbt names no file for errors in macro files: find the quoted line among the project's files.
        quoted = at.group("text").strip()
        loc = _grep_project(ctx, re.escape(quoted), (".sql",))
        if loc:
            loc = Location(loc.file, loc.line, loc.owner)
    loc = loc or Location(None, line)
    return ctx.diagnosis(
        f, "dbt.jinja_syntax", f"Jinja syntax error in {loc.file or 'a project file'}: {m.group('what')}. Parse errors come one per run: fix and re-run.",
        location=loc, node=loc.owner if head else None,
        evidence=[m.group(0), *(at.group(0).strip().splitlines() if at else [])],
        details={"jinja_error": m.group("what"), "quoted_line": at.group("text").strip() if at else None},
    )


def ref_or_source_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    m = _DEPENDS.search(f.text)
    if not m:
        return _not_in_graph(ctx, f)
    target, rel, uid = m.group("target"), m.group("file"), m.group("uid")
    disabled = m.group("why") == "is disabled"
    if m.group("kind") == "source":
        category, pool = "dbt.source_not_found", ctx.source_names()
        parts = target.split(".", 1)
        pattern = rf"source\(\s*['\"]{re.escape(parts[0])}['\"]\s*,\s*['\"]{re.escape(parts[-1])}['\"]"
    else:
        category, pool = ("dbt.ref_disabled" if disabled else "dbt.ref_not_found"), ctx.names()
        pattern = rf"ref\(\s*['\"]{re.escape(target)}['\"]"
    line = find_pattern(ctx.read(rel) or "", pattern)
    what = "disabled" if disabled else "not found"
    summary = f"{rel} refers to {m.group('kind')} '{target}', which is {what}. " + (
        f"dbt left {m.group('type').lower()} {uid} out of the build with only a warning." if f.phase == PHASE_OK
        else "Parse errors come one per run: fix and re-run.")
    return ctx.diagnosis(
        f, category, summary,
        location=Location(rel, line, uid), identifier=target, node=uid,
        candidates=[] if disabled else ctx.rank(target, pool), evidence=[m.group(0)],
        details={"target_name": target, "target_kind": m.group("kind"), "disabled": disabled},
    )


def _not_in_graph(ctx: Context, f: Failure) -> Diagnosis | None:
    """Partial parsing's variant: `'a' depends on 'b' which is not in the graph!` (b disabled or deleted)."""
    m = re.search(r"'(?P<uid>[^']+)' depends on '(?P<target>[^']+)' which is not in the graph", f.text)
    if not m:
        return None
    uid, target_uid = m.group("uid"), m.group("target")
    target = target_uid.split(".")[-1]
    rel = ctx.file_of(uid)
    # A resource file of that name is still in the project: it is disabled, not deleted.
    disabled = any(p.stem == target for p in ctx.project.project_dir.rglob(f"{target}.*")
                   if p.suffix in (".sql", ".csv", ".py") and "target" not in p.relative_to(ctx.project.project_dir).parts)
    line = find_pattern(ctx.read(rel) or "", rf"ref\(\s*['\"]{re.escape(target)}['\"]")
    return ctx.diagnosis(
        f, "dbt.ref_disabled" if disabled else "dbt.ref_not_found",
        f"{rel} refers to '{target}', which is {'disabled' if disabled else 'gone'}. Parse errors come one per run: fix and re-run.",
        location=Location(rel, line, uid), identifier=target, node=uid,
        candidates=[] if disabled else ctx.rank(target, [n for n in ctx.names() if n != target]), evidence=[m.group(0)],
        details={"target_name": target, "target_kind": "node", "disabled": disabled},
    )


def duplicate_resource(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r'dbt found two (?P<type>\w+?)s? with the name "(?P<name>[^"]+)"', f.text)
    if not m:
        return None
    entries = re.findall(r"^\s*- (\S+) \(([^)]+)\)", f.text, re.M)
    known = {n.get("original_file_path") for n in ctx.manifest.nodes.values()}
    # The file the previous manifest did not know is the newcomer.
    newer = next((e for e in entries if e[1] not in known), entries[-1] if entries else (None, None))
    return ctx.diagnosis(
        f, "dbt.duplicate_resource", f"Two resources are named '{m.group('name')}': {', '.join(p for _, p in entries)}. Which one to keep is a decision.",
        location=Location(newer[1], 1, newer[0]), identifier=m.group("name"), node=newer[0],
        evidence=[m.group(0), *[f"- {u} ({p})" for u, p in entries]], details={"paths": [p for _, p in entries]},
    )


def cycle(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"Found a cycle: (?P<chain>[^\n]+)", f.text)
    if not m:
        return None
    chain = [c.strip() for c in m.group("chain").split("-->")]
    names = {c.split(".")[-1]: c for c in chain}
    # The edge that closes the cycle is a ref() the previous manifest did not have.
    cause = chain[-1]
    for uid in chain:
        text = ctx.read(ctx.file_of(uid)) or ""
        refs = set(re.findall(r"ref\(\s*['\"]([^'\"]+)['\"]", text))
        new = [names[r] for r in refs if r in names and names[r] not in ctx.parents(uid)]
        if new:
            cause = uid
            line = find_pattern(text, rf"ref\(\s*['\"]{re.escape(new[0].split('.')[-1])}['\"]")
            break
    else:
        line = None
    rel = ctx.file_of(cause)
    return ctx.diagnosis(
        f, "dbt.cycle", f"The ref() graph has a cycle ({m.group('chain')}); breaking it is a design decision.",
        location=Location(rel, line, cause), node=cause, evidence=[m.group(0)], details={"cycle": chain},
    )


# -- node compile ---------------------------------------------------------------------------------------
def undefined_macro(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"'(?P<name>[\w.]+)' is undefined", f.text)
    if not m:
        return None
    name, uid = m.group("name"), _uid(f)
    node = ctx.node(uid)
    if name.startswith("test_") and node.get("resource_type") == "test":
        test = name[5:]
        rel = node.get("original_file_path")
        line = find_pattern(ctx.read(rel) or "", rf"^\s*-\s*['\"]?{re.escape(test)}['\"]?\s*:?\s*$")
        return ctx.diagnosis(
            f, "dbt.test_not_found", f"{rel} uses generic test '{test}', which no test macro defines.",
            location=Location(rel, line, uid), identifier=test, candidates=ctx.rank(test, ctx.test_names()),
            evidence=[_line(f.text, m.start())], details={"test_name": test},
        )
    loc = ctx.locate(uid, None, rf"(?<![\w.]){re.escape(name)}\s*\(")
    return ctx.diagnosis(
        f, "dbt.macro_undefined", f"{loc.file} calls '{name}', which no macro defines.",
        location=loc, identifier=name, candidates=ctx.rank(name, ctx.macro_names()),
        evidence=[_line(f.text, m.start())], details={"macro": name},
    )


def materialization_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"No materialization '(?P<name>[^']+)' was found for adapter (?P<adapter>\w+)", f.text)
    if not m:
        return None
    name, uid = m.group("name"), _uid(f)
    node = ctx.node(uid)
    pattern = rf"materialized\s*[:=]\s*['\"]?{re.escape(name)}\b"
    loc = ctx.locate(uid, None, pattern)
    if loc.line is None:
        patch = (node.get("patch_path") or "").split("://")[-1]
        for rel in (patch, "dbt_project.yml"):
            line = find_pattern(ctx.read(rel) or "", pattern) if rel else None
            if line:
                loc = Location(rel, line, uid)
                break
    return ctx.diagnosis(
        f, "dbt.materialization_not_found", f"Materialization '{name}' does not exist for {m.group('adapter')}.",
        location=loc, identifier=name, candidates=ctx.rank(name, ctx.materializations()),
        evidence=[m.group(0)], details={"adapter": m.group("adapter")},
    )


def contract(ctx: Context, f: Failure) -> Diagnosis | None:
    if "enforced contract that failed" not in f.text:
        return None
    rows = re.findall(r"^\s*\|\s*(\w+)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$", f.text, re.M)
    rows = [r for r in rows if r[0] != "column_name" and not set(r[0]) <= {"-"}]
    uid = _uid(f)
    patch = (ctx.node(uid).get("patch_path") or "").split("://")[-1] or ctx.file_of(uid)
    first = rows[0][0] if rows else None
    line = find_yaml_key(ctx.read(patch) or "", "name", first) if first else None
    return ctx.diagnosis(
        f, "dbt.contract", f"The enforced contract of {ctx.node(uid).get('name')} does not match its SQL: "
        + "; ".join(f"{c} is {d} in SQL but {t} in the contract ({r})" for c, d, t, r in rows),
        location=Location(patch, line, uid), identifier=first,
        evidence=["This model has an enforced contract that failed.", *[f"| {' | '.join(r)} |" for r in rows]],
        details={"mismatches": [{"column": c, "definition_type": d, "contract_type": t, "reason": r} for c, d, t, r in rows]},
    )


def incremental_schema_change(ctx: Context, f: Failure) -> Diagnosis | None:
    if "schemas on this incremental model are out of sync" not in f.text:
        return None
    added = re.findall(r"column='([^']+)'", _after(f.text, "Source columns not in target:"))
    removed = re.findall(r"column='([^']+)'", _after(f.text, "Target columns not in source:"))
    changed = _after(f.text, "New column types:").strip()
    uid = _uid(f)
    first = (added or removed or [None])[0]
    loc = ctx.locate(uid, first) if first else Location(ctx.file_of(uid), None, uid)
    return ctx.diagnosis(
        f, "dbt.incremental_schema_change",
        f"Incremental model {ctx.node(uid).get('name')} changed columns (added {added}, removed {removed}) and on_schema_change=fail; "
        "a --full-refresh or an on_schema_change setting reconciles it.",
        location=loc, identifier=first,
        evidence=[x.strip() for x in f.text.splitlines() if "columns not in" in x or "out of sync" in x],
        details={"added": added, "removed": removed, "type_changes": changed if changed != "[]" else None,
                 "full_refresh": ctx.node(uid).get("name")},
    )


def seed_ragged(ctx: Context, f: Failure) -> Diagnosis | None:
    m = re.search(r"Row (?P<row>\d+) has (?P<n>\d+) values, but Table only has (?P<cols>\d+) columns", f.text)
    if not m:
        return None
    uid = _uid(f)
    rel = ctx.file_of(uid)
    # dbt counts data rows from 0 after the header: file line = row + 2 is a guess dbt's wording allows;
    # confirm against the file by finding the first line with the reported number of values.
    text = ctx.read(rel) or ""
    n = int(m.group("n"))
    line = next((i for i, ln in enumerate(text.splitlines(), 1) if ln.count(",") + 1 == n), None)
    return ctx.diagnosis(
        f, "data.bad_value", f"{rel} has a row with {n} values where the header has {m.group('cols')} columns.",
        location=Location(rel, line, uid), evidence=[m.group(0)], details={"row": int(m.group("row")), "values": n},
    )


def snapshot_config(ctx: Context, f: Failure) -> Diagnosis | None:
    head = _header(f)
    if not head or head.group("type") != "snapshot" or ctx.fact(f):
        return None
    text = f.text[head.end():].strip().splitlines()
    return ctx.diagnosis(
        f, "dbt.snapshot", f"Snapshot {head.group('name')} failed: {text[0].strip() if text else 'see message'}",
        evidence=[head.group(0), *(t.strip() for t in text[:2])],
    )


# -- warehouse SQL errors (facts) ---------------------------------------------------------------------------
def unquoted_date_part(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.COLUMN_NOT_FOUND or (fact.name or "").lower() not in DATE_PARTS or fact.relation:
        return None
    pattern = rf"\b(date_?diff|date_?add|date_?sub|date_?part|date_?trunc|datepart|extract)\s*\(\s*{re.escape(fact.name)}\s*[,)]"
    loc = ctx.locate(_uid(f), None, pattern)
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


def column_in_test(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    node = ctx.node(_uid(f))
    column = (node.get("test_metadata") or {}).get("kwargs", {}).get("column_name")
    if not fact or fact.kind != F.COLUMN_NOT_FOUND or node.get("resource_type") != "test" or column != fact.name:
        return None
    rel = node.get("original_file_path")
    model = ctx.attached(_uid(f))
    line = find_yaml_key(ctx.read(rel) or "", "name", column)
    return ctx.diagnosis(
        f, "sql.column_not_found", f"{rel} declares a test on column '{column}', which {ctx.node(model).get('name')} does not have.",
        location=Location(rel, line, _uid(f)), identifier=column,
        candidates=ctx.rank(column, ctx.columns(model) if model else [], fact.hints),
        evidence=fact.evidence, details={"model": model, "yaml_line": line, "test": (node.get("test_metadata") or {}).get("name")},
    )


def column_not_found(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind not in (F.COLUMN_NOT_FOUND, F.COLUMN_BEFORE_DEFINED):
        return None
    uid = _uid(f)
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
    where = f"'{fact.relation}'" if fact.relation else "its inputs"
    summary = (f"{loc.file} selects '{name}', which no longer exists upstream (renamed or removed)." if upstream
               else f"{loc.file} references column '{name}', which {where} do not have.")
    return ctx.diagnosis(
        f, "sql.column_not_found", summary, location=loc, identifier=name,
        candidates=ctx.rank(name, pool, fact.hints if fact.hints_trusted else ()), evidence=fact.evidence,
        details={"qualifier": fact.relation, "missing_upstream": upstream},
    )


def ambiguous_column(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.AMBIGUOUS_COLUMN:
        return None
    uid = _uid(f)
    name = fact.name or ""
    loc = ctx.locate(uid, None, rf"(?<![\w.]){re.escape(name)}(?![\w.])")
    owner = loc.owner or uid
    order = list(sql_columns.from_relations(ctx.code(owner)))
    # Qualify with the relation that comes first in FROM (the preserved side of a left join).
    choices = sorted(fact.hints, key=lambda c: order.index(c.split(".")[0].lower()) if c.split(".")[0].lower() in order else len(order))
    return ctx.diagnosis(
        f, "sql.ambiguous_column", f"'{name}' exists in several joined relations; qualify it ({' or '.join(choices)}).",
        location=loc, identifier=name, candidates=[Candidate(c, round(1.0 - 0.1 * i, 2), "message") for i, c in enumerate(choices)],
        evidence=fact.evidence, details={"choices": choices},
    )


def group_by(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.GROUP_BY:
        return None
    uid = _uid(f)
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


def unknown_function_or_type(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind not in _UNKNOWN_NAMES:
        return None
    category, written, verb, key = _UNKNOWN_NAMES[fact.kind]
    name = fact.name or ""
    loc = ctx.locate(_uid(f), None, written.format(name=re.escape(name)))
    pool = ctx.warehouse.function_names() if key == "function" else []
    return ctx.diagnosis(
        f, category, f"{loc.file} {verb} '{name}', which the warehouse does not have.",
        location=loc, identifier=name, candidates=ctx.rank(name, pool, fact.hints), evidence=fact.evidence,
        details={key: name},
    )


def table_not_found(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.TABLE_NOT_FOUND:
        return None
    name = fact.name or ""
    loc = ctx.locate(_uid(f), None, rf"\b(from|join)\s+[\w.\"]*{re.escape(name)}\b")
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


def alias_not_found(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.ALIAS_NOT_FOUND:
        return None
    alias = fact.name or ""
    pattern = rf"(?<![\w.]){re.escape(alias)}\.\w"
    loc = ctx.locate(_uid(f), None, pattern)
    owner = loc.owner or _uid(f)
    line_text = (ctx.read(loc.file) or "").splitlines()[loc.line - 1] if loc.line else ""
    col = re.search(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", line_text)
    column = col.group(1) if col else None
    sql = ctx.code(owner) if owner else ""
    scored = []
    for table in fact.hints:
        has = column is not None and column.lower() in {c.lower() for c in ctx.alias_columns(sql, table, owner) or []}
        scored.append(Candidate(table, 1.0 if has else round(0.5 * (column is None), 2), "message"))
    scored.sort(key=lambda c: -c.score)
    return ctx.diagnosis(
        f, "sql.alias_not_found", f"'{alias}.' qualifies a column with an alias the FROM clause does not define.",
        location=loc, identifier=alias, candidates=scored, evidence=fact.evidence,
        details={"alias": alias, "column": column, "tables_in_scope": list(fact.hints)},
    )


def syntax(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.SYNTAX:
        return None
    uid = _uid(f)
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


def conversion(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind not in (F.CONVERSION, F.CSV_CONVERSION):
        return None
    uid = _uid(f)
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


def division_by_zero(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.DIVISION_BY_ZERO:
        return None
    loc = ctx.locate(_uid(f), None, r"(//|(?<![-/*])%(?!\}))")
    return ctx.diagnosis(
        f, "sql.division_by_zero", f"An integer division or modulo in {loc.file} divides by zero; guard the divisor with nullif(..., 0).",
        location=loc, evidence=fact.evidence, details={"expression": fact.value},
    )


def file_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    if not fact or fact.kind != F.FILE_MISSING:
        return None
    uid = _uid(f)
    source = next((p for p in ctx.upstream(uid) if p.startswith("source.")), None)
    rel = ctx.file_of(source) if source else ctx.file_of(uid)
    line = find_line(ctx.read(rel) or "", fact.name or "", whole_word=False)
    return ctx.diagnosis(
        f, "source.file_missing", f"No file matches '{fact.name}', which a source reads from.",
        location=Location(rel, line, source or uid), identifier=fact.name, evidence=fact.evidence,
        details={"pattern": fact.name, "source": source},
    )


def seed_schema_change(ctx: Context, f: Failure) -> Diagnosis | None:
    fact = ctx.fact(f)
    node = ctx.node(_uid(f))
    if not fact or fact.kind != F.CSV_COLUMNS_CHANGED or node.get("resource_type") != "seed":
        return None
    return ctx.diagnosis(
        f, "dbt.seed_schema_change", f"{node.get('original_file_path')} no longer matches its existing table's columns; rebuild it with --full-refresh.",
        location=Location(node.get("original_file_path"), 1, _uid(f)), evidence=[fact.evidence[0], *_lines_with(f.text, "does not match the number of columns")],
        details={"full_refresh": node.get("name")},
    )


# -- data tests ----------------------------------------------------------------------------------------------
def test_failure(ctx: Context, f: Failure) -> Diagnosis | None:
    node = ctx.node(_uid(f))
    if not f.node or f.node.status != "fail" or node.get("resource_type") != "test":
        return None
    meta = node.get("test_metadata") or {}
    column = meta.get("kwargs", {}).get("column_name")
    model = ctx.attached(_uid(f))
    rel = node.get("original_file_path")
    line = _yaml_test_line(ctx.read(rel) or "", ctx.node(model).get("name"), column, meta.get("name")) if meta else None
    what = f"{meta.get('name')} test on {ctx.node(model).get('name')}.{column}" if meta else f"singular test {node.get('name')}"
    return ctx.diagnosis(
        f, "data.test_failure", f"The {what} found {f.node.failures} failing row(s): the data, not the code, needs a decision.",
        location=Location(rel, line, model), identifier=column, evidence=[f.text.strip()],
        details={"test": meta.get("name") or "singular", "model": model, "column": column, "failures": f.node.failures,
                 "kwargs": {k: v for k, v in meta.get("kwargs", {}).items() if k != "model"}},
    )


def unit_test_failure(ctx: Context, f: Failure) -> Diagnosis | None:
    node = ctx.node(_uid(f))
    if not f.node or node.get("resource_type") != "unit_test" or f.node.status not in ("fail", "error"):
        return None
    rel = node.get("original_file_path")
    line = find_yaml_key(ctx.read(rel) or "", "name", node.get("name", ""))
    diff = [ln.rstrip() for ln in f.text.splitlines() if ln.strip() and not ln.strip().startswith("actual differs")]
    return ctx.diagnosis(
        f, "data.unit_test_failure", f"Unit test {node.get('name')} of {node.get('model')}: actual rows differ from the expected rows.",
        location=Location(rel, line, ctx.attached(_uid(f))), evidence=["actual differs from expected:", *diff[:4]],
        details={"model": node.get("model"), "diff": diff},
    )


def unknown(ctx: Context, f: Failure) -> Diagnosis:
    lines = [ln.strip() for ln in f.text.splitlines() if ln.strip()]
    return ctx.diagnosis(f, "unknown", "No rule recognised this failure; read the message.", evidence=lines[:3])


RULES: tuple[Rule, ...] = (
    db_locked,
    warehouse_unavailable,
    profile_missing,
    target_missing,
    packages_missing,
    variable_missing,
    yaml_syntax,
    jinja_syntax,
    ref_or_source_missing,
    duplicate_resource,
    cycle,
    undefined_macro,
    materialization_missing,
    contract,
    incremental_schema_change,
    seed_ragged,
    unit_test_failure,
    seed_schema_change,
    unquoted_date_part,
    column_in_test,
    column_not_found,
    ambiguous_column,
    group_by,
    unknown_function_or_type,
    table_not_found,
    alias_not_found,
    syntax,
    conversion,
    division_by_zero,
    file_missing,
    snapshot_config,
    test_failure,
    unknown,
)


# -- helpers ----------------------------------------------------------------------------------------------------
def _line(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)].strip()


def _after(text: str, marker: str) -> str:
    i = text.find(marker)
    return text[i + len(marker):].split("\n", 1)[0] if i >= 0 else ""


def _lines_with(text: str, needle: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if needle in ln]


def _yaml_test_line(text: str, model: str | None, column: str | None, test: str | None) -> int | None:
    """Line of `test` listed under `column` of `model` in a schema YAML file."""
    lines = text.splitlines()
    start = 0
    for key in (model, column):
        if key:
            found = find_yaml_key("\n".join(lines[start:]), "name", key)
            if found:
                start += found
    if test:
        rest = "\n".join(lines[start:])
        found = find_pattern(rest, rf"^\s*-\s*['\"]?{re.escape(test)}['\"]?\s*:?\s*$")
        if found:
            return start + found
    return start or None
