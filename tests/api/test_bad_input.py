"""Bad input is a named problem on both engines, never a server error (issue 14): overlong text, NUL, integers
past 64 bits, sums that would overflow, implausible dates and amounts, digits of other scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.conftest import Clock
from tests.scenario import Firm, firm, nik

from jamsos.api.app import create_app
from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def api(db_url: str, clock: Clock) -> Iterator[tuple[TestClient, dict[str, str], Firm]]:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
        auth.create_user(s, username="root", password="a-long-password", role="admin", created_at=clock())
        token = auth.create_token(s, username="root", name="t", created_at=clock())
    engine.dispose()
    client = TestClient(create_app(Settings(database_url=db_url, pseudonym_key="k"), clock=clock))
    yield client, {"Authorization": f"Bearer {token}"}, f


def _problem(r: object) -> set[str]:
    body = r.json()  # type: ignore[attr-defined]
    assert r.status_code == 422, body  # type: ignore[attr-defined]
    return {p["field"] for p in body.get("problems", [])} or {body["code"]}


def test_overlong_text_is_refused_by_field(api: tuple[TestClient, dict[str, str], Firm]) -> None:
    client, auth_, f = api
    worker = {"nik": nik(77), "name": "N" * 201, "valid_from": "2024-02-01"}
    assert _problem(client.post("/workers", json=worker, headers=auth_)) == {"name"}
    employer = {
        "name": "PT " + "X" * 300, "sector": "C" * 300, "size_class": "kecil", "regency_code": "8271",
        "valid_from": "2024-01-01",
    }  # fmt: skip
    assert _problem(client.post("/employers", json=employer, headers=auth_)) >= {"name", "sector"}
    enrol = {
        "nik": next(iter(f.workers)), "segment": "bpu", "income": 1_000_000, "valid_from": "2024-02-01",
        "channel": "c" * 500,
    }  # fmt: skip
    assert _problem(client.post("/memberships", json=enrol, headers=auth_)) == {"channel"}


def test_nul_is_refused_at_the_edge(api: tuple[TestClient, dict[str, str], Firm]) -> None:
    client, auth_, _ = api
    r = client.post("/workers", json={"nik": nik(78), "name": "A\u0000B", "valid_from": "2024-02-01"}, headers=auth_)
    assert r.status_code == 422 and "NUL" in r.json()["message"]
    assert client.get("/workers/8271%00", headers=auth_).status_code == 422


def test_implausible_numbers_and_dates_are_refused(api: tuple[TestClient, dict[str, str], Firm]) -> None:
    client, auth_, f = api
    n = next(iter(f.workers))
    huge = {"nik": n, "segment": "bpu", "income": 2**63, "valid_from": "2024-02-01"}
    assert _problem(client.post("/memberships", json=huge, headers=auth_)) == {"income"}
    late = {"nik": nik(79), "name": "Later", "valid_from": "9999-12-31"}
    assert _problem(client.post("/workers", json=late, headers=auth_)) == {"valid_from"}


def test_payment_files_with_implausible_rows_are_refused(api: tuple[TestClient, dict[str, str], Firm]) -> None:
    client, auth_, f = api
    head = "reference,va_number,amount,paid_on\n"
    cases = {
        "amount": f"R1,{f.va},{'9' * 15},2024-12-01\nR2,{f.va},{'9' * 15},2024-12-01\n",  # the sum would overflow
        "paid_on": f"R3,{f.va},1000,0001-01-01\n",
    }
    for field, rows in cases.items():
        r = client.post("/payments/imports", files={"file": ("b.csv", (head + rows).encode())}, headers=auth_)
        assert _problem(r) == {field}
    arabic = "\u0661\u0662\u0663"  # ١٢٣: int() reads it, a bank file must not
    r = client.post(
        "/payments/imports", files={"file": ("b.csv", f"{head}R4,{f.va},{arabic},2024-12-01\n".encode())}, headers=auth_
    )
    assert _problem(r) == {"amount"}
    long_name = "b" * 400 + ".csv"
    r = client.post(
        "/payments/imports", files={"file": (long_name, f"{head}R5,{f.va},1000,2024-12-01\n".encode())}, headers=auth_
    )
    assert r.status_code == 201  # a long file name is a label, shortened: not a server error
