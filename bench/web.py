"""Benchmark: the steering pages of the web app under 20 concurrent clients.

A synthetic warehouse at scale 0.1 (2022-01 … 2023-12, 6.1 m registered people) is served by one uvicorn
process (``jamsos.web.app``), the way ``jamsos serve`` runs it; every client logs in (a head-office user) and
each request carries its session. Measured in the same run:

- **baseline**: the same server with ``JAMSOS_WEB_CACHE=0``, so every request recomputes its figures on the
  warehouse (what a page costs without the per-period cache); one client, every page three times;
- **load**: the cached server (figures computed once at start-up, ``warm_s``) with 20 concurrent clients,
  each requesting every steering page in turn for ``--rounds`` rounds.

Goal (issue 6): p95 ≤ 300 ms under load. Figures: p50/p95/p99 per request, errors, throughput, and the
ratio of the baseline's p95 to the load p95. The last line printed is one JSON object of the figures.

Usage: python bench/web.py [--scale 0.1] [--dir /tmp/jamsos-bench-web] [--reuse] [--clients 20] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    "/nasional",
    "/nasional?lang=en",
    "/wilayah",
    "/wilayah?kanwil=sulama",
    "/cabang/KC-TERNATE",
    "/ekosistem",
    "/strategi",
    "/target",
    "/dana",
    "/dana?scenario=pessimistic",
    "/peta",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate(directory: Path, scale: float) -> float:
    from jamsos.kernel.period import Period
    from jamsos.rules.tree import load_parameters
    from jamsos.synth.national import generate as gen

    t0 = time.perf_counter()
    gen(
        directory, tree=load_parameters(), scale=scale, first=Period(2022, 1), last=Period(2023, 12), pseudonym_key=b"b"
    )
    return time.perf_counter() - t0


class Server:
    """``uvicorn --factory jamsos.web.app:app_from_environment`` in its own process."""

    def __init__(self, warehouse: Path, data: Path, *, cache: bool) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "JAMSOS_WAREHOUSE_DIR": str(warehouse),
            "JAMSOS_DATA_DIR": str(data),
            "JAMSOS_WEB_CACHE": "1" if cache else "0",
            "JAMSOS_WEB_WARM": "1" if cache else "0",
            "JAMSOS_LOGIN_ATTEMPTS_PER_MINUTE": "1000",  # 20 clients log in from one address
        }
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "jamsos.web.app:app_from_environment"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=env)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self, *, warm: bool, timeout: float = 600) -> float:
        t0 = time.perf_counter()
        while True:
            try:
                h = httpx.get(self.url + "/health", timeout=5).json()
                if not warm or h.get("warm"):
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > timeout or self.proc.poll() is not None:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


PASSWORD = "bench-password-1"


def prepare_store(data: Path) -> None:
    """The operational store the app logs users in against, with one head-office user."""
    import datetime as dt

    from jamsos.auth import service as auth
    from jamsos.infra.db import make_engine, unit_of_work
    from jamsos.infra.migrate import upgrade
    from jamsos.registry.reference import load_reference

    db = data / "jamsos.db"
    if db.exists():
        db.unlink()
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with unit_of_work(engine) as s:
        load_reference(s)
        auth.create_user(s, username="bench", password=PASSWORD, role="head_office", created_at=dt.datetime(2024, 1, 1))
    engine.dispose()


def logged_in(url: str, timeout: float) -> httpx.Client:
    """A client with a session: the login form's CSRF token, then the form posted."""
    c = httpx.Client(base_url=url, timeout=timeout)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/masuk").text)
    assert token is not None
    r = c.post("/masuk", data={"username": "bench", "password": PASSWORD, "csrf": token.group(1)})
    if r.status_code != 303 or r.headers["location"].startswith("/masuk"):
        raise RuntimeError(f"login failed: {r.status_code}")
    return c


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "p99_ms": round(q[98], 1)}


def baseline(url: str, repeats: int = 3) -> dict[str, Any]:
    times: list[float] = []
    per_page: dict[str, float] = {}
    with closing(logged_in(url, 600)) as c:
        for page in PAGES:
            page_times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                r = c.get(page)
                page_times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
            per_page[page] = round(statistics.median(page_times), 1)
            times += page_times
    return {"requests": len(times), **percentiles(times), "per_page_median_ms": per_page}


def load(url: str, clients: int, rounds: int) -> dict[str, Any]:
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(offset: int) -> None:
        mine: list[float] = []
        with closing(logged_in(url, 60)) as c:
            start.wait()
            for r in range(rounds):
                for i in range(len(PAGES)):
                    page = PAGES[(i + offset + r) % len(PAGES)]
                    t0 = time.perf_counter()
                    try:
                        resp = c.get(page)
                        ok = resp.status_code == 200
                    except httpx.HTTPError as exc:
                        ok, resp = False, exc  # type: ignore[assignment]
                    mine.append((time.perf_counter() - t0) * 1000)
                    if not ok:
                        with lock:
                            errors.append(f"{page}: {resp}")
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(times),
        "errors": len(errors),
        "error_examples": errors[:3],
        "throughput_rps": round(len(times) / wall, 1),
        **percentiles(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/jamsos-bench-web"))
    ap.add_argument("--reuse", action="store_true", help="keep a warehouse already generated at --dir")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    warehouse = args.dir / f"scale-{args.scale}"
    data = args.dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    prepare_store(data)
    gen_s = None
    if not (args.reuse and (warehouse / "contribution_months").exists()):
        gen_s = round(generate(warehouse, args.scale), 1)
        print(f"generated scale {args.scale} in {gen_s} s", flush=True)

    cold = Server(warehouse, data, cache=False)
    try:
        cold.wait(warm=False)
        base = baseline(cold.url)
    finally:
        cold.stop()
    print(f"baseline (no cache): p50 {base['p50_ms']} ms, p95 {base['p95_ms']} ms", flush=True)

    server = Server(warehouse, data, cache=True)
    try:
        warm_s = round(server.wait(warm=True), 1)
        print(f"cached server warm after {warm_s} s", flush=True)
        loaded = load(server.url, args.clients, args.rounds)
    finally:
        server.stop()
    print(f"load: {loaded}", flush=True)
    figures = {
        "bench": "web",
        "scale": args.scale,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "generate_s": gen_s,
        "warm_s": warm_s,
        "clients": args.clients,
        "requests": loaded["requests"],
        "errors": loaded["errors"],
        "throughput_rps": loaded["throughput_rps"],
        "p50_ms": loaded["p50_ms"],
        "p95_ms": loaded["p95_ms"],
        "p99_ms": loaded["p99_ms"],
        "baseline_uncached_p50_ms": base["p50_ms"],
        "baseline_uncached_p95_ms": base["p95_ms"],
        "baseline_per_page_median_ms": base["per_page_median_ms"],
        "ratio_vs_baseline": round(base["p95_ms"] / loaded["p95_ms"], 1) if loaded["p95_ms"] else None,
        "goal_p95_ms": 300,
        "goal_met": loaded["p95_ms"] <= 300 and loaded["errors"] == 0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
