"""Uploads cannot take the server down (issue 14): bodies are capped at the edge, a body is read only for an
allowed caller, uploads are parsed off the event loop, a sheet declaring the whole grid is refused before a cell is
read, and a file with many bad rows answers with the first problems and their count."""

from __future__ import annotations

import inspect
import io
import socket
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from tests.conftest import Clock, serving
from tests.web.conftest import CLOCK

from jamsos.api.app import create_app
from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.files import read_table
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import MAX_PROBLEMS, InvalidInput

pytestmark = pytest.mark.integration


def _sheet_declaring(ref: str) -> bytes:
    """A minimal XLSX (about 1.6 KB) whose sheet declares the range ``ref`` and holds two cells."""
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+'
        'xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
        'name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><dimension ref="{ref}"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>nik'
        '</t></is></c><c r="B1" t="inlineStr"><is><t>wage</t></is></c></row></sheetData></worksheet>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return out.getvalue()


def test_a_sheet_declaring_the_whole_grid_is_refused_before_a_cell_is_read() -> None:
    bomb = _sheet_declaring("A1:XFD1048576")
    assert len(bomb) < 2500
    tracemalloc.start()
    with pytest.raises(InvalidInput) as refused:
        read_table(bomb, "upah.xlsx")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "declares 1,048,576 rows" in str(refused.value)
    assert peak < 50 * 2**20  # it filled 7.9 GB before
    small = read_table(_sheet_declaring("A1:B1"), "upah.xlsx")  # the same sheet, honestly declared, reads
    assert small.header == ("nik", "wage") and small.rows == []


@pytest.fixture
def api(db_url: str, clock: Clock) -> Iterator[tuple[TestClient, str]]:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="pusat", password="a-long-password", role="head_office", created_at=clock())
        token = auth.create_token(s, username="pusat", name="t", created_at=clock())
    engine.dispose()
    settings = Settings(database_url=db_url, pseudonym_key="k", max_upload_bytes=2 * 2**20, max_body_bytes=4096)
    yield TestClient(create_app(settings, clock=clock)), token


