"""Benchmark: the national synthetic warehouse and the full KPI snapshot for 2023-12.

At scale 1.0 (the 13 months 2022-12 … 2023-12): the time and memory to generate it, and the snapshot
by branch × segment × ecosystem (year-on-year retention included) on DuckDB; goal ≤ 15 s and
≤ 12 GB peak. In the same run at scale 0.05: the same snapshot on DuckDB, on PySpark (local mode)
and in a straightforward pandas implementation (bench/_kpi_pandas.py, headline counts only), reported
as ratios to DuckDB, with their results checked against DuckDB's.

Usage: python bench/kpi.py [--scale 1.0] [--small 0.05] [--dir /tmp/jamsos-bench-kpi] [--reuse]
Each phase runs in its own process so that its peak memory is its own. The last line printed is
one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BY = ("branch", "segment", "ecosystem")
HEADLINE = ("active", "active_prev", "active_yoy_base", "retained", "lapsed", "reactivated", "new", "registered")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def phase_generate(directory: str, scale: float) -> dict[str, Any]:
    from jamsos.kernel.period import Period
    from jamsos.rules.tree import load_parameters
    from jamsos.synth.national import generate

    t0 = time.perf_counter()
    report = generate(
        Path(directory),
        tree=load_parameters(),
        scale=scale,
        first=Period(2022, 12),
        last=Period(2023, 12),
        pseudonym_key=b"bench",
    )
    return {
        "generate_s": round(time.perf_counter() - t0, 1),
        "rows": report.rows,
        "worst_calibration_error_pct": round(report.worst_error_pct, 4),
    }


def _snapshot(directory: str, engine: str) -> tuple[list[dict[str, Any]], float, float]:
    from jamsos.coverage import service as coverage
    from jamsos.infra.compute import connect, open_warehouse
    from jamsos.kernel.period import Period
    from jamsos.rules.tree import load_parameters

    tree = load_parameters()
    t0 = time.perf_counter()
    con = connect(engine, threads=os.cpu_count())
    w = open_warehouse(con, Path(directory), engine)
    ready = time.perf_counter() - t0
    t1 = time.perf_counter()
    rows = coverage.snapshot_rows(w, period=Period(2023, 12), by=BY, tree=tree)
    return rows, ready, time.perf_counter() - t1


def _headline(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[int, ...]]:
    return {
        (str(r["branch"]), str(r["segment"]), str(r["ecosystem"])): tuple(int(r[k]) for k in HEADLINE) for r in rows
    }


def phase_snapshot(directory: str, engine: str, runs: int) -> dict[str, Any]:
    times = []
    rows: list[dict[str, Any]] = []
    ready = 0.0
    for _ in range(runs):
        rows, ready, took = _snapshot(directory, engine)
        times.append(round(took, 2))
    active = sum(int(r["active"]) for r in rows)
    out_file = Path(directory) / f"_bench_{engine}.json"
    out_file.write_text(json.dumps({"|".join(k): v for k, v in _headline(rows).items()}))
    return {"engine": engine, "snapshot_s": times, "startup_s": round(ready, 2), "groups": len(rows), "active": active}


def phase_pandas(directory: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "bench"))
    from _kpi_pandas import snapshot
    from jamsos.kernel.period import Period

    t0 = time.perf_counter()
    frame = snapshot(Path(directory), Period(2023, 12), BY)
    took = time.perf_counter() - t0
    rows = frame.rename(columns={"branch_code": "branch"}).to_dict("records")
    Path(directory, "_bench_pandas.json").write_text(json.dumps({"|".join(k): v for k, v in _headline(rows).items()}))
    return {"engine": "pandas", "snapshot_s": [round(took, 2)], "groups": len(rows)}


def run_phase(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"phase {args[0]} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _same(directory: Path, engine: str) -> bool:
    duck = json.loads((directory / "_bench_duckdb.json").read_text())
    other = json.loads((directory / f"_bench_{engine}.json").read_text())
    return duck == other


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--small", type=float, default=0.05)
    ap.add_argument("--dir", default="/tmp/jamsos-bench-kpi")
    ap.add_argument("--reuse", action="store_true", help="keep a warehouse already generated at the same scale")
    ap.add_argument("--phase", nargs="+")
    args = ap.parse_args()
    if args.phase:
        name, *rest = args.phase
        if name == "generate":
            result = phase_generate(rest[0], float(rest[1]))
        elif name == "snapshot":
            result = phase_snapshot(rest[0], rest[1], int(rest[2]))
        else:
            result = phase_pandas(rest[0])
        result["peak_rss_gib"] = round(peak_rss_gib(), 2)
        print(json.dumps(result))
        return
    figures: dict[str, Any] = {"bench": "kpi", "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    for label, scale in (("national", args.scale), ("small", args.small)):
        directory = Path(args.dir) / f"scale-{scale}"
        marker = directory / "_jamsos_synth.json"
        if args.reuse and marker.exists() and json.loads(marker.read_text())["scale"] == scale:
            print(f"== reusing {directory}", flush=True)
        else:
            print(f"== generating scale {scale} into {directory}", flush=True)
            if directory.exists():
                subprocess.run(["rm", "-rf", str(directory)], check=True)
            figures[f"{label}_generate"] = run_phase("generate", str(directory), str(scale))
            print(json.dumps(figures[f"{label}_generate"]), flush=True)
        figures[f"{label}_duckdb"] = run_phase("snapshot", str(directory), "duckdb", "2")
        print(json.dumps(figures[f"{label}_duckdb"]), flush=True)
        if label == "small":
            figures["small_spark"] = run_phase("snapshot", str(directory), "spark", "2")
            print(json.dumps(figures["small_spark"]), flush=True)
            figures["small_pandas"] = run_phase("pandas", str(directory))
            print(json.dumps(figures["small_pandas"]), flush=True)
            duck = min(figures["small_duckdb"]["snapshot_s"])
            figures["spark_vs_duckdb"] = round(min(figures["small_spark"]["snapshot_s"]) / duck, 1)
            figures["pandas_vs_duckdb"] = round(figures["small_pandas"]["snapshot_s"][0] / duck, 1)
            figures["spark_same_as_duckdb"] = _same(directory, "spark")
            figures["pandas_same_as_duckdb"] = _same(directory, "pandas")
    national = figures["national_duckdb"]
    figures["snapshot_s"] = national["snapshot_s"][0]
    figures["snapshot_peak_rss_gib"] = national["peak_rss_gib"]
    figures["goal_met"] = figures["snapshot_s"] <= 15 and national["peak_rss_gib"] <= 12
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
