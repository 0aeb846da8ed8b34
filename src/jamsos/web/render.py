"""Rendering: one layout for every page, table downloads (``?format=csv|xlsx&table=ID``), the province map."""

from __future__ import annotations

import json
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from jamsos.kernel.errors import NotFound
from jamsos.kernel.period import Period
from jamsos.web.labels import fmt, t
from jamsos.web.tables import Table

TEMPLATES = Jinja2Templates(directory=str(Path(str(resources.files("jamsos.web").joinpath("templates")))))
NAV = ("nasional", "wilayah", "ekosistem", "strategi", "target", "dana", "peta", "ops", "admin")
NAV_URLS = {k: f"/{k}" for k in NAV} | {"admin": "/admin/audit"}
STAFF_ROLES = ("admin", "head_office", "kanwil", "branch")


def _nav_allowed(key: str, role: str | None) -> bool:
    if role is None:
        return False
    if key == "admin":
        return role == "admin"
    if key == "ops":
        return True
    return role in STAFF_ROLES


# ISO 3166-2:ID (the map's ids) → the province codes of the warehouse (python-stdnum's).
ISO_TO_CODE = {
    "ac": "11", "su": "12", "sb": "13", "ri": "14", "ja": "15", "ss": "16", "be": "17", "la": "18", "bb": "19",
    "kr": "21", "jk": "31", "jb": "32", "jt": "33", "yo": "34", "ji": "35", "bt": "36", "ba": "51", "nb": "52",
    "nt": "53", "kb": "61", "kt": "62", "ks": "63", "ki": "64", "ku": "64", "sa": "71", "st": "72", "sn": "73",
    "sg": "74", "go": "75", "sr": "76", "ma": "81", "mu": "82", "pb": "91", "pa": "94",
}  # fmt: skip


@dataclass
class Page:
    nav: str
    template: str
    period: Period | None = None
    tables: list[Table] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def url_with(request: Request, **changes: Any) -> str:
    """The current URL with some query parameters changed (None removes one): filters live in the URL. A page
    that declares its filters (``request.state.params``, the steering pages) keeps only those, so a cached page
    never carries a parameter its first viewer made up."""
    known = getattr(request.state, "params", None)
    params = {k: str(v) for k, v in known.items() if v is not None} if known is not None else dict(request.query_params)
    if known is not None and request.state.lang != "id":
        params["lang"] = request.state.lang
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def link(request: Request, path: str) -> str:
    """A link to another page that keeps the language."""
    lang = request.state.lang
    if lang == "id":
        return path
    return path + ("&" if "?" in path else "?") + f"lang={lang}"


def download(table: Table, fmt_name: str, lang: str) -> Response:
    if fmt_name == "csv":
        return Response(
            table.to_csv(lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table.id}.csv"'},
        )
    if fmt_name == "xlsx":
        return Response(
            table.to_xlsx(lang),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{table.id}.xlsx"'},
        )
    raise NotFound(f"no download format {fmt_name!r}; use csv or xlsx")


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use; every form carries it (``security.check_csrf``)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def context(request: Request, page: Page) -> dict[str, Any]:
    lang = request.state.lang
    who = getattr(request.state, "actor", None)  # the logged-in user, checked on this request
    role = who.role if who is not None else None
    steering = request.app.state.steering
    staff = role in STAFF_ROLES
    periods = steering.periods() if staff and steering is not None and steering.available else []
    scale = steering.scale if staff and steering is not None and steering.available else None
    return {
        "request": request,
        "lang": lang,
        "other_lang": "en" if lang == "id" else "id",
        "L": lambda key, **kw: t(lang, key, **kw),
        "fmt": lambda value, kind="int": fmt(value, kind, lang),
        "nav": [(k, link(request, NAV_URLS[k]), k == page.nav) for k in NAV if _nav_allowed(k, role)],
        "user": who.username if who is not None else None,
        "role": role,
        "csrf": csrf_token(request),
        "url_with": lambda **kw: url_with(request, **kw),
        "link": lambda path: link(request, path),
        "page": page,
        "period": str(page.period) if page.period else None,
        "periods": periods,
        "scale": scale,
        "warehouse": str(steering.directory) if steering is not None else None,
        # Escaped for a <script> element: a label holding "</script>" stays text (htmlsafe_json_dumps).
        "charts_json": htmlsafe_json_dumps(page.charts, dumps=json.dumps, ensure_ascii=False),
        **page.extra,
    }


