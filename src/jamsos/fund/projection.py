"""The fund under management (dana kelolaan), projected month by month per program fund.

Each month and fund: ``closing = opening + contributions − benefits − operating transfer (to BPJS's own fund)
+ transfer in − operating spending + returns``. Transfers move money between funds and cancel in the total,
so the whole fund obeys ``closing = opening + inflows − outflows + returns`` exactly (integer rupiah).

Contributions are computed from participants per program, the contribution rules in force each month
(``rules/parameters``) and the scenario's wage assumptions; benefits use the benefit calculators where a
rate per person is assumed (JKM, JKP) and amounts or rates otherwise; returns are yields on the balance or a
given income. Every assumption is read from a scenario file and reported with its status.

The scenarios live in ``fund.scenario``, the benefit methods in ``fund.benefits``, the published history in
``fund.history``; this module projects and is the entrance (``from jamsos.fund import projection as fund``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jamsos.fund.benefits import benefit_method
from jamsos.fund.history import history
from jamsos.fund.scenario import COUNTS, FUNDS, PROGRAM_FUNDS, SCENARIOS, STATUSES, Scenario, ScenarioInvalid
from jamsos.kernel.period import Period
from jamsos.planning.forecast import forecast, published_active
from jamsos.rules import codes as c
from jamsos.rules.tree import ParameterTree


@dataclass
class FundMonth:
    """One fund's movements in one month (integer rupiah)."""

    opening: int
    contributions: int = 0
    benefits: int = 0
    transfer_out: int = 0
    transfer_in: int = 0
    spending: int = 0
    returns: int = 0

    @property
    def closing(self) -> int:
        return (
            self.opening
            + self.contributions
            - self.benefits
            - self.transfer_out
            + self.transfer_in
            - self.spending
            + self.returns
        )


@dataclass
class Month:
    period: Period
    funds: dict[str, FundMonth]
    jp_wage_bill: float = 0.0

    @property
    def inflows(self) -> int:
        return sum(f.contributions for f in self.funds.values())

    @property
    def outflows(self) -> int:
        return sum(f.benefits + f.spending for f in self.funds.values())

    @property
    def returns(self) -> int:
        return sum(f.returns for f in self.funds.values())


@dataclass(frozen=True)
class Projection:
    scenario: Scenario
    opening_period: Period
    opening: dict[str, int]
    months: list[Month]
    reforms: list[str] = field(default_factory=list)

    def closing(self, period: Period) -> dict[str, int]:
        if period == self.opening_period:
            return dict(self.opening)
        m = self.months[period - self.opening_period - 1]
        return {k: f.closing for k, f in m.funds.items()}

    def _span(self, after: Period, upto: Period) -> Iterator[Month]:
        return iter(self.months[after - self.opening_period : upto - self.opening_period])

    def point(self, after: Period, upto: Period) -> dict[str, Any]:
        span = list(self._span(after, upto))
        by_fund = self.closing(upto)
        return {
            "period": str(upto),
            "total_idr": sum(by_fund.values()),
            "by_fund": by_fund,
            "inflows_idr": sum(m.inflows for m in span),
            "outflows_idr": sum(m.outflows for m in span),
            "returns_idr": sum(m.returns for m in span),
            "flows_by_fund": {
                k: {
                    "contributions_idr": sum(m.funds[k].contributions for m in span),
                    "benefits_idr": sum(m.funds[k].benefits for m in span),
                    "transfers_idr": sum(m.funds[k].transfer_in - m.funds[k].transfer_out for m in span),
                    "spending_idr": sum(m.funds[k].spending for m in span),
                    "returns_idr": sum(m.funds[k].returns for m in span),
                }
                for k in FUNDS
            },
        }

    def points(self, step: str = "year") -> list[dict[str, Any]]:
        """Points at every December and at the last month (``step="year"``) or at every month."""
        last = self.opening_period + len(self.months)
        ends = [m.period for m in self.months if step == "month" or m.period.month == 12 or m.period == last]
        out, before = [], self.opening_period
        for end in ends:
            out.append(self.point(before, end))
            before = end
        return out

    def indicators(self) -> list[dict[str, Any]]:
        """Per calendar year: contribution and benefit cash flows per fund, the reserve ratio (fund ÷ the
        year's expenditure), months of benefits the fund covers, and the JP PAYG cost rate (benefits ÷
        the insured wage bill)."""
        years: dict[int, list[Month]] = {}
        for m in self.months:
            years.setdefault(m.period.year, []).append(m)
        out = []
        for year, ms in years.items():
            end = ms[-1].period
            closing = self.closing(end)
            row: dict[str, Any] = {"year": year, "through": str(end), "months": len(ms), "funds": {}}
            for k in PROGRAM_FUNDS:
                contrib = sum(m.funds[k].contributions for m in ms)
                paid = sum(m.funds[k].benefits for m in ms)
                spent = paid + sum(m.funds[k].transfer_out for m in ms)
                annual = spent * 12 / len(ms)
                row["funds"][k] = {
                    "contributions_idr": contrib,
                    "benefits_idr": paid,
                    "reserve_ratio": round(closing[k] / annual, 2) if annual else None,
                    "months_of_benefits": round(closing[k] / (paid / len(ms)), 1) if paid else None,
                }
            bill = sum(m.jp_wage_bill for m in ms)
            jp_paid = row["funds"]["jp"]["benefits_idr"]
            row["jp_payg_cost_rate_pct"] = round(jp_paid / bill * 100, 3) if bill else None
            out.append(row)
        return out


def phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def capped_mean(mean: float, sigma: float, cap: float) -> float:
    """E[min(W, cap)] for a log-normal wage W with the given mean and log-spread."""
    if sigma <= 0:
        return min(mean, cap)
    mu = math.log(mean) - sigma * sigma / 2
    z = (math.log(cap) - mu) / sigma
    return mean * phi(z - sigma) + cap * (1 - phi(z))


def growth_rate(tree: ParameterTree, path: str, period: Period) -> float:
    return float(tree.value(path, period))


class ProjectionPath:
    """Participants per program: linear from opening to closing levels, then compound growth."""

    def __init__(self, s: Scenario, opening: Period, forecast_path: dict[Period, float] | None) -> None:
        self.start = {k: s.number(f"participants.opening.{k}") for k in COUNTS}
        self.end_period = s.period("participants.closing.period") if s.has("participants.closing") else opening
        self.end = (
            {k: s.number(f"participants.closing.{k}") for k in COUNTS} if s.has("participants.closing") else self.start
        )
        if self.end_period < opening:
            raise ScenarioInvalid("participants.closing.period is before the opening month")
        self.growth = s.number("participants.growth_per_year", minimum=-0.5)
        self.opening = opening
        self.forecast_path = forecast_path

    def at(self, p: Period) -> dict[str, float]:
        if p <= self.end_period:
            span = self.end_period - self.opening
            x = (p - self.opening) / span if span else 1.0
            return {k: self.start[k] + (self.end[k] - self.start[k]) * x for k in COUNTS}
        if self.forecast_path is not None:
            base = self.forecast_path[self.end_period]
            ratio = self.forecast_path[p] / base
        else:
            ratio = (1 + self.growth) ** ((p - self.end_period) / 12)
        return {k: v * ratio for k, v in self.end.items()}


def forecast_path_of(until: Period, closing: Period) -> dict[Period, float]:
    """Active participants from the published series and its forecast (the coverage path of a what-if)."""
    obs = published_active()
    last = max(p for p, _ in obs)
    path = {p: v for p, v in obs}
    if until > last:
        f = forecast(obs, until=until)
        path.update({pt.period: pt.mean for pt in f.points})
    if closing not in path:
        raise ScenarioInvalid(f"the published series has no value for {closing} to start the forecast path from")
    return path