def test_bodies_over_the_limit_answer_413(api: tuple[TestClient, str]) -> None:
    client, token = api
    headers = {"Authorization": f"Bearer {token}"}
    big = b"reference,va_number,amount,paid_on\n" + b"x" * (3 * 2**20)
    r = client.post("/payments/imports", files={"file": ("bank.csv", big)}, headers=headers)
    assert r.status_code == 413 and r.json()["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"period": "2024-12", "x": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = client.post("/billing-runs", content=chunks(), headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_many_bad_rows_answer_with_the_first_problems_and_their_count(api: tuple[TestClient, str]) -> None:
    client, token = api
    rows = "".join(f"REF{i},123,abc,2024-13-01\n" for i in range(3000))
    r = client.post(
        "/payments/imports",
        files={"file": ("bank.csv", ("reference,va_number,amount,paid_on\n" + rows).encode())},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = r.json()
    assert r.status_code == 422 and body["total"] > MAX_PROBLEMS
    assert len(body["problems"]) == MAX_PROBLEMS and str(body["total"]) in body["message"]


def api_routes(app: Any) -> list[APIRoute]:
    """The app's operations, the routers it includes opened up (FastAPI keeps an included router as one entry)."""
    out: list[APIRoute] = []
    for r in app.routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):
            out.extend(api_routes(r.original_router))
    return out


def test_uploads_are_parsed_off_the_event_loop() -> None:
    """Every route that takes a file is a plain function, run in a worker thread (a coroutine would parse the
    file on the event loop and stall every other request)."""
    app = create_app(Settings(database_url="sqlite:///:memory:", pseudonym_key="k"))
    uploads = [r for r in api_routes(app) if "multipart/form-data" in str(r.openapi_extra)]
    assert {r.path for r in uploads} == {"/reference", "/registry/import", "/declarations", "/payments/imports"}
    assert not [r.path for r in uploads if inspect.iscoroutinefunction(r.endpoint)]


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[int]:
    db = tmp_path / "jamsos.db"
    db.write_bytes(sqlite_template.read_bytes())
    app = create_app(Settings(database_url=f"sqlite:///{db}", pseudonym_key="k"), clock=lambda: CLOCK)
    with serving(app) as url:
        yield int(url.rsplit(":", 1)[1])


def _send_headers_only(port: int, path: str, length: int, auth_header: str = "") -> str:
    """Send a request's head announcing ``length`` bytes of multipart body and a first few bytes of it, then
    read what the server answers without sending the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth_header}"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
        )
        s.sendall(head.encode() + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n')
        return s.recv(4096).decode("latin-1")


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(server: int) -> None:
    answer = _send_headers_only(server, "/payments/imports", 30 * 2**20)  # within the size limit
    assert answer.startswith("HTTP/1.1 401")
    answer = _send_headers_only(server, "/payments/imports", 210 * 2**20)  # past it: refused by its length
    assert answer.startswith("HTTP/1.1 413")


def test_a_client_past_its_budget_waits_and_is_refused_while_others_go_on(api: tuple[TestClient, str]) -> None:
    """A client looping as fast as it can (the junk-parameter flood of issue 14) is slowed to about a request a
    second; a logged-in user keeps their own budget."""
    from jamsos.edge.http import Budget

    client, token = api
    budget = Budget(per_user=50, per_address=5, pause=0.2)
    guard = next(m for m in client.app.user_middleware if m.cls.__name__ == "Guard")  # type: ignore[attr-defined]
    guard.kwargs["budget"] = budget
    client.app.middleware_stack = client.app.build_middleware_stack()  # type: ignore[attr-defined]
    anonymous = [client.get(f"/health?junk{i}=x").status_code for i in range(8)]
    assert anonymous[:5] == [200] * 5 and set(anonymous[5:]) == {429}
    t0 = time.monotonic()
    assert client.get("/health?more=1").status_code == 429
    assert time.monotonic() - t0 >= 0.2  # the refusal comes after a pause
    user = [client.get("/whoami", headers={"Authorization": f"Bearer {token}"}).status_code for _ in range(10)]
    assert set(user) == {200}  # found valid on its first call, the token has a user's budget from then on
    invented = [
        client.get("/whoami", headers={"Authorization": f"Bearer jms_made_up_{i}"}).status_code for i in range(6)
    ]
    assert invented[:4] == [401] * 4 and invented[-1] == 429  # made-up tokens share one budget per address


def test_a_big_upload_is_applied_in_the_low_priority_worker_process(db_url: str, clock: Clock) -> None:
    """Above ``isolate_upload_bytes`` a file is checked and applied by the same services in a worker process of
    lower priority, with its audit entry in the same transaction; its refusals come back as in the request."""
    from sqlalchemy import select
    from tests.scenario import firm

    from jamsos.auth import tables as at

    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 4_000_000])
        auth.create_user(
            s, username="kc", password="a-long-password", role="branch", branch="KC-TERNATE", created_at=clock()
        )
        token = auth.create_token(s, username="kc", name="t", created_at=clock())
    engine.dispose()
    settings = Settings(database_url=db_url, pseudonym_key="k", audit_key="k", isolate_upload_bytes=0)
    client = TestClient(create_app(settings, clock=clock))
    headers = {"Authorization": f"Bearer {token}"}
    good = "nik,wage\n" + "".join(f"{n},{5_100_000}\n" for n in f.workers)
    r = client.post(
        "/declarations", data={"npp": f.npp, "period": "2024-12"}, files={"file": ("u.csv", good)}, headers=headers
    )
    assert r.status_code == 201 and r.json()["rows"] == 2, r.text
    bad = "nik,wage\n" + "".join(f"{n},lots\n" for n in f.workers)
    r = client.post(
        "/declarations", data={"npp": f.npp, "period": "2024-12"}, files={"file": ("u.csv", bad)}, headers=headers
    )
    assert r.status_code == 422 and {p["field"] for p in r.json()["problems"]} == {"wage"} and r.json()["total"] == 2
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        actions = s.scalars(select(at.audit_log.c.action).where(at.audit_log.c.actor == "kc")).all()
    engine.dispose()
    assert actions.count("declare_wages") == 1  # recorded by the worker, with the change
