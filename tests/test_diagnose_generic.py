"""Rules must be general: src/adp may not name anything from the sample or test projects."""
from __future__ import annotations

import ast
import csv
import io
import re
import tokenize
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROJECT_DIRS = [REPO / "dbt", *sorted((REPO / "tests" / "projects").iterdir())]
RESOURCE_DIRS = ("models", "seeds", "snapshots", "macros", "tests")


def _yaml_names(data) -> set[str]:
    out: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "name" and isinstance(value, str):
                out.add(value)
            out |= _yaml_names(value)
    elif isinstance(data, list):
        for item in data:
            out |= _yaml_names(item)
    return out


def project_identifiers(project: Path) -> set[str]:
    """Model, seed, snapshot, macro, source and column names of one project."""
    names: set[str] = set()
    for sub in RESOURCE_DIRS:
        for path in (project / sub).rglob("*"):
            if path.suffix in (".sql", ".csv"):
                names.add(path.stem)
            if path.suffix == ".csv":
                names |= set(next(csv.reader(path.read_text(encoding="utf-8").splitlines()[:1]), []))
            if path.suffix == ".sql":
                text = path.read_text(encoding="utf-8")
                names |= set(re.findall(r"\bas\s+([a-z_][a-z0-9_]*)\b", text, re.I))
                names |= set(re.findall(r"\{%-?\s*macro\s+(\w+)", text))
            if path.suffix in (".yml", ".yaml"):
                names |= _yaml_names(yaml.safe_load(path.read_text(encoding="utf-8")))
    # Compound names are distinctive; single common words (status, amount) are not project-specific.
    return {n for n in names if "_" in n.strip("_") and not n.startswith("__")}


def code_tokens(path: Path):
    """(line, text) of every name and string literal of a module, without comments and docstrings.

    Docstrings and comments may illustrate with the sample project (CLI examples); code may not.
    """
    source = path.read_text(encoding="utf-8")
    docs = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant) and isinstance(node.value.value, str):
            docs.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.NAME, tokenize.STRING) and tok.start[0] not in docs:
            yield tok.start[0], tok.string


def test_src_names_no_project_identifiers():
    identifiers = set().union(*(project_identifiers(p) for p in PROJECT_DIRS if (p / "dbt_project.yml").is_file()))
    assert {"stg_orders", "customer_id", "safe_divide"} <= identifiers  # the scan itself works
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, identifiers))) + r")\b")
    hits = [
        f"{path.relative_to(REPO)}:{number}: {m.group(1)}"
        for path in sorted((REPO / "src" / "adp").rglob("*.py"))
        for number, text in code_tokens(path)
        for m in [pattern.search(text)]
        if m
    ]
    assert not hits, "project identifiers in src/adp (rules must be general):\n" + "\n".join(hits)
