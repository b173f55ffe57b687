"""What every diagnosis rule family shares: the `rule` declaration and the text helpers.

A rule is a plain function. A rule that reads a warehouse error declares the fact kinds it handles
(`@rule(facts=(F.GROUP_BY,))`) and receives the parsed `SqlFact` as a third argument; the registry
calls it only for those kinds, so no rule re-checks the fact. A rule may also declare the resource
types of the failed node it is about (`resources=("test",)`). A rule that declares no facts reads
dbt's own text and is called for every failure.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_pattern, find_yaml_key

R = TypeVar("R", bound=Callable[..., object])

_HEADER = re.compile(r"(?:Compilation|Parsing|Runtime|Database) Error in (?P<type>\w+) (?P<name>\S+) \((?P<file>[^)]+)\)")


def rule(*, facts: Iterable[str] | None = None, resources: Iterable[str] | None = None) -> Callable[[R], R]:
    """Declare what a diagnosis rule handles: warehouse fact kinds and/or the failed node's resource types.

    >>> @rule(facts=("group_by",))
    ... def example(ctx, f, fact): ...
    >>> sorted(example.facts), example.resources
    (['group_by'], None)
    """
    def declare(fn: R) -> R:
        fn.facts = frozenset(facts) if facts is not None else None  # type: ignore[attr-defined]
        fn.resources = frozenset(resources) if resources is not None else None  # type: ignore[attr-defined]
        return fn

    return declare


def header(f: Failure) -> re.Match[str] | None:
    return _HEADER.search(f.text)


def node_id(f: Failure) -> str | None:
    return f.node.unique_id if f.node else None


def grep_project(ctx: Context, pattern: str, exts: tuple[str, ...] = (".sql", ".yml", ".yaml")) -> Location | None:
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


def project_file(ctx: Context, reported: str) -> str | None:
    """A project-relative path for a path dbt reported relative to some resource directory."""
    if ctx.exists(reported):
        return reported
    matches = sorted(
        str(p.relative_to(ctx.project.project_dir))
        for p in ctx.project.project_dir.rglob(Path(reported).name)
        if str(p).endswith(reported) and "target" not in p.relative_to(ctx.project.project_dir).parts
    )
    return matches[0] if matches else None


def line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)].strip()


def after(text: str, marker: str) -> str:
    i = text.find(marker)
    return text[i + len(marker):].split("\n", 1)[0] if i >= 0 else ""


def lines_with(text: str, needle: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if needle in ln]


def yaml_test_line(text: str, model: str | None, column: str | None, test: str | None) -> int | None:
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
