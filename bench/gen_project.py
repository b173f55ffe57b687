"""A deterministic generator of synthetic dbt-duckdb projects of N models, for the benchmarks.

Layout of the generated workspace (the same shape as this repo, so `adp run` works from its root):

    <root>/dbt/            the dbt project (profile `bench`, DuckDB file dbt/bench.duckdb)
      seeds/               seed_XX.csv (about N/50 of them)
      models/staging/gNN/  stg_XXXX views over a seed or a raw source (~30 % of the models)
      models/intermediate/ int_XXXX left joins of 1-3 parents; tables, ~15 % views over staging
      models/marts/        mart_XXXX aggregates of 1-4 parents (tables)
      each gNN/ folder holds 50 models and one _gNN.yml with their generic tests
    <root>/config/sources.yml   CSV sources in data/raw/ loaded by `adp ingest` into schema raw
    <root>/data/raw/       raw_XX.csv

Parents are picked with preferential attachment (a node with many children is more likely to get
another), which gives the fan-in/fan-out of real projects. Views are at most two deep (a view over
a staging view); most models are tables. Every relation has the columns id (unique), grp, amount,
label, d, so any model may reference any earlier one.

    .venv/bin/python bench/gen_project.py /tmp/bench1000 --models 1000
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

GROUP = 50  # models per folder (and per YAML file)
ROWS = 60  # rows per seed / raw file
GRPS = 10  # distinct values of `grp` (accepted_values tests use them)


@dataclass
class Model:
    name: str
    layer: str  # staging | intermediate | marts
    parents: list[str]  # model names, or `seed:<name>` / `source:<name>`
    materialized: str
    tests: list[tuple[str, str, dict]] = field(default_factory=list)  # (column, test, arguments)

    @property
    def folder(self) -> str:
        return f"{self.layer}/g{int(self.name.split('_')[1]) // GROUP:02d}"


@dataclass
class Generated:
    """What was written: paths and the graph, for the benchmark scripts."""

    root: Path
    models: dict[str, Model]

    @property
    def project_dir(self) -> Path:
        return self.root / "dbt"

    def model_file(self, name: str) -> Path:
        return self.project_dir / "models" / self.models[name].folder / f"{name}.sql"

    def descendants(self, name: str) -> set[str]:
        children: dict[str, list[str]] = {}
        for m in self.models.values():
            for p in m.parents:
                children.setdefault(p, []).append(m.name)
        seen: set[str] = set()
        todo = [name]
        while todo:
            for c in children.get(todo.pop(), []):
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return seen

    def fault_model(self) -> str:
        """An intermediate table whose subgraph is about 2 % of the models (a typical one-model fault)."""
        want = max(1, round(0.02 * len(self.models)))
        tables = [m.name for m in self.models.values() if m.layer == "intermediate" and m.materialized == "table"]
        return min(tables, key=lambda n: (abs(len(self.descendants(n)) - want), n))


def plan(n_models: int, seed: int = 0) -> tuple[dict[str, Model], int, int]:
    """The graph: models with parents, materializations and tests; plus the number of seeds and raw files."""
    rng = random.Random(seed)
    n_seeds = max(2, n_models // 50)
    n_raw = max(1, n_models // 250)
    n_stg = max(1, round(0.3 * n_models))
    n_int = max(1, round(0.45 * n_models))
    n_mart = max(1, n_models - n_stg - n_int)
    models: dict[str, Model] = {}
    weight: dict[str, int] = {}  # preferential attachment: 1 + number of children

    def pick(pool: list[str], k: int) -> list[str]:
        chosen: list[str] = []
        while len(chosen) < min(k, len(pool)):
            p = rng.choices(pool, weights=[weight[x] for x in pool])[0]
            if p not in chosen:
                chosen.append(p)
        for p in chosen:
            weight[p] += 1
        return chosen

    i = 0
    for s in range(n_stg):
        parent = f"source:raw_{s % n_raw:02d}" if s % 4 == 3 else f"seed:seed_{s % n_seeds:02d}"
        models[f"stg_{i:04d}"] = Model(f"stg_{i:04d}", "staging", [parent], "view")
        i += 1
    staging = list(models)
    for name in staging:
        weight[name] = 1
    tables: list[str] = []
    for _ in range(n_int):
        name = f"int_{i:04d}"
        as_view = rng.random() < 0.15
        pool = staging if as_view else staging + tables
        models[name] = Model(name, "intermediate", pick(pool, rng.randint(1, 3)), "view" if as_view else "table")
        weight[name] = 1
        if not as_view:
            tables.append(name)
        i += 1
    marts: list[str] = []
    for _ in range(n_mart):
        name = f"mart_{i:04d}"
        pool = tables + marts if marts and rng.random() < 0.1 else tables or staging
        models[name] = Model(name, "marts", pick(pool, rng.randint(1, 4)), "table")
        weight[name] = 1
        marts.append(name)
        i += 1
    for m in models.values():
        if rng.random() < 0.55:
            m.tests += [("id", "unique", {}), ("id", "not_null", {})]
        if rng.random() < 0.05:
            m.tests.append(("grp", "accepted_values", {"values": list(range(GRPS))}))
        first = m.parents[0]
        if m.layer == "intermediate" and ":" not in first and rng.random() < 0.1:
            m.tests.append(("id", "relationships", {"to": f"ref('{first}')", "field": "id"}))
    return models, n_seeds, n_raw


def generate(root: Path, n_models: int, seed: int = 0) -> Generated:
    """Write the workspace for `n_models` models under `root` (replaced if it exists)."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    models, n_seeds, n_raw = plan(n_models, seed)
    project = root / "dbt"
    (project / "seeds").mkdir(parents=True)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "config").mkdir()
    _write_project(project)
    for s in range(n_seeds):
        (project / "seeds" / f"seed_{s:02d}.csv").write_text(_csv(random.Random(seed * 1000 + s)), encoding="utf-8")
    for r in range(n_raw):
        (root / "data" / "raw" / f"raw_{r:02d}.csv").write_text(_csv(random.Random(seed * 1000 + 500 + r)), encoding="utf-8")
    (project / "models").mkdir()
    (project / "models" / "sources.yml").write_text(_sources_yml(n_raw), encoding="utf-8")
    (root / "config" / "sources.yml").write_text(_ingest_yml(), encoding="utf-8")
    folders: dict[str, list[Model]] = {}
    for m in models.values():
        folders.setdefault(m.folder, []).append(m)
    for folder, members in folders.items():
        d = project / "models" / folder
        d.mkdir(parents=True)
        for m in members:
            (d / f"{m.name}.sql").write_text(_sql(m), encoding="utf-8")
        (d / f"_{folder.split('/')[-1]}.yml").write_text(_schema_yml(members), encoding="utf-8")
    return Generated(root, models)


