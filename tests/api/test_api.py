"""The REST API end to end on a real store: every action, errors mapped to statuses, OpenAPI documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import Clock
from tests.scenario import nik

from jamsos.api.app import HTTP_STATUS, create_app
from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def tokens(db_url: str, clock: Clock) -> dict[str, str]:
    """Two administrators (maker and checker) with API tokens."""
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        out = {}
        for user in ("ani", "budi"):
            auth.create_user(s, username=user, password="a-long-password", role="admin", created_at=clock())
            out[user] = auth.create_token(s, username=user, name="test", created_at=clock())
    engine.dispose()
    return out


@pytest.fixture
def client(db_url: str, clock: Clock, tokens: dict[str, str], tmp_path: Path) -> TestClient:
    c = TestClient(create_app(Settings(database_url=db_url, export_root=tmp_path / "exports"), clock=clock))
    c.headers["Authorization"] = f"Bearer {tokens['ani']}"
    return c


def test_operations_flow_over_http(client: TestClient, clock: Clock, tokens: dict[str, str]) -> None:
    r = client.post(
        "/employers",
        json={
            "name": "PT Pala",
            "sector": "C",
            "size_class": "menengah",
            "regency_code": "8271",
            "valid_from": "2024-01-01",
        },
    )
    assert r.status_code == 201 and r.json()["branch"] == "KC-TERNATE"
    npp, va = r.json()["npp"], r.json()["va_number"]
    w = client.post("/workers", json={"nik": nik(1), "name": "Budi", "valid_from": "2024-01-01"})
    assert w.status_code == 201 and len(w.json()["kpj"]) == 11
    assert client.post("/workers", json={"nik": nik(1), "name": "Budi", "valid_from": "2024-01-01"}).status_code == 409
    m = client.post(
        "/memberships", json={"nik": nik(1), "segment": "pu", "npp": npp, "wage": 5_000_000, "valid_from": "2024-01-01"}
    )
    assert m.status_code == 201
    mid = m.json()["membership_id"]
    declaration = client.post(
        "/declarations",
        data={"npp": npp, "period": "2024-12"},
        files={"file": ("dec.csv", f"nik,wage\n{nik(1)},5200000\n".encode(), "text/csv")},
    )
    assert declaration.status_code == 201 and declaration.json()["version"] == 1
    run = client.post("/billing-runs", json={"period": "2024-12"})
    assert run.status_code == 201 and run.json()["status"] == "draft"
    run_id = run.json()["run_id"]
    assert client.post(f"/billing-runs/{run_id}/approve").json()["code"] == "four_eyes"  # ani made it
    budi = {"Authorization": f"Bearer {tokens['budi']}"}
    assert client.post(f"/billing-runs/{run_id}/approve", headers=budi).status_code == 200
    assert client.get(f"/billing-runs/{run_id}").json()["status"] == "approved"
    due = client.get(f"/accounts/{va}").json()["owed"]
    clock.advance(days=10)
    paid = client.post(
        "/payments/imports",
        files={"file": ("bank.csv", f"reference,va_number,amount,paid_on\nX1,{va},{due},2025-01-14\n".encode())},
    )
    assert paid.status_code == 201 and paid.json()["posted"] == 1
    assert client.get(f"/accounts/{va}").json()["owed"] == 0
    active = client.get("/active/2024-12").json()
    assert active["active"] == 1 and active["per_program"]["jp"] == 1
    history = client.get(f"/memberships/{mid}", params={"month": "2024-12"}).json()
    assert history["state"]["wage"] == 5_000_000 and len(history["history"]) == 1
    assert (
        client.post(f"/memberships/{mid}/exit", json={"exit_date": "2024-12-31", "reason": "resignation"}).status_code
        == 201
    )
    assert client.get("/arrears", params={"as_of": "2025-03-01"}).json() == []
    reversed_ = client.post("/payments/X1/reverse", json={"reason": "recall"})
    assert reversed_.status_code == 200
    assert client.get("/arrears", params={"as_of": "2025-03-01"}).json()[0]["2-3"] == due


def test_errors_name_row_and_column(client: TestClient) -> None:
    r = client.post(
        "/registry/import",
        files={"workers": ("w.csv", b"nik,name,valid_from\n123,X,2024-01-01\n8271011708850001,Y,nope\n")},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_input"
    assert {(p["row"], p["field"]) for p in body["problems"]} == {(2, "nik"), (3, "valid_from")}
    assert client.get("/workers/8271011708850001").status_code == 404
    assert client.post("/billing-runs", json={"period": "2024-13"}).status_code == 422


def test_openapi_documents_every_action(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/employers",
        "/workers",
        "/memberships",
        "/declarations",
        "/billing-runs",
        "/payments/imports",
        "/arrears",
    ):
        assert path in paths
    assert set(HTTP_STATUS) >= {"invalid_input", "duplicate_nik", "four_eyes", "not_found"}


def test_reference_upload_and_export(client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = client.post("/reference", files=[("files", ("branches.csv", b"code,name,kanwil_code\nKC-X,KC X,nowhere\n"))])
    assert bad.status_code == 422 and any(p["field"] == "kanwil_code" for p in bad.json()["problems"])
    assert client.post("/reference", files=[("files", ("evil.csv", b"x\n"))]).status_code == 422
    ok = client.post("/reference")
    assert ok.status_code == 201 and ok.json()["kanwil"] == 11
    out = client.post("/warehouse/exports", json={"out": "wh"})  # a folder under the export root
    assert out.status_code == 201 and out.json()["written"]["offices"] > 400
    assert (tmp_path / "exports" / "wh" / "offices").is_dir()


def test_every_operation_documents_its_outcomes() -> None:
    """Issue 15: each route has a response model and declares the domain errors it may answer, so the OpenAPI
    document shows what a caller gets back, refusals included (each a Problem naming its fields)."""
    from tests.api.test_uploads import api_routes

    from jamsos.infra.settings import Settings

    app = create_app(Settings(database_url="sqlite:///:memory:", pseudonym_key="k"))
    routes = [r for r in api_routes(app) if r.include_in_schema]
    assert len(routes) >= 30
    assert not [r.path for r in routes if r.response_model is None]
    assert not [r.path for r in routes if not {401, 422} <= set(r.responses)]
    document = app.openapi()
    refusal = document["paths"]["/memberships"]["post"]["responses"]["404"]
    assert refusal["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
    created = document["paths"]["/memberships"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/Enrolled")
