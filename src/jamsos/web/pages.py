"""The steering pages: each builds its tables and charts from ``Steering`` (cached figures)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jamsos.fund.projection import FUNDS
from jamsos.kernel.errors import NotFound
from jamsos.kernel.period import Period
from jamsos.web.labels import ECOSYSTEMS, SEGMENTS, t
from jamsos.web.render import Page, page_response, province_map, shared_body, with_header
from jamsos.web.security import Who
from jamsos.web.steering import FUND_SCENARIOS, Steering
from jamsos.web.tables import Column, Table


def _staff(who: Who) -> None:
    who.allow("steering")


router = APIRouter(dependencies=[Depends(_staff)])

KPI_COLUMNS = [
    Column("active", "int"),
    Column("active_yoy_pct", "pct"),
    Column("retention_pct", "pct"),
    Column("new", "int"),
    Column("reactivated", "int"),
    Column("lapsed", "int"),
    Column("registered", "int"),
]
ATTAINMENT_COLUMNS = [
    Column("period", label="target_period"),
    Column("office_name"),
    Column("target", "int", "targets"),
    Column("actual", "int"),
    Column("attainment_pct", "pct"),
    Column("gap", "int"),
    Column("required_per_month", "float"),
    Column("run_rate_per_month", "float"),
    Column("on_track", "bool"),
    Column("rank_text", label="rank"),
    Column("p_reach_target", "prob"),
]


def steering_page(build: Callable[..., Page]) -> Callable[..., Response]:
    """A steering page, the same for every staff member: its body is kept per warehouse state, language and the
    filters the route declares (other query parameters are ignored, so they cannot grow the cache), and each
    request adds its own header (who is logged in, their menu, their CSRF token). The router's dependency has
    checked the user first, on every request; downloads are built afresh."""

    @functools.wraps(build)
    def route(request: Request, **params: Any) -> Response:
        request.state.params = params
        if "format" in request.query_params:
            return page_response(request, build(request, **params))
        s = _steering(request)
        key = (build.__name__, request.state.lang, tuple(sorted(params.items())))
        kept = s.page(key)
        if kept is None:
            page = build(request, **params)
            kept = (shared_body(request, page), page.nav)
            s.keep_page(key, *kept)
        return with_header(request, *kept)

    return route


def _steering(request: Request) -> Steering:
    s: Steering | None = request.app.state.steering
    if s is None or not s.available:
        raise NotFound("no warehouse: run jamsos synth or jamsos warehouse export and give it to jamsos serve")
    return s


def _named(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Rows with readable segment and ecosystem names (the codes stay in ``segment``/``ecosystem``)."""
    out = []
    for r in rows:
        r = dict(r)
        if "segment" in r:
            r["segment_name"] = SEGMENTS[lang].get(r["segment"], r["segment"])
        if "ecosystem" in r:
            r["ecosystem_name"] = ECOSYSTEMS[lang].get(r["ecosystem"], t(lang, "none"))
        out.append(r)
    return out


def _cards(n: dict[str, Any], keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"key": k, "kind": kind, "value": n.get(k)} for k, kind in keys]


def _trend_chart(s: Steering, lang: str, period: Period) -> dict[str, Any]:
    """The national active series with the targets held and the forecast fan to next December."""
    series = s.series()
    until = Period(period.year + 1, 12)
    f = s.forecast(until)
    labels = [r["period"] for r in series] + [p["period"] for p in f["points"]]
    n_obs = len(series)
    pad = [None] * n_obs
    last = series[-1]["active"] if series else None
    fan = {k: [*pad[:-1], last, *[p[k] for p in f["points"]]] for k in ("mean", "lo80", "hi80", "lo95", "hi95")}
    targets: list[float | None] = [None] * len(labels)
    for tgt in s.national_targets():
        if str(tgt.period) in labels:
            targets[labels.index(str(tgt.period))] = round(tgt.value)
    return {
        "id": "trend",
        "type": "line",
        "labels": labels,
        "datasets": [
            {"label": t(lang, "interval95"), "data": fan["hi95"], "fill": "+1", "role": "band95"},
            {"label": "", "data": fan["lo95"], "role": "band95-base"},
            {"label": t(lang, "interval80"), "data": fan["hi80"], "fill": "+1", "role": "band80"},
            {"label": "", "data": fan["lo80"], "role": "band80-base"},
            {"label": t(lang, "forecast"), "data": fan["mean"], "role": "forecast"},
            {
                "label": t(lang, "actual"),
                "data": [r["active"] for r in series] + [None] * len(f["points"]),
                "role": "actual",
            },
            {"label": t(lang, "targets"), "data": targets, "role": "target"},
        ],
    }


