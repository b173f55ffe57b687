"""Rules for the environment: the warehouse file or connection, profiles, targets, packages, variables."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_yaml_key
from adp.diagnose.rules._base import grep_project, header, node_id, rule
from adp.models import Candidate, Diagnosis
from adp.warehouses import facts as F
from adp.warehouses.facts import SqlFact

@rule(facts=(F.LOCKED,))
def db_locked(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """The warehouse file is held by another process: a transient failure, retried with backoff.

    Message: `IO Error: Could not set lock on file "shop.duckdb": Conflicting lock is held in python3.11 (PID 42)`
    Diagnosis: `env.db_locked` (transient), no file; details name the database and the holder.
    """
    return ctx.diagnosis(
        f, "env.db_locked", f"The warehouse file is locked by another process ({fact.value}); retry when it is released.",
        location=Location(None), evidence=fact.evidence, details={"database": fact.name, "holder": fact.value},
    )


@rule(facts=(F.UNAVAILABLE,))
def warehouse_unavailable(ctx: Context, f: Failure, fact: SqlFact) -> Diagnosis | None:
    """The connection to the warehouse dropped or was refused: transient, retried with backoff.

    Message: `TTransportException: Could not connect to any of [('localhost', 10000)]` (Spark Thrift)
    Diagnosis: `env.warehouse_unavailable` (transient), no file; details give the reason.
    """
    return ctx.diagnosis(
        f, "env.warehouse_unavailable", "The warehouse connection was lost or refused; retry when it is back.",
        location=Location(None), evidence=fact.evidence, details={"reason": fact.value},
    )


@rule()
def profile_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """`profile:` in dbt_project.yml names a profile profiles.yml does not define.

    Message: `Runtime Error  Could not find profile named 'shopp'`
    Diagnosis: `env.profile` at dbt_project.yml's `profile:` line, identifier `shopp`, candidates the defined profiles.
    """
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


@rule()
def target_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """The profile's (default or `--target`) target is not one of its outputs.

    Message: `The profile 'shop' does not have a target named 'dve'. The valid target names for this profile are:  - dev`
    Diagnosis: `env.target` at profiles.yml's `target:` line, identifier `dve`, candidates the valid targets.
    """
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


@rule()
def packages_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """packages.yml lists packages that `dbt deps` has not installed.

    Message: `dbt found 1 package(s) specified in packages.yml, but only 0 package(s) installed in dbt_packages.`
    Diagnosis: `dbt.packages_missing` at packages.yml line 1 (needs `dbt deps`, not an edit).
    """
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


@rule()
def variable_missing(ctx: Context, f: Failure) -> Diagnosis | None:
    """An `env_var('X')` or `var('X')` without a default whose value was not provided.

    Message: `Parsing Error  Env var required but not provided: 'SHOP_START_DATE'` (or `Required var 'strat_date'
    not found in config:  Vars supplied to stg_orders = {...}`)
    (or, for a var a loop iterates, `'NoneType' object is not iterable` in the model dbt names)
    Diagnosis: `dbt.env_var_missing` (or `dbt.var_missing`) at the line that reads it, identifier the variable;
    for a var, candidates the vars dbt_project.yml declares, `--vars` passes and the message lists.
    """
    for pattern, function, category, missing in MISSING_VARIABLES:
        m = re.search(pattern, f.text)
        if not m:
            continue
        name = m.group("name")
        call = rf"\b{function}\(\s*['\"]{re.escape(name)}['\"]\s*\)"
        loc = ctx.locate(node_id(f), None, call) if f.node else Location(None)
        if loc.line is None:
            loc = grep_project(ctx, call) or Location(None)
        candidates = ctx.rank(name, declared_vars(ctx), supplied_vars(f.text)) if function == "var" else []
        return ctx.diagnosis(
            f, category, f"{function}('{name}') has no default and {missing}.",
            location=loc, identifier=name, candidates=candidates, evidence=[m.group(0)], details={function: name},
        )
    return _undefined_var_iterated(ctx, f)


def _undefined_var_iterated(ctx: Context, f: Failure) -> Diagnosis | None:
    """`{% for k in var('x') %}` with `x` defined nowhere: at parse dbt renders the var as None and says only
    `'NoneType' object is not iterable`, in the model its header names."""
    head = header(f)
    if "'NoneType' object is not iterable" not in f.text or not head:
        return None
    rel, declared = head.group("file"), set(declared_vars(ctx))
    text = ctx.read(rel) or ""
    loops = [m for m in re.finditer(r"\bfor\s+[\w, ]+\s+in\s+var\(\s*['\"](?P<name>[^'\"]+)['\"]\s*\)", text)
             if m.group("name") not in declared]
    if len(loops) != 1:
        return None
    name = loops[0].group("name")
    uid = ctx.node_by_file(rel)
    return ctx.diagnosis(
        f, "dbt.var_missing", f"{rel} loops over var('{name}'), which has no default and is not defined in dbt_project.yml or --vars.",
        location=Location(rel, text.count("\n", 0, loops[0].start()) + 1, uid), node=uid, identifier=name,
        candidates=ctx.rank(name, declared_vars(ctx)), evidence=["'NoneType' object is not iterable", loops[0].group(0)],
        details={"var": name},
    )


def supplied_vars(text: str) -> list[str]:
    """The var names dbt lists after `Vars supplied to <node> = {...}` (what the node could read)."""
    m = re.search(r"Vars supplied to \S+ = (\{.*?\n\s*\})", text, re.S)
    try:
        found = json.loads(m.group(1)) if m else {}
    except ValueError:
        return []
    return list(found) if isinstance(found, dict) else []


def declared_vars(ctx: Context) -> list[str]:
    """Vars of dbt_project.yml (top level and under the project's or a package's name) and of `--vars`."""
    packages = {ctx.package, *(m.get("package_name") for m in ctx.manifest.macros.values())}
    names: list[str] = []
    for block in (ctx.project.project_config.get("vars"), _cli_vars(ctx.result.command)):
        for key, value in (block or {}).items() if isinstance(block, dict) else ():
            scoped = key in packages and isinstance(value, dict)
            names += [str(k) for k in value] if scoped else [str(key)]
    return list(dict.fromkeys(names))


def _cli_vars(command: list[str]) -> dict | None:
    """The mapping passed with `--vars` (YAML or JSON), if any."""
    for i, arg in enumerate(command):
        text = command[i + 1] if arg == "--vars" and i + 1 < len(command) else arg.partition("--vars=")[2]
        if text:
            try:
                found = yaml.safe_load(text)
            except yaml.YAMLError:
                return None
            return found if isinstance(found, dict) else None
    return None
