"""Benchmark: bill lines for N memberships of one month (mixed segments), vectorised vs per-row Python.

Usage: python bench/iuran.py [--rows 10000000] [--sample 20000] [--period 2025-05]
The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.formulas import MembershipBatch, compute_lines
from jamsos.rules.tree import ParameterTree, load_parameters


def synthetic_batch(n: int, period: Period, seed: int = 7) -> MembershipBatch:
    """A national-looking mix: 60 % PU, 25 % BPU, 12 % Jakon, 3 % PMI."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(np.array([c.PU, c.BPU, c.JAKON, c.PMI], dtype=np.int8), size=n, p=[0.60, 0.25, 0.12, 0.03])
    pu = segment == c.PU
    bpu = segment == c.BPU
    jakon = segment == c.JAKON
    wage = np.where(pu, rng.lognormal(np.log(4_500_000), 0.6, n).astype(np.int64), 0)
    income = np.where(bpu, rng.integers(500_000, 6_000_000, n), 0)
    risk = np.where(pu, rng.integers(0, 5, n), c.MISSING).astype(np.int8)
    size = np.where(pu, rng.choice(4, n, p=[0.15, 0.25, 0.25, 0.35]), c.MISSING).astype(np.int8)
    jht_bpu = (bpu & (rng.random(n) < 0.3)).astype(np.uint8) * (c.BIT["jkk"] | c.BIT["jkm"] | c.BIT["jht"])
    source = np.where(
        pu | jakon, c.SOURCE_EMPLOYER, np.where(bpu & (rng.random(n) < 0.2), rng.choice([3, 4, 5], n), c.SOURCE_SELF)
    ).astype(np.int8)
    return MembershipBatch.build(
        segment,
        period.ordinal,
        n=n,
        wage=wage,
        income=income,
        risk_class=risk,
        employer_size=size,
        programs=jht_bpu,
        payer_source=source,
        transport=bpu & (rng.random(n) < 0.15),
        labour_intensive=pu & (rng.random(n) < 0.1),
        contract_value=np.where(jakon, rng.lognormal(np.log(800_000_000), 1.2, n).astype(np.int64), 0),
        contract_months=np.where(segment == c.PMI, rng.choice([6, 12, 24, 30], n), 0),
    )