def _bar(chart_id: str, rows: list[dict[str, Any]], label_key: str, value_key: str, label: str) -> dict[str, Any]:
    return {
        "id": chart_id,
        "type": "bar",
        "labels": [r[label_key] for r in rows],
        "datasets": [{"label": label, "data": [r[value_key] for r in rows], "role": "bar"}],
    }


@router.get("/nasional")
@steering_page
def nasional(request: Request, period: str | None = None) -> Page:
    s = _steering(request)
    lang = request.state.lang
    p = s.period(period)
    n = s.national(p)
    segments = _named(s.snapshot(p, ("segment",)), lang)
    seg_table = Table(
        "segmen", t(lang, "by_segment"), [Column("segment_name", label="segment"), *KPI_COLUMNS], segments
    )
    cards = _cards(
        n,
        [
            ("active", "int"),
            ("registered", "int"),
            ("active_yoy_pct", "pct"),
            ("retention_pct", "pct"),
            ("coverage_pct", "pct"),
            ("new", "int"),
            ("lapsed", "int"),
            ("employers_active", "int"),
        ],
    )
    charts = [_trend_chart(s, lang, p), _bar("segments", segments, "segment_name", "active", t(lang, "active"))]
    return Page("nasional", "nasional.html", period=p, tables=[seg_table], charts=charts, extra={"cards": cards})


@router.get("/wilayah")
@steering_page
def wilayah(request: Request, period: str | None = None, kanwil: str | None = None) -> Page:
    s = _steering(request)
    lang = request.state.lang
    p = s.period(period)
    kanwils = s.snapshot(p, ("kanwil",))
    k_table = Table(
        "kanwil",
        t(lang, "wilayah"),
        [Column("kanwil_name", link="/wilayah?kanwil={kanwil}&period=" + str(p)), *KPI_COLUMNS],
        kanwils,
    )
    tables = [k_table]
    title = None
    if kanwil:
        chosen = [r for r in kanwils if r["kanwil"] == kanwil]
        if not chosen:
            raise NotFound(f"no Kanwil {kanwil!r} in the office map")
        title = chosen[0]["kanwil_name"]
        branches = [r for r in s.snapshot(p, ("kanwil", "branch")) if r["kanwil"] == kanwil]
        ranks = _branch_ranks(s)
        for r in branches:
            r.update(ranks.get(r["branch"], {}))
        tables.append(
            Table(
                "cabang",
                t(lang, "branches_of", name=title),
                [
                    Column("branch_name", link="/cabang/{branch}?period=" + str(p)),
                    *KPI_COLUMNS,
                    Column("target", "int", "targets"),
                    Column("attainment_pct", "pct"),
                    Column("rank_text", label="rank"),
                ],
                branches,
            )
        )
    chart = _bar("kanwil-active", kanwils, "kanwil_name", "active", t(lang, "active"))
    return Page("wilayah", "table_page.html", period=p, tables=tables, charts=[chart], extra={"subtitle": title})


