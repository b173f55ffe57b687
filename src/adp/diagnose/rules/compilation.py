"""Rules for node compile errors dbt reports in its own words: macros, materializations, contracts, schema drift."""
from __future__ import annotations

import re
from dataclasses import replace

from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_pattern, find_yaml_key
from adp.diagnose.rules._base import rule, after, header, line_at, node_id
from adp.models import Diagnosis

_UNDEFINED = re.compile(r"'(?P<name>[\w.]+)' is undefined")
# A call `pkg.name(...)` to a package without that macro: the package namespace is a dict to Jinja.
_NO_ATTRIBUTE = re.compile(r"'dict object' has no attribute '(?P<name>\w+)'\. This can happen when calling a macro")
_EPHEMERAL_SKIP = re.compile(r"caused by compilation error in referenced ephemeral model (?P<uid>\S+)")


@rule()
def undefined_macro(ctx: Context, f: Failure) -> Diagnosis | None:
    """A model calls a macro, or a YAML file names a generic test, that nothing defines.

    Message: `Compilation Error in model orders_summary (...)  'safe_divde' is undefined. This can happen when calling a macro ...`
    (`'dict object' has no attribute 'safe_divde'. This can happen ...` for a package's `mypkg.safe_divde(...)`)
    Diagnosis: `dbt.macro_undefined` at the call, in the model or the ephemeral model compiled into it (or
    `dbt.test_not_found` at the YAML test entry); candidates by name, a package's own macros for a namespaced call.
    """
    m = _UNDEFINED.search(f.text) or _NO_ATTRIBUTE.search(f.text)
    if not m:
        return None
    name, uid = m.group("name"), node_id(f)
    node = ctx.node(uid)
    if name.startswith("test_") and node.get("resource_type") == "test":
        test = name[5:]
        rel = node.get("original_file_path")
        line = find_pattern(ctx.read(rel) or "", rf"^\s*-\s*['\"]?{re.escape(test)}['\"]?\s*:?\s*$")
        return ctx.diagnosis(
            f, "dbt.test_not_found", f"{rel} uses generic test '{test}', which no test macro defines.",
            location=Location(rel, line, uid), identifier=test, candidates=ctx.rank(test, ctx.test_names()),
            evidence=[line_at(f.text, m.start())], details={"test_name": test},
        )
    if m.re is _NO_ATTRIBUTE:
        return _package_macro(ctx, f, name, line_at(f.text, m.start()))
    loc = _call_site(ctx, f, rf"(?<![\w.]){re.escape(name)}\s*\(")
    return ctx.diagnosis(
        f, "dbt.macro_undefined", f"{loc.file or 'a model'} calls '{name}', which no macro defines.",
        location=loc, identifier=name, candidates=ctx.rank(name, ctx.macro_names()), node=None if uid else loc.owner,
        evidence=[line_at(f.text, m.start())], details={"macro": name},
    )


def _package_macro(ctx: Context, f: Failure, name: str, evidence: str) -> Diagnosis | None:
    """`{{ mypkg.safe_divde(...) }}`: identifier the namespaced call, candidates that package's macros."""
    packages = sorted({m.get("package_name") or "" for m in ctx.manifest.macros.values()} - {""}, key=len, reverse=True)
    if not packages:
        return None
    call = rf"(?<![\w.])(?P<package>{'|'.join(map(re.escape, packages))})\.{re.escape(name)}\s*\("
    loc = _call_site(ctx, f, call)
    if loc.line is None:
        return None  # not a call the project writes (an attribute of some other dict, or inside a package)
    package = re.search(call, _code(ctx, loc.owner).splitlines()[loc.line - 1]).group("package")
    own = sorted({m["name"] for m in ctx.manifest.macros.values()
                  if m.get("package_name") == package and not m["name"].startswith(("test_", "materialization_"))})
    called = f"{package}.{name}"
    return ctx.diagnosis(
        f, "dbt.macro_undefined", f"{loc.file} calls '{called}', which package '{package}' does not define.",
        location=loc, identifier=called, node=None if node_id(f) else loc.owner,
        candidates=[replace(c, name=f"{package}.{c.name}") for c in ctx.rank(name, own)],
        evidence=[evidence], details={"macro": name, "package": package},
    )


