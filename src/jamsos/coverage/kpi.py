"""Coverage KPIs as Ibis expressions over the warehouse's steering tables (engine-agnostic).

Definitions (docs/kpi.md): a person is *active* in month t when the warehouse has their
contribution month for t with every base program (JKK and JKM, ``coverage.base_programs``) paid.
``contribution_months`` holds at most one row per person and month, so counts add up across groups
and groups add up to the national figure. Flows compare t with t−1 (lapsed, reactivated) and
t−12 (year-on-year growth, retention); a participant is *retained* when active anywhere at t.
Each month's rows carry back-links to the same person's rows at t−1 and t−12 (``warehouse.links``),
so the flows are counted without joining person keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.rules import codes as c

DIMENSIONS = ("kanwil", "branch", "province", "regency", "segment", "ecosystem", "channel", "payer_source")
OFFICE_DIMS = {
    "kanwil": ("kanwil_code", "kanwil_name"),
    "branch": ("branch_code", "branch_name"),
    "province": ("province_code", "province_name"),
    "regency": ("regency_code", "regency_name"),
}

COUNTS = (
    "active",
    "active_prev",
    "active_yoy_base",
    "retained",
    "lapsed",
    "reactivated",
    "new",
    "registered",
    *(f"active_{p}" for p in c.BIT),
    "employers_active",
    "employers_new",
    "workers_existing_employers_delta",
    "bpu_active",
    "bpu_with_jht",
    "bpu_upgraded_to_jht",
    "pu_wage_sum",
    "pu_wage_count",
    "pu_wage_sum_yoy",
    "pu_wage_count_yoy",
    "programs_sum",
    "programs_sum_yoy",
    "amount",
)


class UnknownDimension(DomainError):
    code = "unknown_dimension"


@dataclass(frozen=True)
class Snapshot:
    """A KPI snapshot request: the month, the grouping and the base-program mask."""

    period: Period
    by: tuple[str, ...]
    base_mask: int  # the programs a month must have paid to count (``coverage.base_programs``, see base_mask)


def check_dimensions(by: Sequence[str]) -> tuple[str, ...]:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise UnknownDimension(f"cannot group by {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    return tuple(dict.fromkeys(by))


def base_mask(programs: Sequence[str]) -> int:
    mask = 0
    for p in programs:
        mask |= c.BIT[p.lower()]
    return mask


ROW_DIMS = ("segment", "ecosystem", "channel", "payer_source")


def _row_keys(by: Sequence[str]) -> list[str]:
    """The columns of a contribution month to group by: the regency stands for every office level."""
    keys = ["regency_code"] if any(d in OFFICE_DIMS for d in by) else []
    return keys + [d for d in by if d in ROW_DIMS]


def _final_keys(by: Sequence[str]) -> list[str]:
    """The output's grouping columns: code and name for office levels, the column itself otherwise."""
    return [c for d in by for c in OFFICE_DIMS.get(d, (d,))]


def _to_offices(t: ir.Table, offices: ir.Table, by: Sequence[str]) -> ir.Table:
    """Rows aggregated by regency, with the office levels of ``by`` looked up from the office map."""
    office_cols = [c for d in by if d in OFFICE_DIMS for c in OFFICE_DIMS[d] if c != "regency_code"]
    return t.join(offices.select("regency_code", *office_cols), "regency_code", how="left")


def _clean(t: ir.Table) -> ir.Table:
    fills = {c: t[c].fill_null("") for c in ("channel", "ecosystem") if c in t.columns}
    return t.mutate(**fills) if fills else t


def _agg(t: ir.Table, keys: list[str], **metrics: ir.Value) -> ir.Table:
    """Group ``t`` by ``keys`` (nationally when empty) and fill every other count with 0."""
    out = t.group_by(keys).aggregate(**metrics) if keys else t.aggregate(**metrics)
    zero = ibis.literal(0, "int64")
    return out.select(*keys, **{name: out[name].cast("int64") if name in metrics else zero for name in COUNTS})


def _bit(col: ir.IntegerColumn, bit: int) -> ir.BooleanColumn:
    return (col & bit) != 0


