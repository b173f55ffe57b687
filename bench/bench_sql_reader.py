"""The SQL reader (issue 17): sqlglot vs DuckDB's own parser on the corpus's compiled SQL, and the binder's cost.

    .venv/bin/python bench/bench_sql_reader.py --repeat 5

Builds tests/projects/{shop,library,mini,ledger} in a temp dir (or reuses `--root`), then reads every compiled
statement of those builds and of the fault corpus's recordings (manifest `compiled_code`) with both
readers, side by side: parse success on valid SQL, the facts each gives for the final SELECT and whether
the two agree, robustness on broken SQL (the corpus's faulted statements and mutations of the valid
ones), time per statement (median of `--repeat`, caches cleared), and `DESCRIBE` of every compiled model
against its built warehouse: the binder's cost per fix candidate.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml
from common import BIN, REPO, machine, run

from adp.diagnose import sql_columns
from adp.project import DbtProject
from adp.warehouses import for_project
from adp.warehouses.duckdb import queries

PROJECTS = ("shop", "library", "mini", "ledger")


# -- the corpus ------------------------------------------------------------------------------------

def build(root: Path) -> list[Path]:
    """Each project copied under `root` (with the local packages it declares beside it) and built once."""
    out = []
    for name in PROJECTS:
        src, dest = REPO / "tests" / "projects" / name, root / name
        if not (dest / "target" / "manifest.json").is_file():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest)
            spec = yaml.safe_load((src / "packages.yml").read_text()) if (src / "packages.yml").is_file() else {}
            for package in [p["local"] for p in spec.get("packages", []) if "local" in p]:
                shutil.copytree(src / package, dest / package, dirs_exist_ok=True)
                run([str(BIN / "dbt"), "deps", "--project-dir", ".", "--profiles-dir", "."], cwd=dest)
            run([str(BIN / "dbt"), "build", "--project-dir", ".", "--profiles-dir", "."], cwd=dest)
        out.append(dest)
    return out


def corpus(projects: list[Path]) -> tuple[dict[str, str], dict[str, str]]:
    """(valid, faulted): SQL text -> where it came from; faulted = nodes that failed in a fault recording."""
    valid: dict[str, str] = {}
    faulted: dict[str, str] = {}
    for path in sorted((REPO / "tests" / "faults").glob("*/recorded/target/manifest.json.gz")):
        case = path.parents[2]
        nodes = json.loads(gzip.open(path, "rt", encoding="utf-8").read())["nodes"]
        result = json.loads((case / "recorded" / "result.json").read_text(encoding="utf-8"))
        failed = {n["unique_id"] for n in result["nodes"] if n["status"] == "error"}
        for uid, node in nodes.items():
            if node.get("compiled_code"):
                (faulted if uid in failed else valid).setdefault(node["compiled_code"], f"{case.name}:{uid}")
    for project in projects:
        for f in sorted((project / "target" / "compiled").rglob("*.sql")):
            valid.setdefault(f.read_text(encoding="utf-8"), str(f.relative_to(project.parent)))
    return {s: w for s, w in valid.items() if s not in faulted}, faulted


def mutations(sql: str) -> list[str]:
    """Broken variants of a valid statement: the usual hand-made mistakes."""
    out = [sql[: len(sql) * 2 // 3]]
    for old, new in ((",", ""), (")", ""), (" from ", " form "), ("join ", "jion "), ("group by", "gruop by")):
        i = sql.rfind(old) if old == ")" else sql.find(old)
        if i >= 0:
            out.append(sql[:i] + new + sql[i + len(old):])
    return out


# -- reader 1: sqlglot (adp.diagnose.sql_columns) --------------------------------------------------

def read_sqlglot(sql: str) -> dict | None:
    sql_columns._parse.cache_clear()
    sql_columns.selects.cache_clear()
    found = sql_columns.selects(sql)
    if not found:
        return None
    final = found[-1]
    return {
        "ctes": sorted(sql_columns.ctes(sql)),
        "items": [(i.name and i.name.lower(), i.aggregated) for i in final.items],
        "relations": [(r.alias.lower(), r.join) for r in final.relations],
        "group": final.group and (final.group.all, final.group.positions, len(final.group.names)),
        "refs": sorted(((r.qualifier or "").lower(), r.name.lower(), r.start) for r in final.refs),
    }


# -- reader 2: DuckDB's parser (json_serialize_sql) ------------------------------------------------

class DuckDBReader:
    """The same facts from DuckDB's JSON AST; aggregates from the engine's own function catalog."""

    JOINS = {"INNER": "inner", "LEFT": "left", "RIGHT": "right", "OUTER": "full"}

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        self.aggregates = {r[0] for r in self.con.execute(
            "select function_name from duckdb_functions() where function_type = 'aggregate'").fetchall()}

    def parse(self, sql: str) -> dict:
        return json.loads(self.con.execute("select json_serialize_sql(?::varchar)", [sql]).fetchone()[0])

    def read(self, sql: str) -> dict | None:
        ast = self.parse(sql)
        if ast.get("error"):
            return None
        node = ast["statements"][0]["node"]
        ctes = sorted(c["key"].lower() for c in node.get("cte_map", {}).get("map", []))
        while node["type"] == "SET_OPERATION_NODE":
            node = node["left"]
        return {
            "ctes": ctes,
            "items": [(self.name(e), self.aggregated(e)) for e in node["select_list"]],
            "relations": self.relations(node["from_table"], "from"),
            "group": self.group(node),
            "refs": sorted(self.refs(node, top=True)),
        }

    @staticmethod
    def name(e: dict) -> str | None:
        if e.get("alias"):
            return e["alias"].lower()
        if e["class"] == "COLUMN_REF":
            return e["column_names"][-1].lower()
        return "*" if e["class"] == "STAR" else None

    def aggregated(self, e: object) -> bool:
        if isinstance(e, list):
            return any(self.aggregated(x) for x in e)
        if not isinstance(e, dict) or e.get("type") == "SELECT_NODE" or e.get("class") == "WINDOW":
            return False
        if e.get("class") == "FUNCTION" and e.get("function_name") in self.aggregates:
            return True
        return any(self.aggregated(v) for v in e.values())

    def relations(self, t: dict | None, kind: str) -> list[tuple[str, str]]:
        if not t or t["type"] == "EMPTY":
            return []
        if t["type"] == "JOIN":
            right = {"CROSS": "cross", "NATURAL": "natural"}.get(t.get("ref_type"), self.JOINS.get(t["join_type"], "inner"))
            return self.relations(t["left"], kind) + self.relations(t["right"], right)
        return [((t.get("alias") or t.get("table_name") or "").lower(), kind)]

    @staticmethod
    def group(node: dict) -> tuple | None:
        items = node.get("group_expressions") or []
        if node.get("aggregate_handling") == "FORCE_AGGREGATES":
            return (True, (), 0)
        if not items:
            return None
        positions = tuple(int(e["literal"]["text"]) for e in items if e["class"] == "CONSTANT" and e["literal"]["kind"] == "INTEGER")
        return (False, positions, len(items) - len(positions))

    def refs(self, e: object, top: bool = False) -> list[tuple[str, str, int]]:
        if isinstance(e, list):
            return [r for x in e for r in self.refs(x)]
        if not isinstance(e, dict) or (e.get("type") == "SELECT_NODE" and not top):
            return []
        if e.get("class") == "COLUMN_REF":
            names = e["column_names"]
            return [((names[-2] if len(names) > 1 else "").lower(), names[-1].lower(), e["query_location"])]
        return [r for k, v in e.items() if k != "cte_map" for r in self.refs(v)]


# -- measuring ---------------------------------------------------------------------------------------

def timed(fn, sql: str, repeat: int) -> tuple[object, float]:
    """fn(sql) and its median time in ms over `repeat` calls."""
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn(sql)
        times.append((time.perf_counter() - started) * 1000)
    return out, statistics.median(times)


def compare(valid: dict[str, str], dd: DuckDBReader, repeat: int) -> None:
    keys = ("ctes", "items", "relations", "group", "refs")
    ok = {"sqlglot": 0, "duckdb": 0}
    agree = dict.fromkeys(keys, 0)
    ms: dict[str, list[float]] = {"sqlglot": [], "duckdb": []}
    both = 0
    for sql in valid:
        a, ta = timed(read_sqlglot, sql, repeat)
        b, tb = timed(dd.read, sql, repeat)
        ms["sqlglot"].append(ta)
        ms["duckdb"].append(tb)
        ok["sqlglot"] += a is not None
        ok["duckdb"] += b is not None
        if a is not None and b is not None:
            both += 1
            for k in keys:
                agree[k] += a[k] == b[k]
                if a[k] != b[k]:
                    print(f"  differ on {k} ({valid[sql]}): sqlglot {a[k]} / duckdb {b[k]}")
    n = len(valid)
    print(f"\nvalid statements: {n}")
    print(f"  parsed: sqlglot {ok['sqlglot']}/{n}, duckdb {ok['duckdb']}/{n}")
    print(f"  facts of the final SELECT equal in both readers (of {both}): "
          + ", ".join(f"{k} {agree[k]}" for k in keys))
    sg, du = statistics.median(ms["sqlglot"]), statistics.median(ms["duckdb"])
    print(f"  ms per statement (parse + facts), median over statements: sqlglot {sg:.2f} "
          f"(max {max(ms['sqlglot']):.2f}), duckdb {du:.2f} (max {max(ms['duckdb']):.2f}); sqlglot/duckdb {sg / du:.2f}x")


def robustness(broken: list[str], dd: DuckDBReader) -> None:
    engine_rejects = [s for s in broken if dd.parse(s).get("error")]
    lenient = [s for s in engine_rejects if sql_columns.selects(s)]
    crashed = 0
    for s in broken:
        try:
            sql_columns.selects(s)
            sql_columns.ctes(s), sql_columns.from_relations(s), sql_columns.select_items(s)
        except Exception:  # noqa: BLE001 - what is measured is that nothing escapes
            crashed += 1
    located = sum(bool(dd.parse(s).get("position")) for s in engine_rejects)
    print(f"\nbroken statements: {len(broken)} (corpus faults and mutations); DuckDB's parser rejects {len(engine_rejects)}")
    print(f"  duckdb: an error with a position for {located}/{len(engine_rejects)}, no tree")
    print(f"  sqlglot: reads {len(lenient)}/{len(engine_rejects)} of those anyway (laxer than the engine: "
          f"never a syntax judge); exceptions escaping the reader: {crashed}/{len(broken)}")


def aggregates(dd: DuckDBReader) -> None:
    """How many of DuckDB's aggregate functions sqlglot reads as aggregates (the rest read as plain calls)."""
    names = sorted(n for n in dd.aggregates if n.isidentifier() and not n.startswith("_"))
    known = [n for n in names if any(sql_columns.selects(f"select {n}({args}) from t") and
                                     sql_columns.selects(f"select {n}({args}) from t")[0].items[0].aggregated
                                     for args in ("x", "x, y"))]
    missed = sorted(set(names) - set(known))
    print(f"\nDuckDB's aggregate functions that sqlglot reads as aggregates: {len(known)}/{len(names)}"
          f" (not: {', '.join(missed[:12])}{', ...' if len(missed) > 12 else ''})")