def project(
    scenario: Scenario,
    *,
    tree: ParameterTree,
    until: Period,
    start: Period | None = None,
    jp_wage_cap: tuple[float, Period] | None = None,
    coverage_path: str = "scenario",
    observed: Mapping[Period, Mapping[str, float]] | None = None,
    observed_from: str = "",
) -> Projection:
    """Project every fund month by month from the scenario's opening balances to ``until``.

    What-ifs: ``jp_wage_cap`` = (cap in rupiah, first month) replaces the JP wage cap of the rules from that
    month; ``coverage_path="forecast"`` makes participants follow the forecast of the published active series
    after the scenario's closing levels instead of its growth rate.

    ``observed`` gives, for some months, the participants per program (``COUNTS``) and the mean PU wage
    (``pu_wage_mean``) measured in a warehouse; they replace the scenario's path in those months, and after
    the last of them the scenario's growth rates continue from the observed levels."""
    s = scenario
    opening_period = s.period("opening.period")
    if start is not None and start != opening_period:
        raise ScenarioInvalid(
            f"scenario {s.name!r} opens at {opening_period}, not {start}; give --from {opening_period}"
        )
    if until <= opening_period:
        raise ScenarioInvalid(f"--until must be after the opening month {opening_period}")
    opening = {k: round(s.number(f"opening.balances_idr.{k}")) for k in FUNDS}
    if coverage_path not in ("scenario", "forecast"):
        raise ScenarioInvalid("coverage path must be 'scenario' or 'forecast'")
    counts = ProjectionPath(s, opening_period, None)
    if coverage_path == "forecast":
        counts = ProjectionPath(s, opening_period, forecast_path_of(until, counts.end_period))
    wage_base_period = Period.parse(str(s.item("wages.pu_mean_idr").get("period", str(opening_period + 1))))
    wage_base = s.number("wages.pu_mean_idr", minimum=1)
    sigma = s.number("wages.pu_sigma")
    wage_growth = s.number("wages.growth_per_year", minimum=-0.5)
    mix = s.numbers("wages.jkk_risk_class_mix", c.RISK_CLASSES)
    if abs(sum(mix.values()) - 1) > 1e-6:
        raise ScenarioInvalid(f"scenario {s.name!r}: wages.jkk_risk_class_mix must add up to 1")
    jakon = s.numbers("wages.jakon_per_worker_month_idr", ("jkk", "jkm"))
    op_share = s.number("operating.share_of_contributions")
    spent_share = s.number("operating.spent_share")
    # Returns may be negative (losses); a yield below −100 % is not.
    yields = s.numbers("returns.yield_per_year", FUNDS, minimum=-1.0) if s.has("returns.yield_per_year") else None
    income = None if yields is not None else s.numbers("returns.income_per_year_idr", FUNDS, minimum=-math.inf)
    methods = {k: benefit_method(s, k) for k in PROGRAM_FUNDS}
    reforms = []
    if jp_wage_cap is not None:
        reforms.append(f"JP wage cap Rp{jp_wage_cap[0]:,.0f} from {jp_wage_cap[1]}")
    if coverage_path == "forecast":
        reforms.append("participants follow the forecast of the published active series after the closing levels")

    obs = {p: v for p, v in (observed or {}).items() if opening_period < p <= until}
    for p, v in obs.items():
        missing = [k for k in (*COUNTS, "pu_wage_mean") if k not in v]
        if missing:
            raise ScenarioInvalid(f"observed {p} lacks {', '.join(missing)}")
    last_obs = max(obs) if obs else None
    if obs:
        reforms.append(f"participants and PU wage observed {min(obs)} … {last_obs}{observed_from}")

    balances = dict(opening)
    months: list[Month] = []
    for i in range(until - opening_period):
        p = opening_period + (i + 1)
        if p in obs:
            n = {k: float(obs[p][k]) for k in COUNTS}
            wage = float(obs[p]["pu_wage_mean"])
        elif last_obs is not None and p > last_obs:
            growth = (1 + counts.growth) ** ((p - last_obs) / 12)
            n = {k: float(obs[last_obs][k]) * growth for k in COUNTS}
            wage = float(obs[last_obs]["pu_wage_mean"]) * (1 + wage_growth) ** (p.year - last_obs.year)
        else:
            n = counts.at(p)
            wage = wage_base * (1 + wage_growth) ** (p.year - wage_base_period.year)
        active = n["pu"] + n["bpu"] + n["jakon"]
        jp_cap = float(tree.value("pu.jp.wage_cap", p))
        if jp_wage_cap is not None and p >= jp_wage_cap[1]:
            jp_cap = jp_wage_cap[0]
        jkp_cap = float(tree.value("jkp.wage_cap", p))
        jp_wage = capped_mean(wage, sigma, jp_cap)
        jkp_wage = capped_mean(wage, sigma, jkp_cap)
        bpu_income = float(tree.value("bpu.income_tier", p)["lowest"])
        jkk_rate = sum(float(r) * mix[k] for k, r in tree.value("pu.jkk.rate_by_risk_class", p).items())
        recomp_jkk = growth_rate(tree, "jkp.recomposition_from_jkk_rate", p)
        recomp_jkm = growth_rate(tree, "jkp.recomposition_from_jkm_rate", p)
        jkp_bill = n["jkp"] * jkp_wage
        contrib = {
            "jht": n["jht_pu"]
            * (growth_rate(tree, "pu.jht.employer_rate", p) + growth_rate(tree, "pu.jht.worker_rate", p))
            * wage
            + n["jht_bpu"] * growth_rate(tree, "bpu.jht_rate", p) * bpu_income,
            "jp": n["jp"]
            * (growth_rate(tree, "pu.jp.employer_rate", p) + growth_rate(tree, "pu.jp.worker_rate", p))
            * jp_wage,
            "jkk": n["pu"] * jkk_rate * wage
            + n["bpu"] * growth_rate(tree, "bpu.jkk_rate", p) * bpu_income
            + n["jakon"] * jakon["jkk"]
            - recomp_jkk * jkp_bill,
            "jkm": n["pu"] * growth_rate(tree, "pu.jkm.rate", p) * wage
            + n["bpu"] * growth_rate(tree, "bpu.jkm_amount", p)
            + n["jakon"] * jakon["jkm"]
            - recomp_jkm * jkp_bill,
            "jkp": (growth_rate(tree, "jkp.government_rate", p) + recomp_jkk + recomp_jkm) * jkp_bill,
        }
        funds = {k: FundMonth(balances[k]) for k in FUNDS}
        for k in PROGRAM_FUNDS:
            f = funds[k]
            f.contributions = round(max(contrib[k], 0.0))
            f.transfer_out = round(f.contributions * op_share)
            f.benefits = round(methods[k](p, balances[k], n, active, jkp_wage, tree))
        badan = funds["badan"]
        badan.transfer_in = sum(funds[k].transfer_out for k in PROGRAM_FUNDS)
        badan.spending = round(badan.transfer_in * spent_share)
        for k in FUNDS:
            f = funds[k]
            if yields is not None:
                net = f.closing - f.opening  # flows so far this month; returns are still 0
                f.returns = round(((1 + yields[k]) ** (1 / 12) - 1) * (f.opening + net / 2))
            else:
                assert income is not None
                f.returns = round(income[k] / 12)
            balances[k] = f.closing
        months.append(Month(p, funds, n["jp"] * jp_wage))
    return Projection(s, opening_period, opening, months, reforms)


