"""Benchmark: the billing run for N memberships and a payment file of M lines (import + allocation),
on SQLite and on PostgreSQL, against a per-row ORM baseline measured on a sample in the same run.

Usage: python bench/operations.py [--memberships 1000000] [--payments 1000000] [--sample 2000]
                                  [--engines sqlite,postgresql]
Each phase runs in its own process so that its peak memory is its own. PostgreSQL is started
from Debian packages by scripts/pg-test-server with durable settings (fsync on).
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jamsos.registry.domain import EVERYTHING

ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2024-12"
BASELINE_PERIOD = "2024-11"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_setup(url: str, memberships: int) -> dict[str, Any]:
    from jamsos.infra.db import make_engine, unit_of_work
    from jamsos.infra.migrate import upgrade
    from jamsos.registry import imports, reference
    from jamsos.synth.operations import population

    engine = make_engine(url)
    upgrade(engine)
    at = dt.datetime(2024, 6, 1, 8)
    regencies = ["8271", "8272", "8204", "8205", "3171", "3173", "3273", "3578", "7371", "6471", "1271", "5171"]
    pu = int(memberships * 0.8)
    pop = population(
        regencies=regencies, employers=max(memberships // 20, 10), pu_workers=pu, bpu_workers=memberships - pu,
        start=dt.date(2024, 1, 1), seed=3,
    )  # fmt: skip
    t0 = time.perf_counter()
    with unit_of_work(engine) as s:
        reference.load_reference(s)
        imports.import_files(
            s,
            scope=EVERYTHING,
            employers=pop.employers,
            workers=pop.workers,
            memberships=pop.memberships,
            recorded_at=at,
            recorded_by="bench",
        )
    return {"registry_import_s": round(time.perf_counter() - t0, 1), "memberships": memberships}


def phase_billing(url: str) -> dict[str, Any]:
    from jamsos.infra.db import make_engine, unit_of_work
    from jamsos.kernel.period import Period
    from jamsos.ledger import service as led
    from jamsos.rules.tree import load_parameters

    tree = load_parameters()
    engine = make_engine(url)
    at = dt.datetime(2025, 1, 5, 9)
    t0 = time.perf_counter()
    with unit_of_work(engine) as s:
        r = led.run_billing(s, scope=EVERYTHING, period=Period.parse(PERIOD), maker="maker", tree=tree, started_at=at)
    run_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=r.run_id, checker="checker", tree=tree, decided_at=at)
    approve_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    with unit_of_work(engine) as s:
        again = led.run_billing(
            s, scope=EVERYTHING, period=Period.parse(PERIOD), maker="maker", tree=tree, started_at=at
        )
    rerun_s = time.perf_counter() - t2
    n = r.memberships + r.exceptions
    return {
        "billing_s": round(run_s, 2),
        "billing_memberships_per_s": round(n / run_s),
        "lines": r.lines,
        "exceptions": r.exceptions,
        "approve_s": round(approve_s, 2),
        "rerun_s": round(rerun_s, 2),
        "rerun_lines": again.lines,
        "billing_peak_rss_mib": round(peak_rss_mib()),
    }


def phase_payments(url: str, payments: int) -> dict[str, Any]:
    import csv
    import io

    import numpy as np

    from jamsos.infra.db import make_engine, unit_of_work
    from jamsos.infra.files import read_table
    from jamsos.kernel.period import Period
    from jamsos.ledger import service as led
    from jamsos.rules.tree import load_parameters

    tree = load_parameters()
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        bills = led.bills_for_period(s, period=Period.parse(PERIOD))
    rng = np.random.default_rng(5)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["reference", "va_number", "amount", "paid_on"])
    # several instalments per bill; some late (fines), some short (arrears), some over (credit)
    pick = rng.integers(0, len(bills), payments)
    for i, b in enumerate(pick):
        bill = bills[int(b)]
        amount = max(1, int(bill["owed"] * rng.uniform(0.2, 0.6)))
        paid_on = bill["due"] + dt.timedelta(days=int(rng.integers(-10, 40)))
        w.writerow([f"BNK{i:010d}", bill["va_number"], amount, min(paid_on, dt.date(2025, 3, 1)).isoformat()])
    data = buf.getvalue().encode()
    t0 = time.perf_counter()
    table = read_table(data, "bank.csv")
    parse_s = time.perf_counter() - t0
    with unit_of_work(engine) as s:
        r = led.import_payments(
            s, scope=EVERYTHING, table=table, tree=tree, recorded_at=dt.datetime(2025, 3, 2, 9), recorded_by="bench"
        )
    total_s = time.perf_counter() - t0
    return {
        "payments": payments,
        "payments_s": round(total_s, 2),
        "payments_parse_s": round(parse_s, 2),
        "payments_per_s": round(payments / total_s),
        "allocations": r.allocations,
        "fines": r.fines,
        "payments_peak_rss_mib": round(peak_rss_mib()),
    }


def phase_baseline(url: str, sample: int) -> dict[str, Any]:
    """Per-row ORM: one membership (or payment) at a time, objects added and flushed one by one."""
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session, registry

    from jamsos.infra.db import make_engine
    from jamsos.kernel.period import Period
    from jamsos.ledger import tables as lt
    from jamsos.registry import service as reg
    from jamsos.registry import tables as rt
    from jamsos.rules import codes as c
    from jamsos.rules.calculator import Membership, calculate
    from jamsos.rules.tree import load_parameters

    class Line:
        pass

    class Payment:
        pass

    class Allocation:
        pass

    mapper = registry()
    mapper.map_imperatively(Line, lt.bill_line)
    mapper.map_imperatively(Payment, lt.payment)
    mapper.map_imperatively(Allocation, lt.allocation)
    tree = load_parameters()
    engine = make_engine(url)
    period = Period.parse(BASELINE_PERIOD)
    at = dt.datetime(2025, 1, 5, 9)
    with Session(engine) as s, s.begin():
        from jamsos.ledger.repository import citation_ids

        ids = list(
            s.scalars(select(rt.membership.c.id).where(rt.membership.c.segment.in_(["pu", "bpu"])).limit(sample))
        )
        run_id = s.execute(
            lt.billing_run.insert()
            .values(period=period.ordinal, status="draft", maker="orm", started_at=at, rules_fingerprint="x",
                    memberships=0, lines=0, exceptions=0, amount=0)
            .returning(lt.billing_run.c.id)
        ).scalar_one()  # fmt: skip
        if s.get_bind().dialect.name == "postgresql":  # the run's partition, attached: per-row key checks
            s.execute(text(f"CREATE TABLE bill_line_run_{run_id} PARTITION OF bill_line FOR VALUES IN ({run_id})"))
        next_id = int(s.scalar(text("SELECT COALESCE(MAX(id), 0) + 1 FROM bill_line")) or 1)
        t0 = time.perf_counter()
        done = 0
        for mid in ids:
            state = reg.membership_state(s, scope=EVERYTHING, membership_id=mid, month=period, known_at=at)
            m = s.execute(select(rt.membership).where(rt.membership.c.id == mid)).one()
            emp = None
            if m.employer_id:
                npp = s.scalar(select(rt.employer.c.npp).where(rt.employer.c.id == m.employer_id))
                emp = reg.employer_state(s, scope=EVERYTHING, npp=npp, on=period.last_day, known_at=at)
            if state is None or (m.segment == "pu" and (emp is None or emp["risk_class"] is None)):
                continue
            try:
                bill = calculate(
                    Membership(
                        m.segment, period, wage=state["wage"], income=state["income"],
                        risk_class=emp["risk_class"] if emp else None, employer_size=emp["size_class"] if emp else None,
                        programs=tuple(c.programs_of(state["programs"])) or None, payer=state["payer_source"],
                    ),
                    tree,
                )  # fmt: skip
            except Exception:
                continue
            cites = citation_ids(s, [_C(ln) for ln in bill.lines])
            for ln, cite in zip(bill.lines, cites, strict=True):
                obj = Line()
                for k, v in dict(
                    id=next_id, run_id=run_id, period=period.ordinal, cover_from=period.ordinal,
                    cover_to=period.ordinal,
                    membership_id=mid, program=c.PROGRAM_LABELS.index(ln["program"]), payer=c.PAYERS.index(ln["payer"]),
                    kind=c.LINE_KINDS.index(ln["kind"]), seq=0, entry=0, amount=ln["amount"], basis=ln["basis"],
                    citation_id=int(cite),
                ).items():  # fmt: skip
                    setattr(obj, k, v)
                s.add(obj)
                s.flush()
                next_id += 1
            done += 1
        billing_s = time.perf_counter() - t0
        s.rollback()
    with Session(engine) as s, s.begin():
        accounts = list(s.execute(select(rt.account.c.id, rt.account.c.va_number).limit(sample)))
        t0 = time.perf_counter()
        for i, (_, va) in enumerate(accounts):
            account_id = s.scalar(select(rt.account.c.id).where(rt.account.c.va_number == va))
            p = Payment()
            fields = dict(reference=f"ORM{i:08d}", account_id=account_id, amount=100_000,
                          paid_on=dt.date(2025, 1, 10), channel="va", recorded_at=at)  # fmt: skip
            for k, v in fields.items():
                setattr(p, k, v)
            s.add(p)
            s.flush()
            bill = s.execute(
                select(lt.bill.c.id).where(lt.bill.c.account_id == account_id).order_by(lt.bill.c.period).limit(1)
            ).first()
            if bill is not None:
                a = Allocation()
                for k, v in dict(payment_id=p.id, bill_id=bill.id, target="contribution", amount=100_000,  # type: ignore[attr-defined]
                                 effective_on=dt.date(2025, 1, 10), recorded_at=at).items():  # fmt: skip
                    setattr(a, k, v)
                s.add(a)
                s.flush()
        payments_s = time.perf_counter() - t0
        s.rollback()
    return {
        "baseline_sample": done,
        "baseline_billing_memberships_per_s": round(done / billing_s, 1),
        "baseline_payments_per_s": round(len(accounts) / payments_s, 1),
    }


class _C:
    def __init__(self, line: dict[str, Any]) -> None:
        self.parameter = line["parameter"]
        self.start = "-"
        self.reference = line["reference"]
        self.status = line["status"]


def run_phase(name: str, url: str, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", name, "--url", url, *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_engine(engine: str, memberships: int, payments: int, sample: int, workdir: Path) -> dict[str, Any]:
    if engine == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        stop = None
    else:
        pgdir = workdir / "pg"
        env = os.environ | {"PG_DURABLE": "1"}
        url = subprocess.run(
            [str(ROOT / "scripts/pg-test-server"), "start", str(pgdir), "54340"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()
        stop = [str(ROOT / "scripts/pg-test-server"), "stop", str(pgdir)]
    try:
        figures: dict[str, Any] = {"engine": engine}
        for name, args in (
            ("setup", [str(memberships)]),
            ("billing", []),
            ("payments", [str(payments)]),
            ("baseline", [str(sample)]),
        ):
            t = time.perf_counter()
            figures |= run_phase(name, url, *args)
            print(f"  {engine} {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        figures["billing_ratio_vs_orm"] = round(
            figures["billing_memberships_per_s"] / figures["baseline_billing_memberships_per_s"], 1
        )
        figures["payments_ratio_vs_orm"] = round(figures["payments_per_s"] / figures["baseline_payments_per_s"], 1)
        return figures
    finally:
        if stop:
            subprocess.run(stop, check=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--memberships", type=int, default=1_000_000)
    ap.add_argument("--payments", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--phase")
    ap.add_argument("--url")
    ap.add_argument("rest", nargs="*")
    a = ap.parse_args()
    if a.phase:
        fn = {"setup": phase_setup, "billing": phase_billing, "payments": phase_payments, "baseline": phase_baseline}[
            a.phase
        ]
        print(json.dumps(fn(a.url, *[int(x) for x in a.rest])))
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="jamsos-bench-") as tmp:
        for engine in a.engines.split(","):
            workdir = Path(tmp) / engine
            workdir.mkdir()
            if engine == "postgresql":
                os.chmod(tmp, 0o755)
                os.chmod(workdir, 0o777)
            results[engine] = bench_engine(engine, a.memberships, a.payments, a.sample, workdir)
            print(json.dumps(results[engine]), file=sys.stderr)
    summary = {
        "bench": "operations",
        "memberships": a.memberships,
        "payments": a.payments,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        **{f"{e}_{k}": v for e, r in results.items() for k, v in r.items() if k != "engine"},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
