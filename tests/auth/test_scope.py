"""Row scope is one mechanism, decided in the services (issue 14): the API, the command line and the web app give
the same user the same rows; an enrolment reaches only workers within the scope; a refusal tells nothing about
who is registered elsewhere and is recorded."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jamsos.auth import service as auth
from jamsos.auth import tables as at
from jamsos.cli.common import settings
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.kernel.period import Period
from jamsos.kernel.pseudonym import pseudonym
from jamsos.ledger import service as led
from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING
from jamsos.web.app import create_app as create_web
from tests.auth.test_access import KEY, World, world  # noqa: F401  (the fixture)
from tests.conftest import Clock, run_cli
from tests.scenario import nik

pytestmark = pytest.mark.integration


def _bill_both_employers(w: World, clock: Clock) -> None:
    engine = make_engine(w.db_url)
    tree = __import__("jamsos.rules.tree", fromlist=["load_parameters"]).load_parameters()
    with unit_of_work(engine) as s:
        run = led.run_billing(s, scope=EVERYTHING, period=Period(2024, 12), maker="ani", tree=tree, started_at=clock())
        led.approve_run(s, scope=EVERYTHING, run_id=run.run_id, checker="budi", tree=tree, decided_at=clock())
    engine.dispose()


def _headers(w: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[role]}"}


def test_the_cli_the_api_and_the_web_give_a_branch_officer_the_same_arrears(
    world: World,  # noqa: F811
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _bill_both_employers(world, clock)
    api = world.client.get("/arrears?as_of=2025-06-01", headers=_headers(world, "branch")).json()
    everyone = world.client.get("/arrears?as_of=2025-06-01", headers=_headers(world, "admin")).json()
    assert {r["va_number"] for r in api} == {world.a_va} and len(everyone) == 2
    monkeypatch.setenv("JAMSOS_DATABASE_URL", world.db_url)
    monkeypatch.setenv("JAMSOS_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("JAMSOS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JAMSOS_USER", "branch")
    settings.cache_clear()
    try:
        cli = json.loads(run_cli("pay", "arrears", "--as-of", "2025-06-01", "--json"))
        assert [r["va_number"] for r in cli] == [r["va_number"] for r in api]
        run_cli("pay", "statement", next(r for r in everyone if r["va_number"] != world.a_va)["va_number"], code=6)
    finally:
        settings.cache_clear()


def test_an_enrolment_needs_the_worker_within_the_scope(world: World) -> None:  # noqa: F811
    """A branch officer of Ternate cannot enrol a Medan worker at a Ternate employer (and thereby read them):
    the worker answers as absent would, with a valid body or an invalid one, and the attempts are recorded."""
    branch = _headers(world, "branch")
    absent = nik(777, regency="1271")
    body = {"segment": "pu", "npp": world.a_npp, "wage": 5_000_000, "valid_from": "2024-03-01"}
    elsewhere = world.client.post("/memberships", json={**body, "nik": world.wb}, headers=branch)
    nobody = world.client.post("/memberships", json={**body, "nik": absent}, headers=branch)
    assert elsewhere.status_code == nobody.status_code == 404
    assert elsewhere.json()["message"].replace(world.wb, "N") == nobody.json()["message"].replace(absent, "N")
    assert world.client.get(f"/workers/{world.wb}", headers=branch).status_code == 404  # still unseen
    bad = {**body, "wage": -1}
    bad_elsewhere = world.client.post("/memberships", json={**bad, "nik": world.wb}, headers=branch)
    bad_nobody = world.client.post("/memberships", json={**bad, "nik": absent}, headers=branch)
    assert bad_elsewhere.status_code == bad_nobody.status_code == 422  # the body is checked first
    assert bad_elsewhere.json()["problems"] == bad_nobody.json()["problems"]
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        refused = s.execute(select(at.audit_log).where(at.audit_log.c.action == "refused")).mappings().all()
    engine.dispose()
    keys = [(r["actor"], r["entity_key"]) for r in refused]
    assert ("branch", pseudonym(KEY.encode(), world.wb)) in keys and ("branch", pseudonym(KEY.encode(), absent)) in keys
    assert all(world.wb not in json.dumps(dict(r), default=str) for r in refused)  # never the NIK itself


def test_changes_outside_the_scope_are_refused_in_the_service(world: World, clock: Clock) -> None:  # noqa: F811
    """Whoever calls the service (an edge, a job, a test), the scope decides."""
    from jamsos.registry.domain import Scope

    ternate = Scope(branches=frozenset({"KC-TERNATE"}))
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        with pytest.raises(Exception) as refused:
            reg.register_worker(
                s, nik=nik(500, regency="1271"), name="X", valid_from=dt.date(2024, 1, 1), recorded_at=clock(),
                scope=ternate,
            )  # fmt: skip
        assert refused.value.code == "forbidden"  # type: ignore[attr-defined]
        with pytest.raises(Exception) as hidden:
            reg.change_employer(s, npp=world.b_npp, valid_from=dt.date(2024, 6, 1), recorded_at=clock(), scope=ternate)
        assert hidden.value.code == "not_found"  # type: ignore[attr-defined]
        mid = reg.worker_profile(s, nik=world.wb, known_at=clock(), scope=EVERYTHING)["memberships"][0]["id"]
        with pytest.raises(Exception) as gone:
            reg.exit_membership(
                s, membership_id=mid, exit_date=dt.date(2024, 6, 1), reason="resignation", recorded_at=clock(),
                scope=ternate,
            )  # fmt: skip
        assert gone.value.code == "not_found"  # type: ignore[attr-defined]
    engine.dispose()


def test_an_employer_sees_only_the_memberships_at_itself(world: World, clock: Clock) -> None:  # noqa: F811
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:  # the Ternate worker also works for the Medan employer
        reg.enrol(
            s, nik=world.wa, segment="pu", npp=world.b_npp, wage=3_000_000, valid_from=dt.date(2024, 2, 1),
            recorded_at=clock(), scope=EVERYTHING,
        )  # fmt: skip
    engine.dispose()
    seen = world.client.get(f"/workers/{world.wa}", headers=_headers(world, "employer")).json()
    assert [m["npp"] for m in seen["memberships"]] == [world.a_npp]
    admin = world.client.get(f"/workers/{world.wa}", headers=_headers(world, "admin")).json()
    assert sorted(m["npp"] for m in admin["memberships"]) == sorted([world.a_npp, world.b_npp])


def test_the_web_records_a_refused_read(world: World, clock: Clock) -> None:  # noqa: F811
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        auth.create_user(
            s, username="kc2", password="a-long-password", role="branch", branch="KC-TERNATE", created_at=clock()
        )
    engine.dispose()
    web = TestClient(create_web(Settings(database_url=world.db_url, pseudonym_key=KEY), clock=clock, warm=False))
    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/masuk").text)
    assert token is not None
    web.post("/masuk", data={"username": "kc2", "password": "a-long-password", "csrf": token.group(1)})
    assert web.get(f"/ops/pekerja/{world.wb}").status_code == 404
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        rows = s.execute(select(at.audit_log).where(at.audit_log.c.action == "refused")).mappings().all()
    engine.dispose()
    assert [(r["actor"], r["entity_key"], r["source"][:4]) for r in rows] == [
        ("kc2", pseudonym(KEY.encode(), world.wb), "web:")
    ]


def test_a_worker_from_another_branch_joins_through_a_transfer_that_branch_approves(
    world: World,  # noqa: F811
    clock: Clock,
) -> None:
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        auth.create_user(
            s, username="medan", password="a-long-password", role="branch", branch="KC-1271", created_at=clock()
        )
        medan = auth.create_token(s, username="medan", name="t", created_at=clock())
    engine.dispose()
    ternate, home = _headers(world, "branch"), {"Authorization": f"Bearer {medan}"}
    body = {"segment": "pu", "npp": world.a_npp, "wage": 5_000_000, "valid_from": "2024-03-01"}
    asked = world.client.post("/transfers", json={**body, "nik": world.wb}, headers=ternate)
    nobody = world.client.post("/transfers", json={**body, "nik": nik(778, regency="1271")}, headers=ternate)
    assert asked.status_code == nobody.status_code == 202  # the same answer: the request waits either way
    assert asked.json()["status"] == nobody.json()["status"] == "pending"
    assert world.client.get("/transfers", headers=ternate).json() == []  # not Ternate's to decide
    waiting = world.client.get("/transfers", headers=home).json()
    assert [r["nik"] for r in waiting] == [world.wb]  # the request for an unknown NIK reaches nobody
    rid = asked.json()["request_id"]
    assert world.client.post(f"/transfers/{rid}/approve", headers=ternate).status_code == 404
    approved = world.client.post(f"/transfers/{rid}/approve", headers=home)
    assert approved.status_code == 200 and approved.json()["membership_id"]
    assert world.client.post(f"/transfers/{rid}/reject", headers=home).status_code == 409  # decided once
    seen = world.client.get(f"/workers/{world.wb}", headers=ternate)  # now an employee of a Ternate employer
    assert seen.status_code == 200 and world.a_npp in {m["npp"] for m in seen.json()["memberships"]}


def test_the_command_line_asks_for_and_decides_a_transfer(
    world: World,  # noqa: F811
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        auth.create_user(
            s, username="medan", password="a-long-password", role="branch", branch="KC-1271", created_at=clock()
        )
    engine.dispose()
    monkeypatch.setenv("JAMSOS_DATABASE_URL", world.db_url)
    monkeypatch.setenv("JAMSOS_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("JAMSOS_DATA_DIR", str(tmp_path))
    try:
        monkeypatch.setenv("JAMSOS_USER", "branch")  # Ternate asks
        settings.cache_clear()
        asked = json.loads(
            run_cli("member", "transfer", world.wb, "--npp", world.a_npp, "--wage", "5000000", "--from", "2024-03-01")
        )
        run_cli("member", "decide", str(asked["request_id"]), "--approve", code=6)  # not Ternate's to decide
        monkeypatch.setenv("JAMSOS_USER", "medan")  # the worker's own branch decides
        settings.cache_clear()
        assert [r["id"] for r in json.loads(run_cli("member", "transfers"))] == [asked["request_id"]]
        decided = json.loads(run_cli("member", "decide", str(asked["request_id"]), "--approve"))
        assert decided["status"] == "approved" and decided["membership_id"]
    finally:
        settings.cache_clear()
