"""The benefits the projection pays out of each fund, computed by the rules' benefit calculators where a method is
named."""

from __future__ import annotations

from typing import Any

from jamsos.fund.scenario import Scenario, ScenarioInvalid
from jamsos.kernel.period import Period
from jamsos.rules import benefits
from jamsos.rules.tree import ParameterTree

BenefitFn = Any


def benefit_method(s: Scenario, fund: str) -> BenefitFn:
    """The benefit outflow of one fund per month, by the one method its scenario entry names."""
    base = f"benefits.{fund}"
    node = s._node(base)
    given = list(node) if isinstance(node, dict) else []
    if len(given) != 1:
        raise ScenarioInvalid(f"scenario {s.name!r}: {base} must name exactly one method (got {', '.join(given)})")
    method = given[0]
    path = f"{base}.{method}"
    if method == "per_year_idr":
        amount = s.number(path)
        growth = float(s.item(path).get("growth_per_year", 0.0))
        first_year = s.period("opening.period").year + 1
        return lambda p, bal, n, active, wage, tree: amount * (1 + growth) ** (p.year - first_year) / 12
    if method == "withdrawal_share_of_balance_per_year" and fund == "jht":
        share = s.number(path)
        return lambda p, bal, n, active, wage, tree: bal * share / 12
    if method == "cost_per_active_per_year_idr" and fund == "jkk":
        cost = s.number(path)
        return lambda p, bal, n, active, wage, tree: active * cost / 12
    if method == "deaths_per_1000_active_per_year" and fund == "jkm":
        rate = s.number(path)

        def jkm(p: Period, bal: int, n: dict[str, float], active: float, wage: float, tree: ParameterTree) -> float:
            amount = int(benefits.jkm(p, 0, 0, tree).total)  # lump sum + periodic + funeral; no scholarship
            return active * rate / 1000 / 12 * amount

        return jkm
    if method == "claims_per_1000_per_year" and fund == "jkp":
        rate = s.number(path)

        def jkp(p: Period, bal: int, n: dict[str, float], active: float, wage: float, tree: ParameterTree) -> float:
            amount = int(benefits.jkp_schedule(p, round(wage), tree).total)  # the whole schedule, capped wage
            return n["jkp"] * rate / 1000 / 12 * amount

        return jkp
    raise ScenarioInvalid(f"scenario {s.name!r}: {path} is not a benefit method for {fund}")
