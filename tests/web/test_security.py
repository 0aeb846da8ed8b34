"""Who may open which page, CSRF on forms, security headers, masking, the audit page, lockout and rate limits."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.web import security
from jamsos.web.app import create_app
from tests.web.conftest import CLOCK, PASSWORD, Served, Watched, login

pytestmark = pytest.mark.web

USERS = ("admin", "pusat", "sulama", "kc", "medan", "pemberi", "pekerja")
STAFF = {"admin", "pusat", "sulama", "kc", "medan"}


def pages(served: Served) -> list[tuple[str, dict[str, int]]]:
    first, second = list(served.firm.workers)
    everyone = dict.fromkeys(USERS, 200)
    staff = {u: 200 if u in STAFF else 403 for u in USERS}
    return [
        ("/nasional", staff),
        ("/wilayah?kanwil=sulama", staff),
        ("/cabang/KC-TERNATE", staff),
        ("/ekosistem", staff),
        ("/strategi", staff),
        ("/target", staff),
        ("/dana", staff),
        ("/peta", staff),
        ("/ops", everyone),
        ("/ops/daftar", {u: 200 if u in ("admin", "kc", "medan") else 403 for u in USERS}),
        ("/ops/daftar-pemberi-kerja", {u: 200 if u in ("admin", "kc", "medan") else 403 for u in USERS}),
        ("/ops/upah", {u: 200 if u in ("admin", "kc", "medan", "pemberi") else 403 for u in USERS}),
        ("/ops/tagihan", staff),
        ("/ops/bayar", {u: 200 if u in ("admin", "pusat") else 403 for u in USERS}),
        ("/admin/audit", {u: 200 if u == "admin" else 403 for u in USERS}),
        # a worker's record: within the scope of the Ternate officer, the Kanwil, the employer, the worker
        (f"/ops/pekerja/{first}", {**everyone, "medan": 404}),
        (f"/ops/pekerja/{second}", {**everyone, "medan": 404, "pekerja": 404}),  # another worker's record
        (f"/ops/pemberi-kerja/{served.firm.npp}", {**everyone, "medan": 404, "pekerja": 403}),
    ]


def test_every_page_for_every_role(served: Served, browser: Browser) -> None:
    failures = []
    for user in USERS:
        context = browser.new_context()
        p = context.new_page()
        login(p, served.url, user)
        for url, expected in pages(served):
            got = p.request.get(served.url + url, max_redirects=0).status
            if got != expected[user]:
                failures.append(f"{url} as {user}: {got}, expected {expected[user]}")
        context.close()
    anonymous = browser.new_context()
    for url, _ in pages(served):
        r = anonymous.request.get(served.url + url, max_redirects=0)
        if r.status != 303 or not r.headers["location"].startswith("/masuk?next="):
            failures.append(f"{url} without logging in: {r.status}")
    anonymous.close()
    assert failures == []


def test_forms_need_the_csrf_token_and_answers_carry_security_headers(served: Served, page: Watched) -> None:
    login(page.page, served.url, "kc")
    forged = page.page.request.post(
        served.url + "/ops/daftar", form={"nik": "8271015308900007", "name": "X", "valid_from": "2024-12-01"}
    )
    assert forged.status == 403 and "did not come from this site" in forged.text()
    headers = page.page.request.get(served.url + "/ops").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"  # personal data stays out of caches
    cookie = next(c for c in page.page.context.cookies() if c["name"] == "jamsos_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_names_are_masked_for_head_office_and_reads_are_audited(served: Served, page: Watched) -> None:
    first = next(iter(served.firm.workers))
    login(page.page, served.url, "pusat")
    page.page.goto(served.url + f"/ops?q={first}")
    cells = page.page.get_by_test_id("table-hasil").locator("tbody td").all_inner_texts()
    assert first not in cells and first[:4] + "********" + first[-4:] in cells
    assert "P****** 1**" in cells, cells  # the name "Pekerja 101" masked
    with page.page.expect_navigation():  # logging out lands on the login page: let it, before going there again
        page.page.get_by_test_id("logout").click()
    login(page.page, served.url, "admin")
    page.page.goto(served.url + "/admin/audit?actor=pusat")
    assert "utuh" in page.page.get_by_test_id("chain").inner_text()
    actions = [r[4] for r in _rows(page)]
    assert "search" in actions and "login" in actions
    log = page.page.get_by_test_id("table-audit").inner_text()
    assert first not in log  # the NIK is never written to the log


def _rows(page: Watched) -> list[list[str]]:
    body = page.page.get_by_test_id("table-audit").locator("tbody tr")
    return [[c.inner_text().strip() for c in row.locator("td").all()] for row in body.all()]


def test_lockout_and_rate_limit(sqlite_template: Path, tmp_path: Path) -> None:
    db = tmp_path / "jamsos.db"
    db.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="ani", password=PASSWORD, role="head_office", created_at=CLOCK)
    engine.dispose()
    settings = Settings(database_url=url, login_max_failures=3, login_attempts_per_minute=6)
    client = TestClient(create_app(settings, clock=lambda: CLOCK, warm=False))
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/masuk").text)
    assert token is not None

    def attempt(password: str) -> int:
        form = {"username": "ani", "password": password, "csrf": token.group(1)}
        return int(client.post("/masuk", data=form, follow_redirects=False).status_code)

    # The third wrong password locks; a locked account answers as any failed login (no user-name oracle).
    assert [attempt("wrong") for _ in range(3)] == [401, 401, 401]
    assert attempt(PASSWORD) == 401  # locked, even with the right password
    assert [attempt("wrong") for _ in range(3)] == [401, 401, 429]  # six attempts a minute from one address


def test_the_api_docs_work_offline_under_the_content_security_policy(served: Served, page: Watched) -> None:
    """Swagger UI is vendored: every request stays on this server, no inline script is needed, and the
    page lists the API's operations with no console error (a CSP violation is one)."""
    outside: list[str] = []
    page.page.on("request", lambda r: None if r.url.startswith(served.url) else outside.append(r.url))
    response = page.page.goto(served.url + "/api/docs")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    page.page.get_by_text("/workers/{nik}").first.wait_for()
    assert page.page.locator(".opblock").count() > 20
    assert outside == [] and page.problems == []


def test_the_server_logs_never_hold_a_nik(
    sqlite_template: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn's access log names every URL; a worker's record is /api/workers/{nik}."""
    db = tmp_path / "jamsos.db"
    db.write_bytes(sqlite_template.read_bytes())
    create_app(Settings(database_url=f"sqlite:///{db}"), clock=lambda: CLOCK, warm=False)
    nik = "8271011708850001"
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/api/workers/{nik}?x=1", "1.1", 200)
        logging.getLogger("uvicorn.error").error(f"no worker with NIK {nik}")
    assert caplog.records and nik not in caplog.text
    assert "/api/workers/8271********0001?x=1" in caplog.text and "NIK 8271********0001" in caplog.text
    assert "kpj 12345678901 npp 12345678" in security.mask_niks("kpj 12345678901 npp 12345678")  # not NIKs