def _branch_ranks(s: Steering) -> dict[str, dict[str, Any]]:
    """Per branch: the latest-month branch target's attainment and rank among peers, where targets are held."""
    report = s.attainment(with_forecast=True)
    out: dict[str, dict[str, Any]] = {}
    for a in report.rows:
        tg = a.target
        if tg.level == "branch" and not tg.segment and not tg.ecosystem:
            j = a.to_json()
            if tg.office not in out or j["period"] > out[tg.office]["target_period"]:
                out[tg.office] = {
                    "target": j["target"],
                    "attainment_pct": j["attainment_pct"],
                    "rank_text": f"{j['rank']}/{j['peers']}",
                    "target_period": j["period"],
                    "attainment": j,
                }
    return out


@router.get("/cabang/{branch}")
@steering_page
def cabang(request: Request, branch: str, period: str | None = None) -> Page:
    s = _steering(request)
    lang = request.state.lang
    p = s.period(period)
    rows = [r for r in s.snapshot(p, ("kanwil", "branch")) if r["branch"] == branch]
    if not rows:
        raise NotFound(f"no branch {branch!r} in the office map")
    row = rows[0]
    ecosystems = _named([r for r in s.snapshot(p, ("branch", "ecosystem")) if r["branch"] == branch], lang)
    eco_table = Table(
        "ekosistem-cabang",
        t(lang, "ekosistem"),
        [Column("ecosystem_name", label="ecosystem"), *KPI_COLUMNS],
        ecosystems,
    )
    rank = _branch_ranks(s).get(branch)
    tables = [eco_table]
    if rank:
        tables.append(
            Table("target-cabang", t(lang, "target"), ATTAINMENT_COLUMNS, [_attainment_row(rank["attainment"])])
        )
    series = [r for r in s.series(("branch",)) if r["branch"] == branch]
    chart = {
        "id": "branch-trend",
        "type": "line",
        "labels": [r["period"] for r in series],
        "datasets": [{"label": t(lang, "active"), "data": [r["active"] for r in series], "role": "actual"}],
    }
    cards = _cards(row, [("active", "int"), ("active_yoy_pct", "pct"), ("retention_pct", "pct"), ("new", "int")])
    return Page(
        "wilayah",
        "nasional.html",
        period=p,
        tables=tables,
        charts=[chart],
        extra={"cards": cards, "subtitle": f"{row['branch_name']} — {row['kanwil_name']}"},
    )


def _attainment_row(j: dict[str, Any]) -> dict[str, Any]:
    return {**j, "rank_text": f"{j['rank']}/{j['peers']}"}


@router.get("/ekosistem")
@steering_page
def ekosistem(request: Request, period: str | None = None) -> Page:
    s = _steering(request)
    lang = request.state.lang
    p = s.period(period)
    rows = _named(s.snapshot(p, ("ecosystem",)), lang)
    table = Table("ekosistem", t(lang, "ekosistem"), [Column("ecosystem_name", label="ecosystem"), *KPI_COLUMNS], rows)
    channels = _named(s.snapshot(p, ("ecosystem", "channel")), lang)
    ch_table = Table(
        "kanal",
        t(lang, "channels"),
        [Column("ecosystem_name", label="ecosystem"), Column("channel"), Column("active", "int"), Column("new", "int")],
        channels,
    )
    cohorts = _cohort_summary(s.funnel(("ecosystem",)), "ecosystem", lang)
    co_table = Table(
        "kohort",
        t(lang, "cohorts"),
        [
            Column("ecosystem_name", label="ecosystem"),
            Column("registered_persons", "int"),
            Column("paid", "int"),
            Column("active_3_pct", "pct", "m3"),
            Column("active_6_pct", "pct", "m6"),
            Column("active_12_pct", "pct", "m12"),
        ],
        cohorts,
    )
    chart = _bar("eco-active", rows, "ecosystem_name", "active", t(lang, "active"))
    return Page("ekosistem", "table_page.html", period=p, tables=[table, ch_table, co_table], charts=[chart])


