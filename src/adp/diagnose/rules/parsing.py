"""Rules for project parse errors: YAML, Jinja, refs and sources that name nothing, duplicate names, cycles."""
from __future__ import annotations

import re

from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_pattern
from adp.diagnose.rules._base import rule, grep_project, header, project_file
from adp.models import PHASE_OK, Diagnosis

_DEPENDS = re.compile(
    r"(?P<type>\w+) '(?P<uid>[^']+)' \((?P<file>[^)]+)\) depends on a (?P<kind>node|source) named '(?P<target>[^']+)'"
    r"(?: with version '[^']*')?(?: in package '[^']*')? which (?P<why>was not found|is disabled)"
)


@rule()
def yaml_syntax(ctx: Context, f: Failure) -> Diagnosis | None:
    """A YAML file of the project (a schema file or dbt_project.yml) does not parse.

    Message: `Error reading shop: staging/schema.yml - Runtime Error  Syntax error near line 25 ... mapping values are not allowed here`
    Diagnosis: `dbt.yaml_syntax` at the project-relative file and the parser's line; details keep the problem line.
    """
    m = re.search(r"Error reading \S+: (?P<file>\S+) - Runtime Error", f.text)
    syntax = re.search(r"Syntax error near line (?P<line>\d+)", f.text)
    if not (m or syntax):
        return None
    rel = project_file(ctx, m.group("file")) if m else "dbt_project.yml"
    marks = re.findall(r'in "<unicode string>", line (\d+), column \d+', f.text)
    line = int(marks[-1]) if marks else (int(syntax.group("line")) if syntax else None)
    problems = [ln.strip() for ln in f.text.splitlines() if re.match(r"\s*(did not find|expected|mapping values|found)", ln)]
    return ctx.diagnosis(
        f, "dbt.yaml_syntax", f"{rel} is not valid YAML near line {line}; the project cannot be parsed.",
        location=Location(rel, line, ctx.node_by_file(rel or "")),
        evidence=[x for x in (m.group(0) if m else None, syntax.group(0) if syntax else None, *problems) if x],
        details={"yaml_line": line, "problem": problems[-1] if problems else None},
    )


@rule()
def jinja_syntax(ctx: Context, f: Failure) -> Diagnosis | None:
    """A model or macro is not valid Jinja (dbt names no file for macro files: the quoted line finds it).

    Message: `Compilation Error in model stg_orders (models/staging/stg_orders.sql)  unexpected '}'  line 2 ...`
    Diagnosis: `dbt.jinja_syntax` at the file and line; details keep the Jinja error and the quoted line.
    """
    m = re.search(r"(?P<what>unexpected '[^']*'|unexpected end of template[^\n]*|Unexpected end of template[^\n]*|expected token [^\n]*|"
                  r"Encountered unknown tag [^\n]*|unexpected char [^\n]*)", f.text)
    if not m:
        return None
    head = header(f)
    at = re.search(r"^\s*line (?P<line>\d+)\s*\n(?P<text>[^\n]*)", f.text[m.end():], re.M)
    line = int(at.group("line")) if at else None
    loc: Location | None = None
    if head:
        rel = head.group("file")
        loc = Location(rel, line, ctx.node_by_file(rel))
    elif at and at.group("text").strip():
        # dbt names no file for errors in macro files: find the quoted line among the project's files.
        quoted = at.group("text").strip()
        loc = grep_project(ctx, re.escape(quoted), (".sql",))
        if loc:
            loc = Location(loc.file, loc.line, loc.owner)
    loc = loc or Location(None, line)
    return ctx.diagnosis(
        f, "dbt.jinja_syntax", f"Jinja syntax error in {loc.file or 'a project file'}: {m.group('what')}. Parse errors come one per run: fix and re-run.",
        location=loc, node=loc.owner if head else None,
        evidence=[m.group(0), *(at.group(0).strip().splitlines() if at else [])],
        details={"jinja_error": m.group("what"), "quoted_line": at.group("text").strip() if at else None},
    )


@rule()
def ref_or_source_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """A ref() or source() names a node that does not exist or is disabled (also dbt's warning for a dropped test).

    Message: `Model 'model.shop.customer_orders' (models/marts/customer_orders.sql) depends on a node named 'stg_order' which was not found`
    Diagnosis: `dbt.ref_not_found` / `dbt.ref_disabled` / `dbt.source_not_found` at the ref's line, identifier the
    name, candidates the project's models (or sources). Partial parsing's `... which is not in the graph!` too.
    """
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
    # a name built by Jinja (`ref(src.model)` over a dict literal): the quoted name is the line to edit
    line = find_pattern(ctx.read(rel) or "", pattern) or find_pattern(ctx.read(rel) or "", rf"['\"]{re.escape(target)}['\"]")
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


@rule()
def duplicate_resource(ctx: Context, f: Failure) -> Diagnosis | None:
    """Two resources share a name; the file the previous manifest did not know is the newcomer.

    Message: `dbt found two models with the name "stg_orders".  - model.shop.stg_orders (models/staging/stg_orders.sql) ...`
    Diagnosis: `dbt.duplicate_resource` at the newer file, identifier the name (which to keep is a decision).
    """
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


@rule()
def cycle(ctx: Context, f: Failure) -> Diagnosis | None:
    """The ref() graph has a cycle; the edge the previous manifest did not have is the cause.

    Message: `Found a cycle: model.shop.customer_orders --> model.shop.stg_customers`
    Diagnosis: `dbt.cycle` at the ref() that closes the cycle; details list the chain.
    """
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