def bind_cost(projects: list[Path], repeat: int) -> None:
    """ms per DESCRIBE of each compiled model on one open connection, and per bind() call (connect included)."""
    per_query, per_call = [], []
    for path in projects:
        project = DbtProject.open(path, path)
        models = [f.read_text(encoding="utf-8") for f in sorted((path / "target" / "compiled").rglob("*.sql"))
                  if "/models/" in f.as_posix() and "schema.yml" not in f.as_posix()]
        # the shop's views read CSV files by paths relative to the project, as bind() resolves them
        with contextlib.chdir(path), duckdb.connect(str(queries.database_path(project)), read_only=True) as con:
            per_query += [timed(lambda s: queries.describe_query(con, s), sql, repeat)[1] for sql in models]
        for sql in models:
            bound, ms = timed(lambda s: for_project(project).bind(project, [s]), sql, repeat)
            assert bound and bound[0].ok, f"{path.name}: a built model does not bind: {bound}"
            per_call.append(ms)
    print(f"\nbinder (DESCRIBE <compiled model>) on the built warehouses, {len(per_call)} models:")
    print(f"  ms per candidate on an open connection: median {statistics.median(per_query):.2f} (max {max(per_query):.2f})")
    print(f"  ms per bind() call of one candidate (read-only connect + DESCRIBE + close): "
          f"median {statistics.median(per_call):.2f} (max {max(per_call):.2f})")


def import_cost(repeat: int) -> None:
    """ms to import each parser in a fresh interpreter (timed inside it: start-up left out)."""
    def once(module: str) -> float:
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        return float(run([sys.executable, "-c", code], cwd=REPO)[2]) * 1000
    sg = statistics.median(once("sqlglot.optimizer.scope") for _ in range(repeat))
    du = statistics.median(once("duckdb") for _ in range(repeat))
    print(f"\nimport in a fresh interpreter: sqlglot {sg:.0f} ms, duckdb {du:.0f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", default=None, help="where the projects are built (default: a new temp dir)")
    args = parser.parse_args(argv)
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "cannot be transpiled" notes
    root = Path(args.root or tempfile.mkdtemp(prefix="adp-bench-reader-"))
    print(f"$ python {' '.join(sys.argv)}\nprojects at {root}; {machine()}")
    projects = build(root)
    valid, faulted = corpus(projects)
    dd = DuckDBReader()
    compare(valid, dd, args.repeat)
    robustness(list(faulted) + [m for s in valid for m in mutations(s)], dd)
    aggregates(dd)
    bind_cost(projects, args.repeat)
    import_cost(args.repeat)
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()
