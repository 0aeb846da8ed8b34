"""The fund projection: money is conserved, the 2023 hindcast lands near the published fund, scenarios and
what-ifs move it the right way, and bad scenarios are explained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jamsos.cli.main import app
from jamsos.fund import projection as fund
from jamsos.kernel.period import Period
from jamsos.rules.tree import load_parameters

TREE = load_parameters()


def base_data() -> dict:
    return fund.Scenario.load("base").data


def test_money_is_conserved_month_by_month_and_fund_by_fund() -> None:
    p = fund.project(fund.Scenario.load("base"), tree=TREE, until=Period(2024, 12))
    before = dict(p.opening)
    for m in p.months:
        assert sum(f.transfer_in - f.transfer_out for f in m.funds.values()) == 0
        for k, f in m.funds.items():
            assert f.opening == before[k]
            assert (
                f.closing
                == f.opening + f.contributions - f.benefits - f.transfer_out + f.transfer_in - f.spending + f.returns
            )
            before[k] = f.closing
        assert sum(before.values()) == sum(f.opening for f in m.funds.values()) + m.inflows - m.outflows + m.returns


amounts = st.floats(0, 5e13, allow_nan=False)
rates = st.floats(0, 0.3, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    balances=st.fixed_dictionaries({k: st.floats(0, 1e15, allow_nan=False) for k in fund.FUNDS}),
    yields=st.fixed_dictionaries({k: st.floats(-0.2, 0.3, allow_nan=False) for k in fund.FUNDS}),
    growth=st.floats(-0.3, 0.5, allow_nan=False),
    op_share=st.floats(0, 0.2, allow_nan=False),
    spent=st.floats(0, 1, allow_nan=False),
    jht_share=rates,
    jp_amount=amounts,
    months=st.integers(1, 30),
    step=st.sampled_from(["year", "month"]),
)
def test_conservation_holds_for_any_scenario(
    balances: dict,
    yields: dict,
    growth: float,
    op_share: float,
    spent: float,
    jht_share: float,
    jp_amount: float,
    months: int,
    step: str,
) -> None:
    data = base_data()
    data["opening"]["balances_idr"] = {k: {"value": v, "status": "given"} for k, v in balances.items()}
    data["returns"]["yield_per_year"] = {"value": yields, "status": "given"}
    data["participants"]["growth_per_year"] = growth
    data["operating"] = {"share_of_contributions": op_share, "spent_share": spent}
    data["benefits"]["jht"] = {"withdrawal_share_of_balance_per_year": jht_share}
    data["benefits"]["jp"] = {"per_year_idr": jp_amount}
    p = fund.project(fund.Scenario(data), tree=TREE, until=Period(2022, 12) + months)
    points = p.points(step)
    total = sum(p.opening.values())
    by_fund = dict(p.opening)
    for pt in points:
        # opening + in − out + returns = closing, for the whole fund and (with transfers) for each fund
        assert total + pt["inflows_idr"] - pt["outflows_idr"] + pt["returns_idr"] == pt["total_idr"]
        for k, f in pt["flows_by_fund"].items():
            moved = (
                f["contributions_idr"] - f["benefits_idr"] + f["transfers_idr"] - f["spending_idr"] + f["returns_idr"]
            )
            assert by_fund[k] + moved == pt["by_fund"][k]
        total, by_fund = pt["total_idr"], pt["by_fund"]
    assert points[-1]["period"] == str(Period(2022, 12) + months)


def test_the_2023_hindcast_lands_within_3_percent_of_the_published_fund() -> None:
    p = fund.project(fund.Scenario.load("hindcast-2023"), tree=TREE, until=Period(2023, 12))
    [actual] = [c for c in fund.compare(p) if c["kind"] == "actual"]
    published = next(h for h in fund.history() if h["period"] == "2023-12" and h["kind"] == "actual")
    assert actual["total_idr"] == published["total_idr"]
    assert abs(actual["difference_pct"]) < 3
    assert any(c["kind"] == "roadmap" for c in fund.compare(p))
    # the hindcast's returns are the published 2023 income (Rp47.1 T in total)
    assert p.points()[-1]["returns_idr"] == pytest.approx(47.1e12, rel=0.002)


def test_scenarios_are_ordered_and_what_ifs_move_the_right_fund() -> None:
    end = Period(2024, 12)
    totals = {
        n: sum(fund.project(fund.Scenario.load(n), tree=TREE, until=end).closing(end).values())
        for n in ("pessimistic", "base", "optimistic")
    }
    assert totals["pessimistic"] < totals["base"] < totals["optimistic"]
    base = fund.project(fund.Scenario.load("base"), tree=TREE, until=end)
    higher = fund.project(fund.Scenario.load("base"), tree=TREE, until=end, jp_wage_cap=(20e6, Period(2024, 1)))
    lower = fund.project(fund.Scenario.load("base"), tree=TREE, until=end, jp_wage_cap=(3e6, Period(2024, 1)))
    jp = [x.closing(end)["jp"] for x in (lower, base, higher)]
    assert jp[0] < jp[1] < jp[2]
    assert lower.closing(Period(2023, 12)) == base.closing(Period(2023, 12))  # nothing changes before the reform
    assert lower.closing(end)["jht"] == base.closing(end)["jht"]


def test_capped_mean_matches_a_simulation() -> None:
    rng = np.random.default_rng(7)
    mean, sigma = 4.2e6, 0.45
    w = rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, 2_000_000)
    for cap in (3e6, 5e6, 9.5596e6):
        assert fund.capped_mean(mean, sigma, cap) == pytest.approx(np.minimum(w, cap).mean(), rel=0.002)


def test_indicators_follow_from_the_flows() -> None:
    p = fund.project(fund.Scenario.load("base"), tree=TREE, until=Period(2024, 12))
    [y2023, y2024] = p.indicators()
    jkm = y2024["funds"]["jkm"]
    spent = sum(m.funds["jkm"].benefits + m.funds["jkm"].transfer_out for m in p.months if m.period.year == 2024)
    assert jkm["reserve_ratio"] == round(p.closing(Period(2024, 12))["jkm"] / spent, 2)
    assert 0 < y2023["jp_payg_cost_rate_pct"] < 1  # a young pension scheme: benefits far below contributions (3 %)


def test_bad_scenarios_are_explained(tmp_path: Path) -> None:
    data = base_data()
    del data["wages"]["pu_sigma"]
    with pytest.raises(fund.ScenarioInvalid, match=r"wages\.pu_sigma is missing"):
        fund.project(fund.Scenario(data), tree=TREE, until=Period(2023, 12))
    data = base_data()
    data["benefits"]["jkk"] = {"per_year_idr": 1e12, "cost_per_active_per_year_idr": 5}
    with pytest.raises(fund.ScenarioInvalid, match="exactly one method"):
        fund.project(fund.Scenario(data), tree=TREE, until=Period(2023, 12))
    data = base_data()
    data["wages"]["jkk_risk_class_mix"] = {
        "sangat_rendah": 1,
        "rendah": 1,
        "sedang": 0,
        "tinggi": 0,
        "sangat_tinggi": 0,
    }
    with pytest.raises(fund.ScenarioInvalid, match="add up to 1"):
        fund.project(fund.Scenario(data), tree=TREE, until=Period(2023, 12))
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n", encoding="utf-8")
    with pytest.raises(fund.ScenarioInvalid, match="circle"):
        fund.Scenario.load(tmp_path / "a.yaml")


def test_fund_project_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fund", "project", "--from", "2022-12", "--until", "2024-12", "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert (r["from"], r["until"], r["scenario"]) == ("2022-12", "2024-12", "base")
    [p2023, p2024] = r["points"]
    assert p2023["period"] == "2023-12" and set(p2024["by_fund"]) >= {"jht", "jp", "jkk", "jkm", "jkp"}
    for key in ("total_idr", "inflows_idr", "outflows_idr", "returns_idr"):
        assert isinstance(p2024[key], int)
    assert {a["status"] for a in r["assumptions"]} <= set(fund.STATUSES)
    # a user's scenario extends a shipped one
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"name": "mine", "extends": "base", "participants": {"growth_per_year": 0.3}}))
    result = CliRunner().invoke(app, ["fund", "project", "--until", "2024-12", "--scenario", str(mine), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["points"][-1]["inflows_idr"] > p2024["inflows_idr"]
    bad = CliRunner().invoke(app, ["fund", "project", "--from", "2023-06", "--until", "2024-12"])
    assert bad.exit_code == 22 and "opens at 2022-12" in bad.output


def test_observed_months_replace_the_scenario_path() -> None:
    s = fund.Scenario.load("hindcast-2023")
    plain = fund.project(s, tree=TREE, until=Period(2023, 12))
    path = fund.ProjectionPath(s, Period(2022, 12), None)
    wage = s.number("wages.pu_mean_idr")
    same = {p: {**path.at(p), "pu_wage_mean": wage} for p in (Period(2023, m) for m in range(1, 13))}
    assert fund.project(s, tree=TREE, until=Period(2023, 12), observed=same).closing(Period(2023, 12)) == plain.closing(
        Period(2023, 12)
    )
    doubled = {p: {**v, "jp": v["jp"] * 2} for p, v in same.items()}
    changed = fund.project(s, tree=TREE, until=Period(2023, 12), observed=doubled)
    jp = [m.funds["jp"].contributions for m in changed.months]
    assert all(abs(a - 2 * m.funds["jp"].contributions) <= 1 for a, m in zip(jp, plain.months, strict=True))
    with pytest.raises(fund.ScenarioInvalid, match="lacks pu_wage_mean"):
        fund.project(s, tree=TREE, until=Period(2023, 12), observed={Period(2023, 1): path.at(Period(2023, 1))})


def test_fund_projection_from_a_synthetic_warehouse(tmp_path: Path) -> None:
    out = tmp_path / "wh"
    r = CliRunner().invoke(
        app, ["synth", "--scale", "0.002", "--from", "2022-11", "--to", "2023-12", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        app, ["fund", "project", "--until", "2023-12", "--scenario", "hindcast-2023", "-w", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert any("observed 2023-01 … 2023-12" in x and "scale 0.002" in x for x in result["reforms"])
    [actual] = [c for c in result["compare"] if c["kind"] == "actual"]
    assert abs(actual["difference_pct"]) < 3  # the synthetic nation is calibrated to the published program counts
