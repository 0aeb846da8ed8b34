"""The steering pages of coverage (national, regional, branch, ecosystem, map): each builds its tables and
charts from ``Steering`` (cached figures). The planning pages are in ``web.plan_pages``, what both share in
``web.views``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from jamsos.kernel.errors import NotFound
from jamsos.web.labels import t
from jamsos.web.render import Page, province_map
from jamsos.web.tables import Column, Table
from jamsos.web.views import (
    ATTAINMENT_COLUMNS,
    KPI_COLUMNS,
    attainment_row,
    bar,
    branch_ranks,
    cohort_summary,
    kpi_cards,
    named,
    staff,
    steering_of,
    steering_page,
    trend_chart,
)

router = APIRouter(dependencies=[Depends(staff)])


@router.get("/nasional")
@steering_page
def nasional(request: Request, period: str | None = None) -> Page:
    s = steering_of(request)
    lang = request.state.lang
    p = s.period(period)
    n = s.national(p)
    segments = named(s.snapshot(p, ("segment",)), lang)
    seg_table = Table(
        "segmen", t(lang, "by_segment"), [Column("segment_name", label="segment"), *KPI_COLUMNS], segments
    )
    cards = kpi_cards(
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
    charts = [trend_chart(s, lang, p), bar("segments", segments, "segment_name", "active", t(lang, "active"))]
    return Page("nasional", "nasional.html", period=p, tables=[seg_table], charts=charts, extra={"cards": cards})


@router.get("/wilayah")
@steering_page
def wilayah(request: Request, period: str | None = None, kanwil: str | None = None) -> Page:
    s = steering_of(request)
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
        ranks = branch_ranks(s)
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
    chart = bar("kanwil-active", kanwils, "kanwil_name", "active", t(lang, "active"))
    return Page("wilayah", "table_page.html", period=p, tables=tables, charts=[chart], extra={"subtitle": title})


@router.get("/cabang/{branch}")
@steering_page
def cabang(request: Request, branch: str, period: str | None = None) -> Page:
    s = steering_of(request)
    lang = request.state.lang
    p = s.period(period)
    rows = [r for r in s.snapshot(p, ("kanwil", "branch")) if r["branch"] == branch]
    if not rows:
        raise NotFound(f"no branch {branch!r} in the office map")
    row = rows[0]
    ecosystems = named([r for r in s.snapshot(p, ("branch", "ecosystem")) if r["branch"] == branch], lang)
    eco_table = Table(
        "ekosistem-cabang",
        t(lang, "ekosistem"),
        [Column("ecosystem_name", label="ecosystem"), *KPI_COLUMNS],
        ecosystems,
    )
    rank = branch_ranks(s).get(branch)
    tables = [eco_table]
    if rank:
        tables.append(
            Table("target-cabang", t(lang, "target"), ATTAINMENT_COLUMNS, [attainment_row(rank["attainment"])])
        )
    series = [r for r in s.series(("branch",)) if r["branch"] == branch]
    chart = {
        "id": "branch-trend",
        "type": "line",
        "labels": [r["period"] for r in series],
        "datasets": [{"label": t(lang, "active"), "data": [r["active"] for r in series], "role": "actual"}],
    }
    cards = kpi_cards(row, [("active", "int"), ("active_yoy_pct", "pct"), ("retention_pct", "pct"), ("new", "int")])
    return Page(
        "wilayah",
        "nasional.html",
        period=p,
        tables=tables,
        charts=[chart],
        extra={"cards": cards, "subtitle": f"{row['branch_name']} — {row['kanwil_name']}"},
    )


@router.get("/ekosistem")
@steering_page
def ekosistem(request: Request, period: str | None = None) -> Page:
    s = steering_of(request)
    lang = request.state.lang
    p = s.period(period)
    rows = named(s.snapshot(p, ("ecosystem",)), lang)
    table = Table("ekosistem", t(lang, "ekosistem"), [Column("ecosystem_name", label="ecosystem"), *KPI_COLUMNS], rows)
    channels = named(s.snapshot(p, ("ecosystem", "channel")), lang)
    ch_table = Table(
        "kanal",
        t(lang, "channels"),
        [Column("ecosystem_name", label="ecosystem"), Column("channel"), Column("active", "int"), Column("new", "int")],
        channels,
    )
    cohorts = cohort_summary(s.funnel(("ecosystem",)), "ecosystem", lang)
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
    chart = bar("eco-active", rows, "ecosystem_name", "active", t(lang, "active"))
    return Page("ekosistem", "table_page.html", period=p, tables=[table, ch_table, co_table], charts=[chart])


@router.get("/peta")
@steering_page
def peta(request: Request, period: str | None = None) -> Page:
    s = steering_of(request)
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