def compare(projection: Projection) -> list[dict[str, Any]]:
    """The projection against every published actual and roadmap target inside its span."""
    last = projection.opening_period + len(projection.months)
    out = []
    for h in history():
        p = Period.parse(h["period"])
        if projection.opening_period < p <= last:
            projected = sum(projection.closing(p).values())
            out.append(
                {
                    **h,
                    "projected_idr": projected,
                    "difference_idr": projected - h["total_idr"],
                    "difference_pct": round((projected - h["total_idr"]) / h["total_idr"] * 100, 3),
                }
            )
    return out


def to_json(projection: Projection, *, step: str = "year") -> dict[str, Any]:
    s = projection.scenario
    return {
        "from": str(projection.opening_period),
        "until": str(projection.opening_period + len(projection.months)),
        "scenario": s.name,
        "description": s.description,
        "reforms": projection.reforms,
        "opening": {"total_idr": sum(projection.opening.values()), "by_fund": projection.opening},
        "points": projection.points(step),
        "indicators": projection.indicators(),
        "compare": compare(projection),
        "assumptions": [a.to_json() for a in sorted(s.used.values(), key=lambda a: a.path)],
    }


__all__ = [
    "COUNTS",
    "FUNDS",
    "SCENARIOS",
    "STATUSES",
    "FundMonth",
    "Month",
    "Projection",
    "ProjectionPath",
    "Scenario",
    "ScenarioInvalid",
    "capped_mean",
    "compare",
    "history",
    "project",
    "to_json",
]