def _write_project(project: Path) -> None:
    (project / "dbt_project.yml").write_text(
        "name: bench\nversion: \"1.0.0\"\nconfig-version: 2\nprofile: bench\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
        "models:\n  bench:\n    staging:\n      +materialized: view\n"
        "    intermediate:\n      +materialized: table\n    marts:\n      +materialized: table\n"
        "seeds:\n  bench:\n    +column_types:\n      id: integer\n      grp: integer\n"
        "      amount: decimal(12, 2)\n      d: date\n",
        encoding="utf-8",
    )
    (project / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: bench.duckdb\n      threads: 4\n",
        encoding="utf-8",
    )


def _csv(rng: random.Random) -> str:
    start = date(2024, 1, 1)
    lines = ["id,grp,amount,label,d"]
    for i in range(1, ROWS + 1):
        lines.append(f"{i},{rng.randrange(GRPS)},{rng.randint(100, 99999) / 100:.2f},l{rng.randrange(1000)},"
                     f"{start + timedelta(days=rng.randrange(365))}")
    return "\n".join(lines) + "\n"


def _sql(m: Model) -> str:
    if m.layer == "staging":
        kind, name = m.parents[0].split(":")
        rel = f"ref('{name}')" if kind == "seed" else f"source('raw', '{name}')"
        return (
            f"select cast(id as integer) as id, cast(grp as integer) as grp, cast(amount as double) as amount,\n"
            f"    cast(label as {{{{ dbt.type_string() }}}}) as label, cast(d as date) as d\nfrom {{{{ {rel} }}}}\n"
        )
    head = "{{ config(materialized='view') }}\n" if m.materialized == "view" else ""
    amount = " + ".join(f"coalesce(p{k}.amount, 0)" for k in range(len(m.parents)))
    joins = "".join(f"\nleft join {{{{ ref('{p}') }}}} as p{k} on p{k}.id = p0.id" for k, p in enumerate(m.parents) if k)
    base = (
        f"select p0.id, p0.grp, {amount} as amount, p0.label, p0.d\n"
        f"from {{{{ ref('{m.parents[0]}') }}}} as p0{joins}"
    )
    if m.layer == "intermediate":
        return head + base + "\n"
    return (
        head + f"with joined as (\n{base}\n)\n"
        "select grp as id, grp, sum(amount) as amount, min(label) as label, max(d) as d\n"
        "from joined\ngroup by grp\n"
    )


def _schema_yml(models: list[Model]) -> str:
    out = ["version: 2", "", "models:"]
    for m in models:
        out.append(f"  - name: {m.name}")
        if not m.tests:
            continue
        out.append("    columns:")
        by_column: dict[str, list[tuple[str, dict]]] = {}
        for column, test, args in m.tests:
            by_column.setdefault(column, []).append((test, args))
        for column, tests in by_column.items():
            out += [f"      - name: {column}", "        data_tests:"]
            for test, args in tests:
                if not args:
                    out.append(f"          - {test}")
                    continue
                out += [f"          - {test}:", "              arguments:"]
                out += [f"                {k}: {json.dumps(v)}" for k, v in args.items()]
    return "\n".join(out) + "\n"


def _sources_yml(n_raw: int) -> str:
    tables = "\n".join(f"      - name: raw_{r:02d}" for r in range(n_raw))
    return f"version: 2\n\nsources:\n  - name: raw\n    schema: raw\n    tables:\n{tables}\n"


def _ingest_yml() -> str:
    return (
        "project: dbt\nstate_schema: raw\n\nsources:\n  files:\n    csv:\n      enabled: true\n"
        "      path: data/raw/\n      pattern: \"*.csv\"\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="directory to write (replaced)")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gen = generate(args.root, args.models, args.seed)
    tests = sum(len(m.tests) for m in gen.models.values())
    print(f"wrote {gen.project_dir}: {len(gen.models)} models, {tests} tests; fault model {gen.fault_model()}")


if __name__ == "__main__":
    main()