def _month(cm: ir.Table, period: Period, base: int) -> ir.Table:
    rows = cm.filter(cm.period == str(period))
    return _clean(rows.filter((rows.programs & base) == base))


def snapshot(
    contribution_months: ir.Table,
    registrations: ir.Table,
    offices: ir.Table,
    regions: ir.Table,
    request: Snapshot,
) -> ir.Table:
    """Every KPI of ``request.period`` per group of ``request.by`` (one national row when empty).

    Every part is aggregated by the row-level keys (regency, segment, …) first; the office levels
    (branch, Kanwil, province) are mapped from the regency on the few aggregated rows at the end.
    """
    by = check_dimensions(request.by)
    keys = _row_keys(by)
    t = request.period
    base = request.base_mask
    now = _month(contribution_months, t, base)
    before = _month(contribution_months, t + -1, base)
    ago = _month(contribution_months, t + -12, base)
    # flows from the month's back-links (docs/warehouse.md): no join of person keys
    jht = c.BIT["jht"]
    popcount = sum(_bit(now.programs, b).cast("int64") for b in c.BIT.values())
    popcount_ago = sum(_bit(ago.programs, b).cast("int64") for b in c.BIT.values())
    is_pu, is_bpu = now.segment == "pu", now.segment == "bpu"
    prev_programs = now.prev_programs.fill_null(0)
    had = (prev_programs & base) == base
    had_yoy = (now.yoy_programs.fill_null(0) & base) == base
    upgraded = is_bpu & _bit(now.programs, jht) & had & (now.prev_segment == "bpu") & ~_bit(prev_programs, jht)
    stayed = _linked(now.filter(had), "prev", keys)
    kept = _linked(now.filter(had_yoy), "yoy", keys)
    parts = [
        _agg(
            now,
            keys,
            active=now.count(),
            new=(now.person_since == str(t)).cast("int64").sum(),
            reactivated=((now.person_since < str(t)) & ~had).cast("int64").sum(),
            bpu_active=is_bpu.cast("int64").sum(),
            bpu_with_jht=(is_bpu & _bit(now.programs, jht)).cast("int64").sum(),
            bpu_upgraded_to_jht=upgraded.fill_null(False).cast("int64").sum(),
            pu_wage_sum=is_pu.ifelse(now.wage, 0).sum(),
            pu_wage_count=is_pu.cast("int64").sum(),
            programs_sum=popcount.sum(),
            amount=now.amount.sum(),
            **{f"active_{p}": _bit(now.programs, bit).cast("int64").sum() for p, bit in c.BIT.items()},
        ),
        _agg(before, keys, active_prev=before.count(), lapsed=before.count()),
        _agg(stayed, keys, lapsed=-stayed.count()),
        _agg(kept, keys, retained=kept.count()),
        _agg(
            ago,
            keys,
            active_yoy_base=ago.count(),
            pu_wage_sum_yoy=(ago.segment == "pu").ifelse(ago.wage, 0).sum(),
            pu_wage_count_yoy=(ago.segment == "pu").cast("int64").sum(),
            programs_sum_yoy=popcount_ago.sum(),
        ),
    ]
    parts.append(_employers(now, ago, keys, t))
    reg = _clean(registrations.filter(registrations.registered <= str(t)))
    reg = reg.filter(reg.first_of_person)
    if "payer_source" in keys:
        reg = reg.mutate(payer_source=ibis.literal(""))
    parts.append(_agg(reg, keys, registered=reg.count()))
    union = ibis.union(*parts, distinct=False)
    totals = _sum(union, keys)
    final = _final_keys(by)
    if "regency_code" in keys:
        totals = _sum(_to_offices(totals, offices, by).select(*final, *COUNTS), final)
    totals = _ratios(totals)
    if not by or by == ("province",):
        totals = _coverage(totals, regions, t, by)
    return totals.order_by(final) if final else totals


