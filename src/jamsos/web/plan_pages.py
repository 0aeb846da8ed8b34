"""The planning pages: the strategy (cohorts and gaps), the annual target and its attainment, and the fund
projection by scenario."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from jamsos.fund.projection import FUNDS
from jamsos.kernel.errors import NotFound
from jamsos.kernel.period import Period
from jamsos.web.labels import ECOSYSTEMS, SEGMENTS, t
from jamsos.web.render import Page
from jamsos.web.steering import FUND_SCENARIOS
from jamsos.web.tables import Column, Table
from jamsos.web.views import (
    ATTAINMENT_COLUMNS,
    attainment_row,
    cohort_summary,
    kpi_cards,
    share,
    staff,
    steering_of,
    steering_page,
    trend_chart,
    trillions,
)

router = APIRouter(dependencies=[Depends(staff)])


@router.get("/strategi")
@steering_page
def strategi(
    request: Request, period: str | None = None, min_workers: Annotated[int, Query(ge=1, le=100_000)] = 20
) -> Page:
    s = steering_of(request)
    lang = request.state.lang
    p = s.period(period)
    n = s.national(p)
    cohorts = s.funnel()
    [overall] = cohort_summary([{**r, "all": ""} for r in cohorts], "all", lang) or [{}]
    base = overall.get("registered_persons")
    funnel_rows = [
        {"step": t(lang, "registered_persons"), "persons": base, "base": base, "pct": 100.0 if base else None},
        {
            "step": t(lang, "paid"),
            "persons": overall.get("paid"),
            "base": base,
            "pct": share(overall.get("paid"), base),
        },
        *[
            {
                "step": t(lang, f"m{k}"),
                "persons": overall.get(f"active_{k}"),
                "base": overall.get(f"active_{k}_base"),
                "pct": overall.get(f"active_{k}_pct"),
            }
            for k in (3, 6, 12)
        ],
    ]
    f_table = Table(
        "corong",
        t(lang, "funnel"),
        [Column("step"), Column("persons", "int"), Column("base", "int", "cohort_base"), Column("pct", "pct")],
        funnel_rows,
    )
    matrix = [
        {
            "cohort": r["registered"],
            "registered_persons": r["registered_persons"],
            **{
                f"m{k}": None
                if r[f"active_{k}"] is None or not r["registered_persons"]
                else round(r[f"active_{k}"] / r["registered_persons"] * 100, 1)
                for k in range(13)
            },
        }
        for r in cohorts
    ]
    c_table = Table(
        "retensi-kohort",
        t(lang, "cohort_retention"),
        [Column("cohort"), Column("registered_persons", "int"), *[Column(f"m{k}", "pct", f"m{k}") for k in range(13)]],
        matrix,
    )
    pds = s.pds(p, max(1, min_workers))
    p_table = Table(
        "pds",
        t(lang, "pds"),
        [
            Column("employer_id"),
            Column("branch_name"),
            Column("workers", "int"),
            Column("missing_jht", "int"),
            Column("missing_jp", "int"),
            Column("missing", "int"),
            Column("wage_avg", "idr"),
        ],
        pds,
    )
    groups = {
        "retensi": kpi_cards(n, [("retention_pct", "pct"), ("lapsed", "int"), ("reactivated", "int")]),
        "intensifikasi": kpi_cards(
            n,
            [
                ("workers_existing_employers_delta", "int"),
                ("pu_wage_avg", "idr"),
                ("programs_per_participant", "float"),
                ("bpu_jht_pct", "pct"),
                ("bpu_upgraded_to_jht", "int"),
            ],
        ),
        "ekstensifikasi": kpi_cards(n, [("new", "int"), ("employers_new", "int"), ("coverage_pct", "pct")]),
    }
    return Page(
        "strategi",
        "strategi.html",
        period=p,
        tables=[f_table, c_table, p_table],
        extra={"groups": groups, "min_workers": min_workers},
    )


@router.get("/target")
@steering_page
def target(request: Request) -> Page:
    s = steering_of(request)
    lang = request.state.lang
    report = s.attainment(with_forecast=True)
    rows = []
    for a in report.rows:
        j = attainment_row(a.to_json())
        if not j["office_name"]:
            j["office_name"] = t(lang, j["level"]) if j["level"] != "national" else t(lang, "nasional")
        if j["segment"] or j["ecosystem"]:
            seg = SEGMENTS[lang].get(j["segment"], "")
            eco = ECOSYSTEMS[lang].get(j["ecosystem"], "")
            j["office_name"] = " · ".join(x for x in (j["office_name"], seg, eco) if x)
        rows.append(j)
    table = Table("target", t(lang, "target"), ATTAINMENT_COLUMNS, rows)
    p = s.latest()
    forecasts = []
    for tgt in s.national_targets():
        if tgt.period > p:
            f = s.forecast(tgt.period)
            end = f["points"][-1]
            forecasts.append(
                {
                    "period": str(tgt.period),
                    "target": round(tgt.value),
                    "mean": end["mean"],
                    "lo80": end["lo80"],
                    "hi80": end["hi80"],
                    "p": f["p_reach_target"],
                    "model": f["model"],
                }
            )
    f_table = Table(
        "proyeksi",
        t(lang, "forecast"),
        [
            Column("period", label="target_period"),
            Column("target", "int", "targets"),
            Column("mean", "int", "forecast"),
            Column("lo80", "int", "interval80"),
            Column("hi80", "int", "interval80"),
            Column("p", "prob", "p_reach_target"),
            Column("model"),
        ],
        forecasts,
    )
    return Page("target", "table_page.html", period=p, tables=[table, f_table], charts=[trend_chart(s, lang, p)])


@router.get("/dana")
@steering_page
def dana(request: Request, scenario: str = "base") -> Page:
    s = steering_of(request)
    lang = request.state.lang
    if scenario not in FUND_SCENARIOS:
        raise NotFound(f"no scenario {scenario!r}; choose one of {', '.join(FUND_SCENARIOS)}")
    until = Period(2023, 12) if scenario == "hindcast-2023" else Period(2024, 12)
    result = s.fund(scenario, until)
    points = [{"period": result["from"], **result["opening"]}, *result["points"]]
    by_program = [
        {"period": pt["period"], "total": pt["total_idr"], **{k: pt["by_fund"][k] for k in FUNDS}} for pt in points
    ]
    p_table = Table(
        "dana",
        t(lang, "fund_by_program"),
        [Column("period", label="period_col"), Column("total", "trillion"), *[Column(k, "trillion", k) for k in FUNDS]],
        by_program,
    )
    flows = [
        {
            "period": pt["period"],
            "inflows": pt["inflows_idr"],
            "outflows": pt["outflows_idr"],
            "returns": pt["returns_idr"],
        }
        for pt in result["points"]
    ]
    fl_table = Table(
        "arus",
        t(lang, "dana"),
        [
            Column("period", label="period_col"),
            Column("inflows", "trillion"),
            Column("outflows", "trillion"),
            Column("returns", "trillion"),
        ],
        flows,
    )
    compare = [
        {**c, "kind": t(lang, "roadmap") if c["kind"] == "roadmap" else t(lang, "actual")} for c in result["compare"]
    ]
    c_table = Table(
        "banding",
        t(lang, "roadmap"),
        [
            Column("period", label="period_col"),
            Column("kind"),
            Column("total_idr", "trillion", "published"),
            Column("projected_idr", "trillion", "projected"),
            Column("difference_pct", "pct"),
        ],
        compare,
    )
    scen_rows = []
    for name in ("pessimistic", "base", "optimistic", "base-2024"):
        r = s.fund(name, Period(2024, 12))
        end = r["points"][-1]
        road = next((c for c in r["compare"] if c["period"] == "2024-12" and c["kind"] == "roadmap"), None)
        scen_rows.append(
            {
                "scenario": name,
                "total": end["total_idr"],
                "roadmap": road["total_idr"] if road else None,
                "difference_pct": road["difference_pct"] if road else None,
            }
        )
    s_table = Table(
        "skenario",
        t(lang, "scenarios", period="2024-12"),
        [
            Column("scenario"),
            Column("total", "trillion"),
            Column("roadmap", "trillion"),
            Column("difference_pct", "pct"),
        ],
        scen_rows,
    )
    ind = [
        {
            "year": y["year"],
            **{k: v["reserve_ratio"] for k, v in y["funds"].items()},
            "payg": y["jp_payg_cost_rate_pct"],
        }
        for y in result["indicators"]
    ]
    i_table = Table(
        "indikator",
        t(lang, "indicators") + " — " + t(lang, "reserve_ratio"),
        [Column("year"), *[Column(k, "float", k) for k in FUNDS[:-1]], Column("payg", "float")],
        ind,
    )
    history = {(c["period"], c["kind"]): c["total_idr"] for c in result["compare"]}
    chart = {
        "id": "fund",
        "type": "line",
        "labels": [pt["period"] for pt in points],
        "datasets": [
            {
                "label": t(lang, "projected"),
                "data": [round(pt["total_idr"] / 1e12, 2) for pt in points],
                "role": "forecast",
            },
            {
                "label": t(lang, "roadmap"),
                "data": [trillions(history.get((pt["period"], "roadmap"))) for pt in points],
                "role": "target",
            },
            {
                "label": t(lang, "actual"),
                "data": [trillions(history.get((pt["period"], "actual"))) for pt in points],
                "role": "actual-point",
            },
        ],
    }
    return Page(
        "dana",
        "dana.html",
        tables=[p_table, fl_table, c_table, s_table, i_table],
        charts=[chart],
        extra={"scenario": scenario, "scenarios": FUND_SCENARIOS, "assumptions": result["assumptions"]},
    )
