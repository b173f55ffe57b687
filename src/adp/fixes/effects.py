"""The guarantee every fix passes, judged on its effect: what dbt parsed before the fix and after it.

Text patterns lose to Jinja (`enabled=(false)`, `{% set e = false %}`), so after a fix is written the
project is parsed again and the two manifests are compared. The fix is refused unless:

- the same models, seeds and snapshots are enabled, each with the same config, except the value the
  diagnosis names (`identifier`) replaced by one of its candidates (a misspelled materialization or
  snapshot `unique_key`);
- every test is still there, identified by its type, the node it is attached to and its arguments
  (a spelling correction of a column, `to` or test name is allowed), with the same config (severity,
  where, limit, warn_if, error_if, enabled, fail_calc, store_failures) and the same singular SQL;
- the macros the tests run are unchanged, and no macro of another package is overridden (else only a
  person may approve it: `NeedsPerson`);
- the same hooks (`on-run-start/end`) and, in `dbt_project.yml` and `profiles.yml`, the same values for
  every key outside the resource config blocks (paths, vars, profile, outputs), again except the value
  the diagnosis names;
- the unit tests are unchanged.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adp.errors import FixError
from adp.fixes.confidence import is_typo_fix
from adp.fixes.guards import TYPO_FIXABLE_ARGS, quoted_typo
from adp.yaml_load import load_yaml
from adp.models import Diagnosis

RESOURCES = ("model", "seed", "snapshot")
TEST_CONFIG = ("enabled", "severity", "where", "limit", "warn_if", "error_if", "fail_calc", "store_failures",
               "store_failures_as")
# dbt_project.yml keys whose effect is judged through the manifest's node configs
CONFIG_BLOCKS = frozenset({"models", "seeds", "snapshots", "sources", "data_tests", "tests", "unit_tests", "exposures",
                           "metrics", "semantic-models", "saved-queries"})
_MISSING = object()


class NeedsPerson(FixError):
    """The fix changes code that tests run (a macro they depend on): a person may approve it, nobody else."""


@dataclass(frozen=True)
class Baseline:
    """The parse a fix is compared with."""

    manifest: dict[str, Any]
    last_good: bool  # the project did not parse before the fix: this is the last good run's manifest
    project_dir: Path


def judge(base: Baseline, after: dict[str, Any], diag: Diagnosis, texts: dict[str, tuple[str, str]],
          approved_by: str) -> None:
    """Raise FixError (or NeedsPerson) when the parsed project after the fix is weaker than `base`."""
    if not after.get("nodes") and base.manifest.get("nodes"):
        raise FixError("the project's manifest after the fix is empty; it cannot be compared (refused)")
    for rel, (old, new) in texts.items():
        if Path(rel).name in ("dbt_project.yml", "profiles.yml"):
            _same_project_file(rel, old, new, diag)
    _same_resources(base, after, diag)
    _same_operations(base.manifest, after)
    _same_tests(base.manifest, after)
    _same_unit_tests(base.manifest, after)
    changed = _changed_test_code(base.manifest, after)
    if changed and approved_by != "human":
        raise NeedsPerson(f"the fix changes macro `{changed}`, which tests run; a person must approve that")


def touches_test_code(manifest: dict[str, Any], files: set[str]) -> bool:
    """True when one of `files` defines a macro that tests run (proposals editing it need a person)."""
    macros = manifest.get("macros", {})
    return any(macros.get(uid, {}).get("original_file_path") in files for uid in _test_macros(manifest))


# -- project files: every key outside the resource config blocks stays ----------------------------


def _same_project_file(rel: str, old_text: str, new_text: str, diag: Diagnosis) -> None:
    try:
        old, new = load_yaml(old_text), load_yaml(new_text)
    except yaml.YAMLError:
        return  # a file that did not parse: guards allow only layout repairs, token for token
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise FixError(f"{rel}: is not a mapping after the fix")
    if Path(rel).name == "dbt_project.yml":
        old = {k: v for k, v in old.items() if k not in CONFIG_BLOCKS}
        new = {k: v for k, v in new.items() if k not in CONFIG_BLOCKS}
    for path, was, now in _changes(old, new):
        if not _names_fix(was, now, diag):
            raise FixError(f"{rel}: changes `{'.'.join(map(str, path))}` ({_show(was)} -> {_show(now)}); "
                           "project settings, paths, vars, hooks and profiles are a person's decision")


# -- models, seeds, snapshots ---------------------------------------------------------------------


def _resources(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {uid: n for uid, n in manifest.get("nodes", {}).items()
            if n.get("resource_type") in RESOURCES and n.get("config", {}).get("enabled", True)}


def _same_resources(base: Baseline, after: dict[str, Any], diag: Diagnosis) -> None:
    old, new = _resources(base.manifest), _resources(after)
    gone = sorted(uid for uid in old.keys() - new.keys()
                  if not base.last_good or (base.project_dir / old[uid].get("original_file_path", "")).is_file())
    if gone:
        raise FixError(f"the fix disables or removes `{gone[0]}`; a fix never takes a node out of the project")
    added = sorted(new.keys() - old.keys())
    if added and not base.last_good:
        raise FixError(f"the fix adds `{added[0]}`; a fix repairs nodes, it does not add them")
    for uid in sorted(old.keys() & new.keys()):
        for path, was, now in _changes(old[uid].get("config", {}), new[uid].get("config", {})):
            if not _names_fix(was, now, diag):
                raise FixError(f"the fix changes `{'.'.join(map(str, path))}` of `{uid}` ({_show(was)} -> {_show(now)}); "
                               "only a value the diagnosis names may be corrected")


def _same_operations(old: dict[str, Any], new: dict[str, Any]) -> None:
    def hooks(m: dict[str, Any]) -> dict[str, str]:
        return {uid: n.get("raw_code", "") for uid, n in m.get("nodes", {}).items() if n.get("resource_type") == "operation"}

    if hooks(old) != hooks(new):
        raise FixError("the fix changes the project's on-run-start/on-run-end hooks")


# -- tests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Test:
    uid: str
    kind: str  # "generic" | "singular"
    name: str  # namespace.name of a generic test, the file of a singular one
    attached: str
    kwargs: dict[str, Any]
    node: dict[str, Any]

    @classmethod
    def of(cls, uid: str, node: dict[str, Any]) -> "_Test":
        meta = node.get("test_metadata") or {}
        if meta.get("name"):
            kwargs = {k: v for k, v in (meta.get("kwargs") or {}).items() if k != "model"}
            name = f"{meta.get('namespace') or ''}.{meta['name']}"
            return cls(uid, "generic", name, str(node.get("attached_node") or ""), kwargs, node)
        return cls(uid, "singular", str(node.get("original_file_path")), "", {}, node)

    def same(self, other: "_Test") -> bool:
        return (self.kind, self.name, self.attached, _canon(self.kwargs)) == (other.kind, other.name, other.attached,
                                                                             _canon(other.kwargs))

    def corrected_by(self, other: "_Test") -> bool:
        """`other` is this test with a misspelled name, column, `to` or attached model corrected."""
        if self.kind != "generic" or other.kind != "generic" or self.kwargs.keys() != other.kwargs.keys():
            return False
        return (_equal_or_typo(self.name, other.name) and _equal_or_typo(self.attached, other.attached)
                and all(self.kwargs[k] == other.kwargs[k] or (k in TYPO_FIXABLE_ARGS and isinstance(self.kwargs[k], str)
                        and isinstance(other.kwargs[k], str) and quoted_typo(self.kwargs[k], other.kwargs[k]))
                        for k in self.kwargs))


def _tests(manifest: dict[str, Any]) -> list[_Test]:
    return [_Test.of(uid, n) for uid, n in sorted(manifest.get("nodes", {}).items())
            if n.get("resource_type") == "test" and n.get("config", {}).get("enabled", True)]


def _same_tests(old_manifest: dict[str, Any], new_manifest: dict[str, Any]) -> None:
    remaining = _tests(new_manifest)
    for old in _tests(old_manifest):
        match = next((t for t in remaining if old.same(t)), None) or next((t for t in remaining if old.corrected_by(t)), None)
        if match is None:
            raise FixError(f"the fix removes, disables or changes the test `{old.uid}` "
                           "(only spelling corrections of its name, column or target are allowed)")
        remaining.remove(match)
        for key in TEST_CONFIG:
            was, now = old.node.get("config", {}).get(key), match.node.get("config", {}).get(key)
            if was != now:
                raise FixError(f"the fix changes `{key}` of the test `{old.uid}` ({_show(was)} -> {_show(now)}); "
                               "that weakens a test")
        if old.kind == "singular" and old.node.get("raw_code") != match.node.get("raw_code"):
            raise FixError(f"the fix changes the SQL of the singular test `{old.uid}`")


def _same_unit_tests(old: dict[str, Any], new: dict[str, Any]) -> None:
    def units(m: dict[str, Any]) -> str:
        return _canon({uid: {k: u.get(k) for k in ("model", "given", "expect", "overrides")}
                       for uid, u in (m.get("unit_tests") or {}).items()})

    if units(old) != units(new):
        raise FixError("the fix changes a unit test (its model, inputs or expected rows)")


# -- the code tests run ---------------------------------------------------------------------------


def _test_macros(manifest: dict[str, Any]) -> set[str]:
    """Macros the tests run: what they depend on, what their config names, and everything those call."""
    macros = manifest.get("macros", {})
    by_name: dict[str, set[str]] = {}
    for uid, m in macros.items():
        by_name.setdefault(m.get("name", ""), set()).add(uid)
    stack: list[str] = []
    for t in _tests(manifest):
        stack += [uid for uid in t.node.get("depends_on", {}).get("macros", []) if uid]
        text = _canon([t.node.get("config", {}), t.kwargs])
        stack += [uid for name, uids in by_name.items() if name and re.search(rf"\b{re.escape(name)}\s*\(", text)
                  for uid in uids]
    seen: set[str] = set()
    while stack:
        uid = stack.pop()
        if uid in seen:
            continue
        seen.add(uid)
        stack += [m for m in macros.get(uid, {}).get("depends_on", {}).get("macros", []) if m]
    return seen


def _changed_test_code(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first macro tests run whose code differs, or a new macro that overrides another package's."""
    old_macros, new_macros = old.get("macros", {}), new.get("macros", {})
    for uid in sorted(_test_macros(old) | _test_macros(new)):
        if (old_macros.get(uid) or {}).get("macro_sql") != (new_macros.get(uid) or {}).get("macro_sql"):
            return uid
    packages_of: dict[str, set[str]] = {}
    for m in old_macros.values():
        packages_of.setdefault(_dispatched(m.get("name", "")), set()).add(m.get("package_name", ""))
    for uid, m in sorted(new_macros.items()):
        changed = (old_macros.get(uid) or {}).get("macro_sql") != m.get("macro_sql")
        if changed and packages_of.get(_dispatched(m.get("name", "")), set()) - {m.get("package_name")}:
            return uid  # `duckdb__test_unique` in the project is picked before dbt's own by dispatch
    return None


def _dispatched(name: str) -> str:
    """A macro's name without its dispatch prefix (`duckdb__test_unique`, `default__test_unique` -> `test_unique`)."""
    return name.split("__", 1)[1] if "__" in name.strip("_") else name


# -- helpers --------------------------------------------------------------------------------------


def _changes(old: Any, new: Any, path: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """Every leaf that differs between two parsed documents, with its key path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(old.keys() | new.keys(), key=str):
            out += _changes(old.get(key, _MISSING), new.get(key, _MISSING), (*path, key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new)) for c in _changes(a, b, (*path, i))]
    return [] if old == new else [(path, old, new)]


def _names_fix(was: Any, now: Any, diag: Diagnosis) -> bool:
    """The value the diagnosis names, replaced by one of its candidates or a spelling correction of it."""
    if not diag.identifier or was != diag.identifier or not isinstance(now, str):
        return False
    return now in {c.name for c in diag.candidates} or is_typo_fix(was, now)


def _equal_or_typo(old: str, new: str) -> bool:
    return old == new or is_typo_fix(old.rsplit(".", 1)[-1], new.rsplit(".", 1)[-1])


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    return "absent" if value is _MISSING else json.dumps(value, default=str)[:80]