def _linked(rows: ir.Table, side: str, keys: list[str]) -> ir.Table:
    """Rows of t regrouped by the group their person was in at t−1 (``prev``) or t−12 (``yoy``)."""
    cols = {k: rows[f"{side}_{k}"] for k in keys}
    cols = {k: v.fill_null("") if k in ("channel", "ecosystem") else v for k, v in cols.items()}
    return rows.select(**cols) if cols else rows.select(one=ibis.literal(1))


def _sum(t: ir.Table, keys: list[str]) -> ir.Table:
    sums = {name: t[name].sum().cast("int64") for name in COUNTS}
    return t.group_by(keys).aggregate(**sums) if keys else t.aggregate(**sums)


def _employers(now: ir.Table, ago: ir.Table, keys: list[str], t: Period) -> ir.Table:
    """Employers in one pass over the PU rows of t and t−12: distinct active and new employers, and
    the change in workers at employers active in both months (any group)."""
    zero = ibis.literal(0, "int64")
    pu_now = now.filter(now.employer_id.notnull())
    pu_ago = ago.filter(ago.employer_id.notnull())
    ek = ["employer_id", *keys]
    by_now = pu_now.group_by(ek).aggregate(
        w_now=pu_now.count(), is_new=(pu_now.employer_since == str(t)).cast("int64").max()
    )
    by_ago = pu_ago.group_by(ek).aggregate(w_ago=pu_ago.count())
    rows = ibis.union(
        by_now.select(*ek, w_now=by_now.w_now, w_ago=zero, is_new=by_now.is_new),
        by_ago.select(*ek, w_now=zero, w_ago=by_ago.w_ago, is_new=zero),
        distinct=False,
    )
    per = rows.group_by(ek).aggregate(w_now=rows.w_now.sum(), w_ago=rows.w_ago.sum(), is_new=rows.is_new.max())
    whole = ibis.window(group_by=per.employer_id)
    per = per.mutate(e_now=per.w_now.sum().over(whole) > 0, e_ago=per.w_ago.sum().over(whole) > 0)
    return _agg(
        per,
        keys,
        employers_active=(per.w_now > 0).cast("int64").sum(),
        employers_new=((per.w_now > 0) & (per.is_new > 0)).cast("int64").sum(),
        workers_existing_employers_delta=(per.e_ago.ifelse(per.w_now, 0) - per.e_now.ifelse(per.w_ago, 0)).sum(),
    )


def _pct(num: ir.NumericValue, den: ir.NumericValue) -> ir.NumericValue:
    return ibis.ifelse(den == 0, ibis.null("float64"), (num.cast("float64") * 100.0 / den.cast("float64")).round(4))


def _ratios(t: ir.Table) -> ir.Table:
    return t.mutate(
        active_mom=t.active - t.active_prev,
        active_mom_pct=_pct(t.active - t.active_prev, t.active_prev),
        active_yoy=t.active - t.active_yoy_base,
        active_yoy_pct=_pct(t.active - t.active_yoy_base, t.active_yoy_base),
        retention_pct=_pct(t.retained, t.active_yoy_base),
        pu_wage_avg=ibis.ifelse(
            t.pu_wage_count == 0, ibis.null("int64"), (t.pu_wage_sum / t.pu_wage_count).round().cast("int64")
        ),
        pu_wage_avg_yoy_pct=_pct(
            t.pu_wage_sum * t.pu_wage_count_yoy - t.pu_wage_sum_yoy * t.pu_wage_count,
            t.pu_wage_sum_yoy * t.pu_wage_count,
        ),
        programs_per_participant=ibis.ifelse(
            t.active == 0, ibis.null("float64"), (t.programs_sum.cast("float64") / t.active).round(4)
        ),
        programs_per_participant_yoy=ibis.ifelse(
            t.active_yoy_base == 0,
            ibis.null("float64"),
            (t.programs_sum_yoy.cast("float64") / t.active_yoy_base).round(4),
        ),
        bpu_jht_pct=_pct(t.bpu_with_jht, t.bpu_active),
    )


