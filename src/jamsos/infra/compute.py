"""The analytics engines (Ibis over DuckDB or PySpark): the only module that connects to them.

KPI code receives Ibis tables and never knows which engine runs them (DESIGN §3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
from ibis.backends import BaseBackend

from jamsos.kernel.errors import DomainError

ENGINES = ("duckdb", "spark")
PARTITIONED = {"contribution_months": "period"}
TABLES = ("contribution_months", "registrations", "offices", "regions")


class WarehouseMissing(DomainError):
    code = "warehouse_missing"


class UnknownEngine(DomainError):
    code = "unknown_engine"


@dataclass(frozen=True)
class Warehouse:
    """The steering datasets of one warehouse directory, as Ibis tables on one engine."""

    engine: str
    directory: Path
    tables: dict[str, ibis.Table]

    def __getitem__(self, name: str) -> ibis.Table:
        return self.tables[name]


_spark: Any = None


def connect(engine: str = "duckdb", *, threads: int | None = None, memory_limit: str | None = None) -> BaseBackend:
    """A connection to ``engine``. Spark runs in local mode; its session is made once per process."""
    if engine == "duckdb":
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        return ibis.duckdb.connect(**config)
    if engine == "spark":
        return ibis.pyspark.connect(_spark_session(threads))
    raise UnknownEngine(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _spark_session(threads: int | None) -> Any:
    global _spark
    if _spark is None:
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", "python3")
        _spark = (
            SparkSession.builder.master(f"local[{threads or '*'}]")
            .appName("jamsos")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(max(4, 2 * (threads or os.cpu_count() or 2))))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            .config("spark.driver.memory", os.environ.get("JAMSOS_SPARK_DRIVER_MEMORY", "4g"))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        _spark.sparkContext.setLogLevel("ERROR")
    return _spark


def open_warehouse(con: BaseBackend, directory: Path, engine: str) -> Warehouse:
    """The steering tables of ``directory`` (layout: docs/warehouse.md)."""
    missing = [name for name in TABLES if not (directory / name).is_dir()]
    if missing:
        raise WarehouseMissing(
            f"{directory} has no {', '.join(missing)}: build it with `jamsos synth` or export/import"
        )
    tables: dict[str, ibis.Table] = {}
    for name in TABLES:
        path = directory / name
        if engine == "duckdb":
            pattern = str(path / "**" / "*.parquet")
            kw: dict[str, Any] = {"hive_partitioning": name in PARTITIONED, "union_by_name": True}
            if name in PARTITIONED:
                kw["hive_types_autocast"] = False
            tables[name] = con.read_parquet(pattern, table_name=f"w_{name}", **kw)
        else:
            tables[name] = con.read_parquet(str(path), table_name=f"w_{name}", mergeSchema="true")
    return Warehouse(engine, directory, tables)


def to_rows(expr: ibis.Table) -> list[dict[str, Any]]:
    """Run ``expr`` and return plain Python rows."""
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return rows