def page_response(request: Request, page: Page) -> Response:
    wanted = request.query_params.get("format")
    if wanted:
        table_id = request.query_params.get("table", page.tables[0].id if page.tables else "")
        for table in page.tables:
            if table.id == table_id:
                return download(table, wanted, request.state.lang)
        raise NotFound(f"this page has no table {table_id!r}")
    return TEMPLATES.TemplateResponse(request, page.template, context(request, page))


# Where the per-request header goes in a page kept in the cache. Text from data is escaped, so "<!--" in a page
# body can only come from a template.
HEADER_SLOT = "<!--jamsos:header-->"


def shared_body(request: Request, page: Page) -> str:
    """The page as every viewer sees it: the header (user, menu, CSRF token) left as ``HEADER_SLOT``."""
    ctx = context(request, page) | {"header_html": Markup(HEADER_SLOT), "user": None, "role": None, "csrf": ""}
    return TEMPLATES.get_template(page.template).render(ctx)


def with_header(request: Request, body: str, nav: str) -> HTMLResponse:
    """A shared page body completed with this request's header: who is logged in, their menu, their token."""
    header = TEMPLATES.get_template("_header.html").render(context(request, Page(nav, "_header.html")))
    return HTMLResponse(body.replace(HEADER_SLOT, header, 1))


def html_error(request: Request, status: int, message: str) -> HTMLResponse:
    page = Page("", "error.html", extra={"status": status, "message": message})
    return TEMPLATES.TemplateResponse(request, "error.html", context(request, page), status_code=status)


_SVG = resources.files("jamsos.web").joinpath("static/vendor/indonesia-provinces.svg")
_PALETTE = ("#f1eef6", "#d0d1e6", "#a6bddb", "#74a9cf", "#2b8cbe", "#045a8d")


def province_map(by_code: dict[str, dict[str, Any]], lang: str) -> str:
    """The province SVG (CC BY 4.0, @svg-maps/indonesia) filled by coverage rate, each with a tooltip."""
    ET.register_namespace("", "http://www.w3.org/2000/svg")
    root = ET.fromstring(_SVG.read_text(encoding="utf-8"))
    rates = sorted(float(r["coverage_pct"]) for r in by_code.values() if r.get("coverage_pct") is not None)
    # Quantile classes, so that one very high province (DKI Jakarta) does not wash out the rest.
    breaks = (
        [rates[min(len(rates) - 1, len(rates) * i // len(_PALETTE))] for i in range(1, len(_PALETTE))] if rates else []
    )
    root.set("class", "map")
    root.set("role", "img")
    for path in root.iter("{http://www.w3.org/2000/svg}path"):
        iso = (path.get("id") or "").removeprefix("id-")
        row = by_code.get(ISO_TO_CODE.get(iso, ""))
        name = path.get("name") or iso
        if row is None or row.get("coverage_pct") is None:
            path.set("fill", "#dddddd")
            tip = name
        else:
            rate = float(row["coverage_pct"])
            path.set("fill", _PALETTE[sum(rate >= b for b in breaks)])
            counts = f"{fmt(row['active'], 'int', lang)} / {fmt(row['employed'], 'int', lang)}"
            tip = f"{name}: {fmt(rate, 'pct', lang)} % ({counts})"
        path.set("data-province", ISO_TO_CODE.get(iso, ""))
        path.set("stroke", "#ffffff")
        path.set("stroke-width", "0.5")
        title = ET.SubElement(path, "{http://www.w3.org/2000/svg}title")
        title.text = tip
    text = re.sub(r"\s+", " ", ET.tostring(root, encoding="unicode"))
    edges = [rates[0], *breaks, rates[-1]] if rates else []
    legend = "".join(
        f'<span class="swatch swatch-{i}"></span>{fmt(edges[i], "pct", lang)}–{fmt(edges[i + 1], "pct", lang)} %&nbsp; '
        for i in range(len(edges) - 1)
    )
    return text + f'<p class="legend">{legend}</p>'