def _coverage(t: ir.Table, regions: ir.Table, period: Period, by: Sequence[str]) -> ir.Table:
    """Active participants as a share of the employed population (the latest survey at or before t)."""
    known = regions.filter(regions.period <= str(period))
    latest = known.aggregate(latest=known.period.max())
    chosen = known.join(latest, known.period == latest.latest).select("province_code", "employed", "period")
    if by:
        chosen = chosen.select("province_code", employed="employed", employed_period="period")
        out = t.join(chosen, "province_code", how="left").select(*t.columns, "employed", "employed_period")
    else:
        national = chosen.aggregate(employed=chosen.employed.sum(), employed_period=chosen.period.max())
        out = t.cross_join(national)
    return out.mutate(coverage_pct=_pct(out.active, out.employed))


def series(
    contribution_months: ir.Table,
    offices: ir.Table,
    *,
    first: Period,
    last: Period,
    by: Sequence[str] = (),
    base: int,
) -> ir.Table:
    """Active participants per month from ``first`` to ``last`` (inclusive), per group."""
    by = check_dimensions(by)
    keys = _row_keys(by)
    cm = contribution_months.filter(
        (contribution_months.period >= str(first)) & (contribution_months.period <= str(last))
    )
    cm = _clean(cm.filter((cm.programs & base) == base))
    out = cm.group_by(["period", *keys]).aggregate(active=cm.count())
    final = _final_keys(by)
    if "regency_code" in keys:
        joined = _to_offices(out, offices, by)
        out = joined.group_by(["period", *final]).aggregate(active=joined.active.sum())
    return out.order_by(["period", *final])


def new_registrations(
    registrations: ir.Table, offices: ir.Table, *, first: Period, last: Period, by: Sequence[str] = ()
) -> ir.Table:
    """Persons registered for the first time from ``first`` to ``last`` (inclusive), per group."""
    by = check_dimensions(by)
    if "payer_source" in by:
        raise UnknownDimension("registrations have no payer_source; it is a property of a contribution month")
    keys = ["regency_code", *[d for d in by if d in ROW_DIMS]]
    r = registrations.filter(
        registrations.first_of_person
        & (registrations.registered >= str(first))
        & (registrations.registered <= str(last))
    )
    r = _clean(r)
    out = r.group_by(keys).aggregate(new=r.count())
    final = _final_keys(by)
    joined = _to_offices(out, offices, by)
    return joined.group_by(final).aggregate(new=joined.new.sum()) if final else joined.aggregate(new=joined.new.sum())


def employed(regions: ir.Table, period: Period) -> ir.Table:
    """The employed population per province from the latest survey at or before ``period``."""
    known = regions.filter(regions.period <= str(period))
    latest = known.aggregate(latest=known.period.max())
    chosen = known.join(latest, known.period == latest.latest)
    return chosen.select("province_code", "employed", employed_period="period").order_by("province_code")


def program_series(contribution_months: ir.Table, *, first: Period, last: Period, base: int) -> ir.Table:
    """Per month, the active participants by segment and program, and the PU wage sum — what a fund
    projection needs to compute contributions from the warehouse."""
    cm = contribution_months.filter(
        (contribution_months.period >= str(first)) & (contribution_months.period <= str(last))
    )
    cm = cm.filter((cm.programs & base) == base)
    pu, bpu = cm.segment == "pu", cm.segment == "bpu"

    def count(cond: ir.BooleanValue) -> ir.IntegerScalar:
        return cond.cast("int64").sum()

    return (
        cm.group_by("period")
        .aggregate(
            pu=count(pu),
            bpu=count(bpu),
            jakon=count(cm.segment == "jakon"),
            pmi=count(cm.segment == "pmi"),
            jht_pu=count(pu & _bit(cm.programs, c.BIT["jht"])),
            jht_bpu=count(bpu & _bit(cm.programs, c.BIT["jht"])),
            jp=count(_bit(cm.programs, c.BIT["jp"])),
            jkp=count(_bit(cm.programs, c.BIT["jkp"])),
            pu_wage_sum=pu.ifelse(cm.wage, 0).sum(),
        )
        .order_by("period")
    )