def _round(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def per_row_total(b: MembershipBatch, i: int, t: ParameterTree) -> int:
    """The same rules written the straightforward way: one membership at a time, dict lookups, Decimals."""
    p = Period.from_ordinal(int(b.period[i]))
    seg = c.SEGMENTS[int(b.segment[i])]
    mask = int(b.programs[i])
    programs = set(c.programs_of(mask))
    discount = t.optional
    total = 0
    if seg in ("pu", "jakon") and (seg == "pu" or b.contract_value[i] == 0):
        w = Decimal(int(b.wage[i]))
        size = c.EMPLOYER_SIZES[int(b.employer_size[i])] if seg == "pu" else None
        jkk = _round(w * t.value("pu.jkk.rate_by_risk_class", p)[c.RISK_CLASSES[int(b.risk_class[i])]])
        jkm = _round(w * t.value("pu.jkm.rate", p))
        total += jkk + jkm
        jkk_net, jkm_net = jkk, jkm
        if seg == "pu":
            if not programs:
                programs = set(t.value("programs.required_by_employer_size", p)[size])
            if "jht" in programs:
                total += _round(w * t.value("pu.jht.employer_rate", p)) + _round(w * t.value("pu.jht.worker_rate", p))
            if "jp" in programs:
                cap = min(w, t.value("pu.jp.wage_cap", p))
                total += _round(cap * t.value("pu.jp.employer_rate", p)) + _round(cap * t.value("pu.jp.worker_rate", p))
            if (
                t.value("programs.in_force", p)["jkp"]
                and set(t.value("programs.jkp_prerequisites", p)[size]) <= programs
            ):
                basis = min(w, t.value("jkp.wage_cap", p))
                total += _round(basis * t.value("jkp.government_rate", p))
                jkk_net -= min(_round(basis * t.value("jkp.recomposition_from_jkk_rate", p)), jkk)
                jkm_net -= min(_round(basis * t.value("jkp.recomposition_from_jkm_rate", p)), jkm)
            share = discount("reliefs.pp7_2025.labour_intensive_jkk_discount", p)
            if b.labour_intensive[i] and share:
                total -= _round(jkk_net * share)
        share = discount("reliefs.pp49_2020.jkk_jkm_discount", p)
        if share and seg in t.value("reliefs.pp49_2020.segments", p):
            total -= _round(jkk_net * share) + _round(jkm_net * share)
    elif seg == "jakon":
        value, lower = int(b.contract_value[i]), 0
        for bracket in t.value("jakon.contract_value_brackets", p):
            upper = bracket["up_to"]
            part = Decimal(max(min(value, upper) if upper is not None else value, lower) - lower)
            total += _round(part * bracket["jkk"]) + _round(part * bracket["jkm"])
            if upper is None or value <= upper:
                break
            lower = upper
    elif seg == "bpu":
        tier_rule = t.value("bpu.income_tier", p)
        income = int(b.income[i])
        tier = tier_rule["lowest"] + max(income - tier_rule["lowest"], 0) // tier_rule["step"] * tier_rule["step"]
        jkk = _round(Decimal(tier) * t.value("bpu.jkk_rate", p))
        jkm = t.value("bpu.jkm_amount", p)
        total += jkk + jkm
        if "jht" in programs:
            total += _round(Decimal(tier) * t.value("bpu.jht_rate", p))
        source = c.PAYER_SOURCES[int(b.payer_source[i])]
        path = "bpu_transport_discount" if b.transport[i] else "bpu_other_discount"
        share = discount(f"reliefs.pp50_2025.{path}", p)
        if share and source not in t.value("reliefs.pp50_2025.excluded_payers", p):
            total -= _round(jkk * share) + _round(jkm * share)
    else:
        months = int(b.contract_months[i])
        packages = sorted(t.value("pmi.placement_packages", p), key=lambda r: r["months"])
        chosen = packages[0]
        for package in packages:
            if months >= package["months"]:
                chosen = package
        total += t.value("pmi.pre_departure_amount", p) + chosen["amount"]
        total += max(months - chosen["months"], 0) * t.value("pmi.extra_month_amount", p)
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sample", type=int, default=20_000)
    ap.add_argument("--period", default="2025-05")
    args = ap.parse_args()
    tree = load_parameters()
    period = Period.parse(args.period)

    batch = synthetic_batch(args.rows, period)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    lines = compute_lines(batch, tree)
    vec_s = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vec_rate = args.rows / vec_s

    sample = np.random.default_rng(1).choice(args.rows, size=min(args.sample, args.rows), replace=False)
    t0 = time.perf_counter()
    baseline = [per_row_total(batch, int(i), tree) for i in sample]
    row_s = time.perf_counter() - t0
    row_rate = len(sample) / row_s

    totals = lines.row_totals(args.rows)
    mismatches = int(np.sum(totals[sample] != np.asarray(baseline, dtype=np.int64)))
    figures: dict[str, Any] = {
        "bench": "iuran",
        "period": str(period),
        "rows": args.rows,
        "lines": len(lines),
        "vectorised_s": round(vec_s, 3),
        "vectorised_rows_per_s": round(vec_rate),
        "per_row_sample": len(sample),
        "per_row_rows_per_s": round(row_rate),
        "ratio_vs_baseline": round(vec_rate / row_rate, 1),
        "peak_rss_mib": round(peak_mib),
        "rss_before_compute_mib": round(rss_before / 1024),
        "sample_mismatches": mismatches,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    print(f"vectorised: {args.rows:,} memberships -> {len(lines):,} lines in {vec_s:.2f} s ({vec_rate:,.0f} rows/s)")
    print(f"per-row   : {len(sample):,} sampled memberships in {row_s:.2f} s ({row_rate:,.0f} rows/s)")
    print(f"ratio {vec_rate / row_rate:,.0f}x; peak RSS {peak_mib:,.0f} MiB; mismatches: {mismatches}")
    print(json.dumps(figures))
    if mismatches:
        raise SystemExit("the per-row baseline disagrees with the vectorised formulas")


if __name__ == "__main__":
    main()