def _call_site(ctx: Context, f: Failure, pattern: str) -> Location:
    """The first line matching `pattern` in the code that may hold a failing call, nearest first.

    That code is the failed node's and what is compiled into it, else (a compile error in an ephemeral model
    fails no node: dbt skips its children) the node dbt's header names and the ephemeral models the skipped
    children point at.
    """
    uid = node_id(f)
    head = header(f)
    roots = [uid, ctx.node_by_file(head.group("file")) if head else None]
    roots += [s.group("uid") for n in ctx.result.nodes if (s := _EPHEMERAL_SKIP.search(n.message or ""))]
    owners = [o for r in dict.fromkeys(r for r in roots if r) for o in (r, *ctx.shared_code(r))]
    for owner in dict.fromkeys(owners):
        line = find_pattern(_code(ctx, owner), pattern)
        if line:
            return Location(ctx.file_of(owner), line, owner)
    return Location(ctx.file_of(uid), None, uid)


def _code(ctx: Context, uid: str | None) -> str:
    return ctx.read(ctx.file_of(uid)) or ctx.node(uid).get("raw_code") or ""


@rule()
def materialization_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """`materialized=` names a materialization the adapter does not have.

    Message: `No materialization 'tabel' was found for adapter duckdb! (searched types 'default' and 'duckdb')`
    Diagnosis: `dbt.materialization_not_found` at the config line (model, YAML or dbt_project.yml), candidates the materializations.
    """
    m = re.search(r"No materialization '(?P<name>[^']+)' was found for adapter (?P<adapter>\w+)", f.text)
    if not m:
        return None
    name, uid = m.group("name"), node_id(f)
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


@rule()
def contract(ctx: Context, f: Failure) -> Diagnosis | None:
    """A model's enforced contract does not match the columns its SQL returns.

    Message: `This model has an enforced contract that failed. ... | amount | DECIMAL | INTEGER | data type mismatch |`
    Diagnosis: `dbt.contract` at the contract's first mismatched column in YAML; details list every mismatch.
    """
    if "enforced contract that failed" not in f.text:
        return None
    rows = re.findall(r"^\s*\|\s*(\w+)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$", f.text, re.M)
    rows = [r for r in rows if r[0] != "column_name" and not set(r[0]) <= {"-"}]
    uid = node_id(f)
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


@rule()
def incremental_schema_change(ctx: Context, f: Failure) -> Diagnosis | None:
    """An incremental model's columns changed while `on_schema_change` is `fail`.

    Message: `The source and target schemas on this incremental model are out of sync! ... Source columns not in target: [...]`
    Diagnosis: `dbt.incremental_schema_change` at the added column; details name the model to `--full-refresh`.
    """
    if "schemas on this incremental model are out of sync" not in f.text:
        return None
    added = re.findall(r"column='([^']+)'", after(f.text, "Source columns not in target:"))
    removed = re.findall(r"column='([^']+)'", after(f.text, "Target columns not in source:"))
    changed = after(f.text, "New column types:").strip()
    uid = node_id(f)
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


@rule()
def seed_ragged(ctx: Context, f: Failure) -> Diagnosis | None:
    """A seed CSV has a row with more values than its header has columns.

    Message: `Compilation Error in seed raw_products (seeds/raw_products.csv)  Row 1 has 5 values, but Table only has 4 columns.`
    Diagnosis: `data.bad_value` at the CSV line with that many values.
    """
    m = re.search(r"Row (?P<row>\d+) has (?P<n>\d+) values, but Table only has (?P<cols>\d+) columns", f.text)
    if not m:
        return None
    uid = node_id(f)
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


@rule()
def snapshot_config(ctx: Context, f: Failure) -> Diagnosis | None:
    """A snapshot failed with a dbt error no other rule reads (its config, usually), and no warehouse fact.

    Message: `Compilation Error in snapshot members_snapshot (snapshots/members_snapshot.yml)  Snapshot target is not a snapshot table ...`
    Diagnosis: `dbt.snapshot` on the snapshot's file, with the first line of dbt's text as summary.
    """
    head = header(f)
    if not head or head.group("type") != "snapshot" or ctx.fact(f):
        return None
    text = f.text[head.end():].strip().splitlines()
    return ctx.diagnosis(
        f, "dbt.snapshot", f"Snapshot {head.group('name')} failed: {text[0].strip() if text else 'see message'}",
        evidence=[head.group(0), *(t.strip() for t in text[:2])],
    )
