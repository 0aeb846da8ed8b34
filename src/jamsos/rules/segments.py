"""The contribution rules of each segment (PU, BPU, Jakon, PMI) and the reliefs, as lines added to an ``Engine``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.lines import (
    I64,
    NO_BASIS,
    NO_RATE,
    rate_units,
)
from jamsos.rules.tree import ParameterMissing

if TYPE_CHECKING:
    from jamsos.rules.engine import Engine


# ---- segments ----------------------------------------------------------------------------
def jkk_jkm_on_wage(e: Engine, rows: Any) -> tuple[I64, I64]:
    wage = e.b.wage[rows]
    rate, cite = e.lut_keyed("pu.jkk.rate_by_risk_class", rows, e.b.risk_class[rows], c.RISK_CLASSES, rate_units)
    jkk = e.mul(wage, rate)
    e.add(rows, c.JKK, c.EMPLOYER, c.CONTRIBUTION, jkk, rate, wage, cite)
    rate, cite = e.lut("pu.jkm.rate", rows, rate_units)
    jkm = e.mul(wage, rate)
    e.add(rows, c.JKM, c.EMPLOYER, c.CONTRIBUTION, jkm, rate, wage, cite)
    return jkk, jkm


def pu(e: Engine, rows: Any, mask: Any) -> None:
    if not rows.size:
        return
    wage = e.b.wage[rows]
    m = mask[rows]
    jkk, jkm = jkk_jkm_on_wage(e, rows)
    for program, bit in ((c.JHT, c.BIT["jht"]), (c.JP, c.BIT["jp"])):
        sel = np.flatnonzero(m & bit)
        if not sel.size:
            continue
        r = rows[sel]
        prefix = "pu.jht" if program == c.JHT else "pu.jp"
        basis = wage[sel]
        cap_cite = None
        if program == c.JP:
            cap, cap_cite = e.lut("pu.jp.wage_cap", r)
            basis = np.minimum(basis, cap)
        amounts = []
        for payer, name in ((c.EMPLOYER, "employer_rate"), (c.WORKER, "worker_rate")):
            rate, cite = e.lut(f"{prefix}.{name}", r, rate_units)
            if cap_cite is not None:
                cite = e.combine(cite, cap_cite)
            amount = e.mul(basis, rate)
            e.add(r, program, payer, c.CONTRIBUTION, amount, rate, basis, cite)
            amounts.append((payer, amount))
        if program == c.JP:
            for payer, amount in amounts:
                relief(e, r, c.JP, payer, amount, "reliefs.pp49_2020.jp_deferral", c.DEFERRAL)
    jkk_net, jkm_net = jkk.copy(), jkm.copy()
    sel = np.flatnonzero(m & c.BIT["jkp"])
    if sel.size:
        r = rows[sel]
        cap, cap_cite = e.lut("jkp.wage_cap", r)
        basis = np.minimum(wage[sel], cap)
        rate, cite = e.lut("jkp.government_rate", r, rate_units)
        cite = e.combine(cite, cap_cite)
        e.add(r, c.JKP, c.GOVERNMENT, c.CONTRIBUTION, e.mul(basis, rate), rate, basis, cite)
        for source, net, path in (
            (c.JKK, jkk_net, "jkp.recomposition_from_jkk_rate"),
            (c.JKM, jkm_net, "jkp.recomposition_from_jkm_rate"),
        ):
            rate, cite = e.lut(path, r, rate_units)
            cite = e.combine(cite, cap_cite)
            moved = np.minimum(e.mul(basis, rate), net[sel])
            keep = np.flatnonzero(moved > 0)
            e.add(r[keep], source, c.EMPLOYER, c.RECOMPOSITION_OUT, -moved[keep], -rate[keep], basis[keep], cite[keep])
            e.add(r[keep], c.JKP, c.EMPLOYER, c.RECOMPOSITION_IN, moved[keep], rate[keep], basis[keep], cite[keep])
            net[sel] -= moved
    jkk_jkm_reliefs(e, rows, c.PU, c.EMPLOYER, jkk_net, jkm_net)
    li = np.flatnonzero(e.b.labour_intensive[rows])
    if li.size:
        net_first, _ = e.lut("reliefs.pp7_2025.applies_net_of_recomposition", rows[li], int)
        base = np.where(net_first == 1, jkk_net[li], jkk[li])
        relief(e, rows[li], c.JKK, c.EMPLOYER, base, "reliefs.pp7_2025.labour_intensive_jkk_discount", c.RELIEF)


def bpu(e: Engine, rows: Any, mask: Any) -> None:
    if not rows.size:
        return
    income = e.b.income[rows]
    lowest, _ = e.lut("bpu.income_tier", rows, lambda v: v["lowest"])
    step, tier_cite = e.lut("bpu.income_tier", rows, lambda v: v["step"])
    tier = np.where(income <= lowest, lowest, lowest + (income - lowest) // np.maximum(step, 1) * step)
    payer = np.asarray(c.SOURCE_PAYER, dtype=np.int8)[e.b.payer_source[rows]]
    rate, cite = e.lut("bpu.jkk_rate", rows, rate_units)
    cite = e.combine(cite, tier_cite)
    jkk = e.mul(tier, rate)
    e.add(rows, c.JKK, payer, c.CONTRIBUTION, jkk, rate, tier, cite)
    flat, cite = e.lut("bpu.jkm_amount", rows)
    e.add(rows, c.JKM, payer, c.CONTRIBUTION, flat, NO_RATE, NO_BASIS, cite)
    sel = np.flatnonzero(mask[rows] & c.BIT["jht"])
    if sel.size:
        r = rows[sel]
        rate, cite = e.lut("bpu.jht_rate", r, rate_units)
        cite = e.combine(cite, tier_cite[sel])
        e.add(r, c.JHT, payer[sel], c.CONTRIBUTION, e.mul(tier[sel], rate), rate, tier[sel], cite)
    jkk_jkm_reliefs(e, rows, c.BPU, payer, jkk, flat)
    excluded = np.zeros(len(c.PAYER_SOURCES), dtype=bool)
    for i in e.present(rows):
        codes_, _ = e.period_value("reliefs.pp50_2025.excluded_payers", i)
        excluded[:] = False
        excluded[[c.PAYER_SOURCES.index(s) for s in codes_]] = True
        in_period = e.periods_of(rows) == i
        for transport, path in (
            (True, "reliefs.pp50_2025.bpu_transport_discount"),
            (False, "reliefs.pp50_2025.bpu_other_discount"),
        ):
            sel = np.flatnonzero(in_period & (e.b.transport[rows] == transport) & ~excluded[e.b.payer_source[rows]])
            for program, base in ((c.JKK, jkk), (c.JKM, flat)):
                relief(e, rows[sel], program, payer[sel], base[sel], path, c.RELIEF)


def jakon(e: Engine, rows: Any) -> None:
    if not rows.size:
        return
    cv = e.b.contract_value[rows]
    by_wage = rows[cv == 0]
    if by_wage.size:
        jkk, jkm = jkk_jkm_on_wage(e, by_wage)
        jkk_jkm_reliefs(e, by_wage, c.JAKON, c.EMPLOYER, jkk, jkm)
    by_value = rows[cv > 0]
    if not by_value.size:
        return
    value = e.b.contract_value[by_value]
    jkk_total = np.zeros(by_value.size, dtype=np.int64)
    jkm_total = np.zeros(by_value.size, dtype=np.int64)
    pidx = e.periods_of(by_value)
    for i in e.present(by_value):
        brackets, cid = e.period_value("jakon.contract_value_brackets", i)
        in_period = np.flatnonzero(pidx == i)
        lower = 0
        for k, bracket in enumerate(brackets):
            upper = bracket["up_to"]
            if upper is None and k != len(brackets) - 1:
                raise ParameterMissing(
                    "jakon.contract_value_brackets",
                    Period.from_ordinal(e.pmin + i),
                    "only the last bracket may be open",
                )
            top = value[in_period] if upper is None else np.minimum(value[in_period], upper)
            slice_ = np.maximum(top - lower, 0)
            has = np.flatnonzero(slice_ > 0)
            r, s = by_value[in_period[has]], slice_[has]
            for program, total, key in ((c.JKK, jkk_total, "jkk"), (c.JKM, jkm_total, "jkm")):
                rate = np.full(s.size, rate_units(bracket[key]), dtype=np.int64)
                amount = e.mul(s, rate)
                e.add(r, program, c.EMPLOYER, c.CONTRIBUTION, amount, rate, s, cid)
                total[in_period[has]] += amount
            if upper is None:
                break
            lower = upper
    jkk_jkm_reliefs(e, by_value, c.JAKON, c.EMPLOYER, jkk_total, jkm_total)


def pmi(e: Engine, rows: Any, mask: Any) -> None:
    if not rows.size:
        return
    payer = np.asarray(c.SOURCE_PAYER, dtype=np.int8)[e.b.payer_source[rows]]
    amount, cite = e.lut("pmi.pre_departure_amount", rows)
    e.add(rows, c.JKK_JKM, payer, c.CONTRIBUTION, amount, NO_RATE, NO_BASIS, cite)
    months = e.b.contract_months[rows].astype(np.int64)
    pidx = e.periods_of(rows)
    for i in e.present(rows):
        rule, _ = e.period_value("pmi.package_choice", i)
        if rule != "longest_not_exceeding_plus_extra_months":
            raise ParameterMissing(
                "pmi.package_choice", Period.from_ordinal(e.pmin + i), f"rule {rule!r} is not implemented"
            )
        packages, pcid = e.period_value("pmi.placement_packages", i)
        extra_amount, ecid = e.period_value("pmi.extra_month_amount", i)
        packages = sorted(packages, key=lambda p: p["months"])
        in_period = np.flatnonzero(pidx == i)
        m = months[in_period]
        chosen = np.zeros(m.size, dtype=np.int64)
        for k, package in enumerate(packages):
            chosen = np.where(m >= package["months"], k, chosen)
        pmonths = np.asarray([p["months"] for p in packages], dtype=np.int64)[chosen]
        pamount = np.asarray([p["amount"] for p in packages], dtype=np.int64)[chosen]
        r = rows[in_period]
        e.add(r, c.JKK_JKM, payer[in_period], c.CONTRIBUTION, pamount, NO_RATE, NO_BASIS, pcid)
        extra = np.maximum(m - pmonths, 0)
        has = np.flatnonzero(extra > 0)
        e.add(
            r[has],
            c.JKK_JKM,
            payer[in_period][has],
            c.CONTRIBUTION,
            extra[has] * extra_amount,
            NO_RATE,
            NO_BASIS,
            ecid,
        )
    sel = np.flatnonzero(mask[rows] & c.BIT["jht"])
    if sel.size:
        r = rows[sel]
        low, cite = e.lut("pmi.jht_monthly_range", r, lambda v: v["min"])
        high, _ = e.lut("pmi.jht_monthly_range", r, lambda v: v["max"])
        amount = e.b.jht_amount[r]
        bad = np.zeros(e.n, dtype=bool)
        bad[r[(amount < low) | (amount > high)]] = True
        e.problem(bad, "jht_amount", "optional PMI JHT must be within the allowed monthly range", e.b.jht_amount)
        e.add(r, c.JHT, payer[sel], c.CONTRIBUTION, amount, NO_RATE, NO_BASIS, cite)  # dropped if rejected


# ---- reliefs -----------------------------------------------------------------------------
def jkk_jkm_reliefs(e: Engine, rows: Any, segment: int, payer: Any, jkk: I64, jkm: I64) -> None:
    for i in e.present(rows):
        segments, _ = e.period_value("reliefs.pp49_2020.segments", i)
        if c.SEGMENTS[segment] not in segments:
            continue
        sel = np.flatnonzero(e.periods_of(rows) == i)
        pay = np.broadcast_to(np.asarray(payer, dtype=np.int8), rows.shape)[sel]
        for program, base in ((c.JKK, jkk), (c.JKM, jkm)):
            relief(e, rows[sel], program, pay, base[sel], "reliefs.pp49_2020.jkk_jkm_discount", c.RELIEF)


def relief(e: Engine, rows: Any, program: int, payer: Any, base: I64, path: str, kind: int) -> None:
    """A negative line taking ``share`` of ``base`` off, where the relief is in force."""
    if not np.size(rows):
        return
    share, cite = e.lut(path, rows, rate_units, nullable=True)
    sel = np.flatnonzero((share > 0) & (base > 0))
    if not sel.size:
        return
    pay = np.broadcast_to(np.asarray(payer, dtype=np.int8), np.shape(rows))[sel]
    off = e.mul(base[sel], share[sel])
    e.add(rows[sel], program, pay, kind, -off, -share[sel], base[sel], cite[sel])
