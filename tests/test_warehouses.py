"""Every engine against the typed interface (`adp.warehouses.base.Warehouse`), and no probing of one.

The interface is read with `inspect`, so an operation added to it is checked here without editing
this file: each registered engine must implement every abstract one with the same parameters, and
every operation must be callable on every engine (a default, not an AttributeError a caller catches).
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from adp.project import DbtProject
from adp.warehouses import WAREHOUSES, for_project
from adp.warehouses.base import Warehouse
from adp.warehouses.duckdb import DuckDB
from adp.warehouses.spark import Spark

SRC = Path(__file__).resolve().parents[1] / "src" / "adp"
OPERATIONS = sorted(n for n, m in inspect.getmembers(Warehouse, inspect.isfunction) if not n.startswith("_"))
ABSTRACT = sorted(Warehouse.__abstractmethods__)
ENGINES = sorted(WAREHOUSES.items())


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_the_interface_lists_the_operations_the_core_calls():
    assert {"lock_path", "parse_error"} <= set(ABSTRACT)
    assert {"function_names", "relation_columns", "sql_parses", "column_types", "profile_relations",
            "release_in_process_handles"} <= set(OPERATIONS)
    for name in OPERATIONS:
        assert inspect.getdoc(getattr(Warehouse, name)), f"Warehouse.{name} has no docstring"


@pytest.mark.parametrize("key, engine", ENGINES, ids=[k for k, _ in ENGINES])
def test_each_engine_implements_the_interface(key, engine):
    assert inspect.isclass(engine) and issubclass(engine, Warehouse)
    assert engine.name == key
    assert not inspect.isabstract(engine), f"{engine.__name__} leaves {sorted(engine.__abstractmethods__)} abstract"
    instance = engine()
    assert isinstance(instance, Warehouse)
    for name in ABSTRACT:
        assert getattr(engine, name) is not getattr(Warehouse, name), f"{engine.__name__}.{name} is not implemented"
    for name in OPERATIONS:
        assert callable(getattr(instance, name))
        assert _params(getattr(instance, name)) == _params(getattr(Warehouse, name))[1:], f"{engine.__name__}.{name}"


def test_defaults_mean_cannot_tell(tmp_path):
    class Bare(Warehouse):
        name = "bare"

        def lock_path(self, project):
            return tmp_path / ".adp.lock"

        def parse_error(self, text):
            return None

    bare = Bare()
    assert bare.function_names() == [] and bare.sql_parses("select 1") is None
    assert bare.relation_columns(None, "x") is None and bare.column_types(None, [(None, "s", "t")]) == {}
    assert bare.profile_relations(None, []) == [] and bare.release_in_process_handles() is None
    assert bare.bind(None, ["select 1"]) is None  # the judge was skipped


def _project(tmp_path: Path, kind: str) -> DbtProject:
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n", encoding="utf-8")
    (tmp_path / "profiles.yml").write_text(
        f"p:\n  target: dev\n  outputs:\n    dev:\n      type: {kind}\n      path: w.duckdb\n      schema: s\n",
        encoding="utf-8",
    )
    return DbtProject.open(tmp_path, tmp_path, None)


@pytest.mark.parametrize("kind, engine", [("duckdb", DuckDB), ("spark", Spark), ("postgres", DuckDB)])
def test_for_project_picks_the_engine_by_profile_type(tmp_path, kind, engine):
    warehouse = for_project(_project(tmp_path, kind))
    assert type(warehouse) is engine and isinstance(warehouse, Warehouse)


def test_duckdb_locks_next_to_its_file(tmp_path):
    project = _project(tmp_path, "duckdb")
    assert for_project(project).lock_path(project) == (tmp_path / "w.duckdb.adp.lock").resolve()


def test_duckdb_binds_without_running_and_reads_relative_paths_from_the_project(tmp_path, monkeypatch):
    import duckdb

    project = _project(tmp_path, "duckdb")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema s; create table s.t as select 1 as id, 'x' as name")
    before = (tmp_path / "w.duckdb").stat().st_mtime_ns
    monkeypatch.chdir(tmp_path.parent)  # adp's working directory is not the project's
    ok, typo, grouped, from_file = for_project(project).bind(project, [
        'select id, name from "w"."s"."t"', 'select nmae from "w"."s"."t"',
        'select name, count(*) from "w"."s"."t";', "select a from read_csv('data/x.csv')",
    ])
    assert ok.ok and ok.columns == ("id", "name") and ok.error is None
    assert not typo.ok and 'Candidate bindings: "name"' in typo.error
    assert not grouped.ok and "GROUP BY" in grouped.error
    assert from_file.ok, from_file.error
    assert (tmp_path / "w.duckdb").stat().st_mtime_ns == before


def _probes(path: Path) -> list[str]:
    """getattr/hasattr calls whose object is a warehouse: `for_project(...)`, or a name/attribute `*warehouse*`."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")):
            continue
        target = node.args[0] if node.args else None
        text = ast.unparse(target) if target is not None else ""
        if "for_project(" in text or "warehouse" in text.lower() or text in {name.lower() for name in WAREHOUSES}:
            hits.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
    return hits


def test_no_caller_probes_a_warehouse():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 30
    hits = [h for p in files for h in _probes(p)]
    assert hits == [], "probing instead of the typed interface (adp.warehouses.base.Warehouse):\n" + "\n".join(hits)
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    assert "getattr(for_project" not in text and "hasattr(for_project" not in text


class _FakeSpark:
    """Just enough of a SparkSession for the profile query (no JVM): records the SQL, answers one row."""

    def __init__(self, row):
        self.row, self.sql_seen = row, []
        self.catalog = self

    def getTable(self, name):  # noqa: N802 - pyspark's name
        raise RuntimeError("no catalog lookup here")

    def sql(self, text):
        self.sql_seen.append(text)
        return self

    def collect(self):
        return [self.row]


def test_spark_profiles_a_table_with_one_query():
    from adp.history_db import RelationRef
    from adp.warehouses.spark import queries

    spark = _FakeSpark((5, 4, "1", "9", 5, None, None))
    ref = RelationRef("model.p.orders", "model", None, "shop", "orders")
    prof = queries.profile(spark, ref, [("id", "bigint"), ("note", "string")])
    assert spark.sql_seen == ["select count(*), count(`id`), cast(min(`id`) as string), cast(max(`id`) as string), "
                              "count(`note`), null, null from `shop`.`orders`"]
    assert prof.kind == "table" and prof.row_count == 5
    assert [(c.name, c.null_count, c.min_value, c.max_value) for c in prof.columns] == [("id", 1, "1", "9"), ("note", 0, None, None)]
