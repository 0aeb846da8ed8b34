"""What the steering pages share: the staff check, the page cache decorator, the columns of their tables and the
builders of cards, charts and rows from the cached figures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from jamsos.kernel.errors import NotFound
from jamsos.kernel.period import Period
from jamsos.web.labels import ECOSYSTEMS, SEGMENTS, t
from jamsos.web.render import Page, page_response, shared_body, with_header
from jamsos.web.security import Who
from jamsos.web.steering import Steering
from jamsos.web.tables import Column


def staff(who: Who) -> None:
    who.allow("steering")


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
        s = steering_of(request)
        key = (build.__name__, request.state.lang, tuple(sorted(params.items())))
        kept = s.page(key)
        if kept is None:
            page = build(request, **params)
            kept = (shared_body(request, page), page.nav)
            s.keep_page(key, *kept)
        return with_header(request, *kept)

    return route


def steering_of(request: Request) -> Steering:
    s: Steering | None = request.app.state.steering
    if s is None or not s.available:
        raise NotFound("no warehouse: run jamsos synth or jamsos warehouse export and give it to jamsos serve")
    return s


def named(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
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


def kpi_cards(n: dict[str, Any], keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"key": k, "kind": kind, "value": n.get(k)} for k, kind in keys]


def trend_chart(s: Steering, lang: str, period: Period) -> dict[str, Any]:
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


def bar(chart_id: str, rows: list[dict[str, Any]], label_key: str, value_key: str, label: str) -> dict[str, Any]:
    return {
        "id": chart_id,
        "type": "bar",
        "labels": [r[label_key] for r in rows],
        "datasets": [{"label": label, "data": [r[value_key] for r in rows], "role": "bar"}],
    }


def branch_ranks(s: Steering) -> dict[str, dict[str, Any]]:
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


def attainment_row(j: dict[str, Any]) -> dict[str, Any]:
    return {**j, "rank_text": f"{j['rank']}/{j['peers']}"}


def cohort_summary(rows: list[dict[str, Any]], key: str, lang: str) -> list[dict[str, Any]]:
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
    return named(out, lang) if key == "ecosystem" else out


def share(value: Any, base: Any) -> float | None:
    return round(value / base * 100, 2) if value is not None and base else None


def trillions(v: int | None) -> float | None:
    return None if v is None else round(v / 1e12, 2)