def _ordinal(period: ir.StringValue) -> ir.IntegerValue:
    """``YYYY-MM`` as a month number (year × 12 + month)."""
    return period.substr(0, 4).cast("int64") * 12 + period.substr(5, 2).cast("int64")


def funnel(
    contribution_months: ir.Table,
    registrations: ir.Table,
    *,
    first: Period,
    last: Period,
    by: Sequence[str] = (),
    base: int,
    horizon: int = 12,
) -> ir.Table:
    """Cohorts of persons registered for the first time from ``first`` to ``last``: how many registered,
    how many ever paid (were active in a month from their registration on), and how many were active
    ``k`` months after registering for k = 0 … ``horizon`` (``active_k``; null where month k is beyond the
    data). Grouped by cohort month and by segment/ecosystem/channel when asked."""
    dims = [d for d in check_dimensions(by) if d in ("segment", "ecosystem", "channel")]
    if len(dims) != len(by):
        raise UnknownDimension("cohorts are grouped by segment, ecosystem or channel only")
    reg = registrations
    r = _clean(reg.filter(reg.first_of_person & (reg.registered >= str(first)) & (reg.registered <= str(last)))).select(
        "person_id", "registered", *dims
    )
    cm = contribution_months.filter((contribution_months.programs & base) == base).select("person_id", "period")
    joined = r.join(cm, "person_id", how="left")
    since = _ordinal(joined.period) - _ordinal(joined.registered)
    joined = joined.mutate(since=since)
    keys = ["registered", *dims]
    metrics: dict[str, ir.Value] = {
        "registered_persons": joined.person_id.nunique(),
        "paid": joined.person_id.nunique(where=joined.since >= 0),
    }
    for k in range(horizon + 1):
        metrics[f"active_{k}"] = (joined.since == k).cast("int64").sum()
    out = joined.group_by(keys).aggregate(**metrics)
    limit = _ordinal(ibis.literal(str(last))) - _ordinal(out.registered)
    return out.mutate(
        **{f"active_{k}": ibis.ifelse(limit >= k, out[f"active_{k}"], ibis.null("int64")) for k in range(horizon + 1)}
    ).order_by(keys)


def pds_employers(
    contribution_months: ir.Table,
    offices: ir.Table,
    *,
    period: Period,
    min_workers: int,
    base: int,
    limit: int = 50,
) -> ir.Table:
    """Employers with at least ``min_workers`` active PU workers in ``period`` of whom some lack JHT or JP
    (PDS program: registered for fewer programs than their workers' peers), most missing first."""
    cm = contribution_months
    rows = cm.filter((cm.period == str(period)) & (cm.segment == "pu") & ((cm.programs & base) == base))
    rows = rows.filter(rows.employer_id.notnull())
    per = rows.group_by(["employer_id", "regency_code"]).aggregate(
        workers=rows.count(),
        with_jht=_bit(rows.programs, c.BIT["jht"]).cast("int64").sum(),
        with_jp=_bit(rows.programs, c.BIT["jp"]).cast("int64").sum(),
        wage_sum=rows.wage.sum(),
    )
    per = per.group_by("employer_id").aggregate(
        regency_code=per.regency_code.max(),
        workers=per.workers.sum(),
        with_jht=per.with_jht.sum(),
        with_jp=per.with_jp.sum(),
        wage_sum=per.wage_sum.sum(),
    )
    per = per.mutate(missing_jht=per.workers - per.with_jht, missing_jp=per.workers - per.with_jp)
    per = per.filter((per.workers >= min_workers) & ((per.missing_jht > 0) | (per.missing_jp > 0)))
    out = per.join(offices.select("regency_code", "branch_code", "branch_name"), "regency_code", how="left")
    out = out.select(
        "employer_id",
        "regency_code",
        "branch_code",
        "branch_name",
        "workers",
        "missing_jht",
        "missing_jp",
        missing=out.missing_jht + out.missing_jp,
        wage_avg=(out.wage_sum / out.workers).round().cast("int64"),
    )
    return out.order_by([ibis.desc("missing"), ibis.desc("workers"), "employer_id"]).limit(limit)