def _cohort_summary(rows: list[dict[str, Any]], key: str, lang: str) -> list[dict[str, Any]]:
    """Per group, over every first-registration cohort held: registered, paid at least once, and for
    k = 3, 6, 12 the persons still active k months later with their share of the cohorts old enough to tell."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r.get(key, ""), []).append(r)
    out = []
    for k, rs in sorted(groups.items()):
        row: dict[str, Any] = {
            key: k,
            "registered_persons": sum(r["registered_persons"] for r in rs),
            "paid": sum(r["paid"] for r in rs),
        }
        for step in (3, 6, 12):
            old = [r for r in rs if r[f"active_{step}"] is not None]
            base = sum(r["registered_persons"] for r in old)
            row[f"active_{step}"] = sum(r[f"active_{step}"] for r in old)
            row[f"active_{step}_base"] = base
            row[f"active_{step}_pct"] = round(row[f"active_{step}"] / base * 100, 2) if base else None
        out.append(row)
    return _named(out, lang) if key == "ecosystem" else out


@router.get("/strategi")
@steering_page
def strategi(
    request: Request, period: str | None = None, min_workers: Annotated[int, Query(ge=1, le=100_000)] = 20
) -> Page:
    s = _steering(request)
    lang = request.state.lang
    p = s.period(period)
    n = s.national(p)
    cohorts = s.funnel()
    [overall] = _cohort_summary([{**r, "all": ""} for r in cohorts], "all", lang) or [{}]
    base = overall.get("registered_persons")
    funnel_rows = [
        {"step": t(lang, "registered_persons"), "persons": base, "base": base, "pct": 100.0 if base else None},
        {
            "step": t(lang, "paid"),
            "persons": overall.get("paid"),
            "base": base,
            "pct": _share(overall.get("paid"), base),
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
        "retensi": _cards(n, [("retention_pct", "pct"), ("lapsed", "int"), ("reactivated", "int")]),
        "intensifikasi": _cards(
            n,
            [
                ("workers_existing_employers_delta", "int"),
                ("pu_wage_avg", "idr"),
                ("programs_per_participant", "float"),
                ("bpu_jht_pct", "pct"),
                ("bpu_upgraded_to_jht", "int"),
            ],
        ),
        "ekstensifikasi": _cards(n, [("new", "int"), ("employers_new", "int"), ("coverage_pct", "pct")]),
    }
    return Page(
        "strategi",
        "strategi.html",
        period=p,
        tables=[f_table, c_table, p_table],
        extra={"groups": groups, "min_workers": min_workers},
    )


def _share(value: Any, base: Any) -> float | None:
    return round(value / base * 100, 2) if value is not None and base else None


@router.get("/target")
@steering_page
def target(request: Request) -> Page:
    s = _steering(request)
    lang = request.state.lang
    report = s.attainment(with_forecast=True)
    rows = []
    for a in report.rows:
        j = _attainment_row(a.to_json())
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
    return Page("target", "table_page.html", period=p, tables=[table, f_table], charts=[_trend_chart(s, lang, p)])


@router.get("/dana")
@steering_page
def dana(request: Request, scenario: str = "base") -> Page:
    s = _steering(request)
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
                "data": [_t(history.get((pt["period"], "roadmap"))) for pt in points],
                "role": "target",
            },
            {
                "label": t(lang, "actual"),
                "data": [_t(history.get((pt["period"], "actual"))) for pt in points],
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


def _t(v: int | None) -> float | None:
    return None if v is None else round(v / 1e12, 2)


@router.get("/peta")
@steering_page
def peta(request: Request, period: str | None = None) -> Page:
    s = _steering(request)
    lang = request.state.lang
    p = s.period(period)
    rows = s.snapshot(p, ("province",))
    table = Table(
        "provinsi",
        t(lang, "map_title"),
        [Column("province_name"), Column("active", "int"), Column("employed", "int"), Column("coverage_pct", "pct")],
        rows,
    )
    svg = province_map({r["province"]: r for r in rows}, lang)
    return Page("peta", "peta.html", period=p, tables=[table], extra={"svg": svg})
