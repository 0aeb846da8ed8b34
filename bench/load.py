"""Benchmark: the API under concurrent officers on PostgreSQL with a million registered workers.

A durable PostgreSQL (scripts/pg-test-server, fsync on) holds 1,000,000 registered PU workers (bulk
import). The web app (the API at /api) runs under uvicorn with two worker processes, as `jamsos serve` can.
Branch officers of KC Ternate (their own API tokens) then send a mix of 80 % lookups (GET /api/workers/{nik}
of a worker in their branch) and 20 % registrations (POST /api/workers, a new NIK). Every call is
authenticated, checked against the officer's scope, and audited (the hash-chained log).

Measured in the same run: 1 client (the uncontended baseline), then 50 and 200 concurrent clients.
Goals (issue 7): p95 ≤ 100 ms at 50 clients, no errors at 200. The last line printed is one JSON object.

Usage: python bench/load.py [--workers 1000000] [--requests 4000] [--reuse DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
REGENCIES = ["8271", "8272", "8201", "3171", "1271"]  # the first three are KC Ternate's


def setup(url: str, workers: int) -> dict[str, Any]:
    from jamsos.auth import service as auth
    from jamsos.infra.db import make_engine, unit_of_work
    from jamsos.infra.migrate import upgrade
    from jamsos.registry import imports, reference
    from jamsos.synth.operations import population

    engine = make_engine(url)
    upgrade(engine)
    at = dt.datetime(2024, 6, 1, 8)
    pop = population(
        regencies=REGENCIES, employers=max(workers // 50, 10), pu_workers=workers, bpu_workers=0,
        start=dt.date(2024, 1, 1), seed=3,
    )  # fmt: skip
    t0 = time.perf_counter()
    with unit_of_work(engine) as s:
        reference.load_reference(s)
        imports.import_files(
            s,
            employers=pop.employers,
            workers=pop.workers,
            memberships=pop.memberships,
            recorded_at=at,
            recorded_by="bench",
        )
    load_s = time.perf_counter() - t0
    tokens = []
    with unit_of_work(engine) as s:
        for i in range(20):
            name = f"kc{i}"
            auth.create_user(
                s, username=name, password="bench-password", role="branch", branch="KC-TERNATE", created_at=at
            )
            tokens.append(auth.create_token(s, username=name, name="bench", created_at=at))
    engine.dispose()
    ternate = [row["nik"] for _, row in pop.workers.rows if row["nik"][:4] in ("8271", "8272", "8201")]
    return {"load_s": round(load_s, 1), "tokens": tokens, "niks": ternate}


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "p99_ms": round(q[98], 1)}


async def load(url: str, clients: int, requests: int, tokens: list[str], niks: list[str]) -> dict[str, Any]:
    times: list[float] = []
    errors: list[str] = []
    rng = random.Random(clients)
    born = itertools.count(0)

    async def client(k: int, n: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[k % len(tokens)]}"}
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as c:
            for _ in range(n):
                t0 = time.perf_counter()
                try:
                    if rng.random() < 0.8:
                        r = await c.get(f"/api/workers/{rng.choice(niks)}")
                        ok = r.status_code == 200
                    else:
                        i = next(born)
                        day = 1 + i % 28
                        month = 1 + (i // 28) % 12
                        nik = f"827101{day:02d}{month:02d}{70 + (i // 336) % 30:02d}{9000 + clients % 1000:04d}"
                        r = await c.post(
                            "/api/workers", json={"nik": nik, "name": f"Baru {i}", "valid_from": "2024-12-01"}
                        )
                        ok = r.status_code in (201, 409)  # 409: the NIK exists (a repeat in a later round)
                except httpx.HTTPError as exc:
                    ok, r = False, exc  # type: ignore[assignment]
                times.append((time.perf_counter() - t0) * 1000)
                if not ok:
                    errors.append(f"{getattr(r, 'status_code', r)}")

    per = max(1, requests // clients)
    t0 = time.perf_counter()
    await asyncio.gather(*(client(k, per) for k in range(clients)))
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(times),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "throughput_rps": round(len(times) / wall, 1),
        **percentiles(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--port", type=int, default=54350)
    args = ap.parse_args()
    pgdir = Path("/tmp/jamsos-bench-load-pg")
    env = {**os.environ, "PG_DURABLE": "1"}
    url = subprocess.run(
        [str(ROOT / "scripts/pg-test-server"), "start", str(pgdir), str(args.port)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()  # fmt: skip
    server = None
    try:
        prepared = setup(url, args.workers)
        print(f"{args.workers:,} workers loaded in {prepared['load_s']} s", flush=True)
        port = args.port + 1
        server_env = {
            **os.environ, "JAMSOS_DATABASE_URL": url, "JAMSOS_PSEUDONYM_KEY": "bench", "JAMSOS_SECRET_KEY": "bench",
        }  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "jamsos.web.app:app_from_environment", "--port", str(port),
             "--workers", "2", "--log-level", "warning"],
            env=server_env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        runs = {}
        for clients in (1, 50, 200):
            n = 400 if clients == 1 else args.requests
            runs[clients] = asyncio.run(load(base, clients, n, prepared["tokens"], prepared["niks"]))
            print(f"{clients} clients: {runs[clients]}", flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        subprocess.run([str(ROOT / "scripts/pg-test-server"), "stop", str(pgdir)], check=False)
    figures = {
        "bench": "load",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "workers": args.workers,
        "load_s": prepared["load_s"],
        "baseline_1_client": runs[1],
        "clients_50": runs[50],
        "clients_200": runs[200],
        "ratio_vs_baseline": round(runs[50]["p95_ms"] / runs[1]["p95_ms"], 1),
        "goal_p95_ms_at_50": 100,
        "goal_met_50": runs[50]["p95_ms"] <= 100,
        "goal_no_errors_200": runs[200]["errors"] == 0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
