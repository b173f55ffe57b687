"""Refuse a proposal that escapes the project, is stale, or weakens a test (rule and agent proposals alike).

Weakening means: deleting or disabling a model or test, lowering a test's severity (`severity: warn`,
`warn_if`, `error_if`), adding `where`/`limit` to a test, editing a singular test or a generic test
definition, editing data files, or changing a test's expected values. Correcting a misspelled generic
test name, tested column name or relationships target is allowed; this is decided by parsing the YAML
before and after the edit and comparing the tests it declares.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from adp.apply import check_fresh, edited_texts
from adp.artifacts import Manifest
from adp.errors import FixError
from adp.fixes.confidence import is_typo_fix
from adp.models import FixProposal
from adp.project import DbtProject
from adp.yaml_load import load_yaml

ACTIONS = frozenset({"full_refresh"})  # run actions a proposal may carry instead of edits
RESOURCE_KEYS = ("models", "seeds", "snapshots", "sources", "analyses", "exposures")
TEST_KEYS = ("data_tests", "tests")
TYPO_FIXABLE_ARGS = frozenset({"to", "field", "column_name"})  # args a spelling correction may touch
PATH_KEYS = ("model-paths", "seed-paths", "test-paths", "macro-paths", "snapshot-paths", "analysis-paths")
# (regex on SQL/Jinja text) -> why a new occurrence weakens something
_CODE_PATTERNS = (
    (re.compile(r"\benabled\s*=\s*false\b", re.I), "disables a node (`enabled=false`)"),
    (re.compile(r"\bseverity\s*=\s*['\"]warn", re.I), "lowers a test's severity"),
    (re.compile(r"\b(warn_if|error_if|where|limit)\s*=\s*['\"]", re.I), "adds a test threshold or filter"),
    (re.compile(r"\benforced\s*[=:]\s*false\b", re.I), "turns off an enforced contract"),
    (re.compile(r"\blimit\s+0\b|\bwhere\s+(false|1\s*=\s*0)\b", re.I), "filters out every row"),
)
_TEST_DEFINITION = re.compile(r"\{%-?\s*(test\s+\w+|macro\s+(default__)?test_\w+)", re.I)


def check(proposal: FixProposal, project: DbtProject, manifest: Manifest | None = None) -> None:
    """Raise FixError with the reason when `proposal` must not be applied.

    >>> # check(proposal, project)  # returns None when the proposal is safe
    """
    if not 0.0 <= proposal.confidence <= 1.0:
        raise FixError(f"proposal {proposal.id}: confidence {proposal.confidence} is not in [0, 1]")
    if not proposal.edits and not proposal.action:
        raise FixError(f"proposal {proposal.id}: no edits and no action")
    if proposal.action:
        _check_action(proposal, manifest)
    missing = sorted({e.path for e in proposal.edits} - set(proposal.file_sha256))
    if missing:
        raise FixError(f"proposal {proposal.id}: no sha256 recorded for `{missing[0]}` (needed to refuse stale edits)")
    check_fresh(project, proposal)
    for rel, (before, after) in edited_texts(project, proposal).items():  # each path through editable_path
        _check_file(rel, before, after, manifest)


def _check_action(proposal: FixProposal, manifest: Manifest | None) -> None:
    unknown = set(proposal.action or {}) - ACTIONS
    if unknown:
        raise FixError(f"proposal {proposal.id}: unknown action `{sorted(unknown)[0]}` (known: {', '.join(sorted(ACTIONS))})")
    node = (proposal.action or {}).get("full_refresh")
    if not isinstance(node, str) or not node:
        raise FixError(f"proposal {proposal.id}: `full_refresh` needs a node unique_id")
    if manifest is not None and manifest.exists and manifest.node(node) is None:
        raise FixError(f"proposal {proposal.id}: `full_refresh` names `{node}`, which the manifest does not have")


def _check_file(rel: str, before: str, after: str, manifest: Manifest | None) -> None:
    if not after.strip():
        raise FixError(f"{rel}: the edit empties the file (deletes a model, test or config)")
    if PurePosixPath(rel).suffix.lower() in (".yml", ".yaml"):
        _check_yaml(rel, before, after, manifest)
    else:
        _check_code(rel, before, after)


def _check_code(rel: str, before: str, after: str) -> None:
    if _TEST_DEFINITION.search(before) or _TEST_DEFINITION.search(after):
        raise FixError(f"{rel}: edits a generic test definition; that changes what a test checks")
    for pattern, why in _CODE_PATTERNS:
        if len(pattern.findall(after)) > len(pattern.findall(before)):
            raise FixError(f"{rel}: the edit {why}; that weakens a test or hides a node")


# -- YAML: compare the tests and the sensitive config keys before and after --------------------------


def _check_yaml(rel: str, before: str, after: str, manifest: Manifest | None) -> None:
    try:
        new = load_yaml(after)
    except yaml.YAMLError as exc:
        raise FixError(f"{rel}: does not parse as YAML after the edit: {exc}") from exc
    try:
        old = load_yaml(before)
    except yaml.YAMLError:
        # A broken file has no structure to compare: only layout repairs (whitespace, brackets) are allowed.
        if re.findall(r"[\w.'\"-]+", before) != re.findall(r"[\w.'\"-]+", after):
            raise FixError(f"{rel}: the file does not parse yet; only whitespace or bracket repairs are allowed") from None
        if manifest is not None:
            _check_against_manifest(rel, new, manifest)
        return
    _check_sensitive(rel, old, new)
    if PurePosixPath(rel).name == "dbt_project.yml" and isinstance(old, dict) and isinstance(new, dict):
        for key in PATH_KEYS:
            if old.get(key) != new.get(key):
                raise FixError(f"{rel}: changes `{key}`; moving project paths can drop models or tests")
    _compare_tests(rel, _tests(old), _tests(new))
    if _unit_tests(old) != _unit_tests(new):
        raise FixError(f"{rel}: changes a unit test (its inputs or expected rows)")


_SENSITIVE = ("enabled", "severity", "warn_if", "error_if", "where", "limit", "enforced", "store_failures_as")


def _sensitive_items(doc: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            key = str(k).lstrip("+")
            if key in _SENSITIVE and not isinstance(v, (dict, list)):
                out.append((key, str(v).strip().lower()))
            out += _sensitive_items(v)
    elif isinstance(doc, list):
        for v in doc:
            out += _sensitive_items(v)
    return out


def _check_sensitive(rel: str, old: Any, new: Any) -> None:
    remaining = list(_sensitive_items(old))
    for key, value in _sensitive_items(new):
        if (key, value) in remaining:
            remaining.remove((key, value))
            continue
        strengthens = (key == "severity" and value == "error") or (key in ("enabled", "enforced") and value == "true")
        if not strengthens:
            raise FixError(f"{rel}: sets `{key}: {value}`; that disables or weakens a test, model or contract")


@dataclass(frozen=True)
class _Test:
    owner: str  # "<resource kind>:<name>"
    column: str | None
    name: str
    args: str  # canonical JSON of the test's arguments and config


def _test_entry(owner: str, column: str | None, item: Any) -> _Test:
    if isinstance(item, str):
        return _Test(owner, column, item, "{}")
    if isinstance(item, dict) and len(item) == 1:
        (name, args), = item.items()
        return _Test(owner, column, str(name), json.dumps(args, sort_keys=True, default=str))
    return _Test(owner, column, "", json.dumps(item, sort_keys=True, default=str))


def _tests(doc: Any) -> list[_Test]:
    """Every test a dbt YAML file declares, in document order."""
    out: list[_Test] = []
    if not isinstance(doc, dict):
        return out
    for kind in RESOURCE_KEYS:
        for res in doc.get(kind) or []:
            if not isinstance(res, dict):
                continue
            owners = [(f"{kind}:{res.get('name')}", res)]
            if kind == "sources":
                owners += [(f"source:{res.get('name')}.{t.get('name')}", t) for t in res.get("tables") or [] if isinstance(t, dict)]
            for owner, entry in owners:
                for key in TEST_KEYS:
                    out += [_test_entry(owner, None, t) for t in entry.get(key) or []]
                for col in entry.get("columns") or []:
                    if isinstance(col, dict):
                        for key in TEST_KEYS:
                            out += [_test_entry(owner, str(col.get("name")), t) for t in col.get(key) or []]
    return out


def _unit_tests(doc: Any) -> str:
    return json.dumps(doc.get("unit_tests") if isinstance(doc, dict) else None, sort_keys=True, default=str)


def _same_or_typo(old: Any, new: Any) -> bool:
    return old == new or (isinstance(old, str) and isinstance(new, str) and is_typo_fix(old, new))


def quoted_typo(old: str, new: str) -> bool:
    """`ref('dim_user')` -> `ref('dim_users')`: compare the quoted names, not the whole text."""
    qo, qn = re.findall(r"['\"]([^'\"]+)['\"]", old), re.findall(r"['\"]([^'\"]+)['\"]", new)
    if qo and len(qo) == len(qn) and re.sub(r"['\"][^'\"]+['\"]", "''", old) == re.sub(r"['\"][^'\"]+['\"]", "''", new):
        return all(_same_or_typo(a, b) for a, b in zip(qo, qn))
    return _same_or_typo(old, new)


def _args_equal_or_typo(old: Any, new: Any, key: str | None = None) -> bool:
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_args_equal_or_typo(old[k], new[k], str(k)) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_args_equal_or_typo(a, b, key) for a, b in zip(old, new))
    if old == new:
        return True
    return key in TYPO_FIXABLE_ARGS and isinstance(old, str) and isinstance(new, str) and quoted_typo(old, new)


def _matches(old: _Test, new: _Test) -> bool:
    if old.owner != new.owner and not _same_or_typo(old.owner.split(":", 1)[-1], new.owner.split(":", 1)[-1]):
        return False
    if old.column != new.column and not _same_or_typo(old.column, new.column):
        return False
    if old.name != new.name and not _same_or_typo(old.name, new.name):
        return False
    return _args_equal_or_typo(json.loads(old.args), json.loads(new.args))


def _compare_tests(rel: str, old: list[_Test], new: list[_Test]) -> None:
    """Every old test must still be there, in order, unchanged or with only a spelling correction."""
    j = 0
    for test in old:
        while j < len(new) and not _matches(test, new[j]):
            j += 1
        if j == len(new):
            col = f" on column `{test.column}`" if test.column else ""
            raise FixError(f"{rel}: removes or changes the test `{test.name}`{col} of `{test.owner}` "
                           "(only spelling corrections of test or column names are allowed)")
        j += 1


def _check_against_manifest(rel: str, new: Any, manifest: Manifest) -> None:
    """A repaired file must still declare every generic test the last parse saw in it."""
    declared = {(t.name, t.column) for t in _tests(new)}
    for node in manifest.nodes.values():
        meta = node.get("test_metadata") or {}
        if node.get("resource_type") == "test" and node.get("original_file_path") == rel and meta.get("name"):
            if (meta["name"], node.get("column_name")) not in declared and meta.get("namespace") is None:
                raise FixError(f"{rel}: after the repair the test `{meta['name']}` on `{node.get('column_name')}` is gone")
