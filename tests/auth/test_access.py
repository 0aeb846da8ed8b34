"""Who may do and see what, over HTTP: every API endpoint for every role, on SQLite and PostgreSQL.

A record outside one's scope answers 404 exactly as a record that does not exist; an action the role may
not take answers 403; no token answers 401. NIKs and names are masked for the roles that do not need them,
and every read of personal data is in the audit log under a pseudonym."""

# ruff: noqa: E501  (the table of cases reads best one case per line)
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jamsos.api.app import create_app
from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.auth import tables as at
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.kernel.pseudonym import pseudonym
from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING
from tests.conftest import Clock
from tests.scenario import nik

pytestmark = pytest.mark.integration
AUDIT_KEY = b"test audit key"

ROLES = authz.ROLES
KEY = "test-pseudonym-key"


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    a_npp: str
    b_npp: str
    a_va: str
    wa: str  # works at A (Ternate)
    wb: str  # works at B (Medan)
    db_url: str


@pytest.fixture
def world(db_url: str, clock: Clock) -> World:
    engine = make_engine(db_url)
    at_ = clock()
    with unit_of_work(engine) as s:
        a = reg.register_employer(
            s, scope=EVERYTHING, name="PT Pala Ternate", legal_form="pt", sector="C", size_class="menengah", regency_code="8271",
            valid_from=dt.date(2024, 1, 1), recorded_at=at_,
        )  # fmt: skip
        b = reg.register_employer(
            s, scope=EVERYTHING, name="PT Sawit Medan", legal_form="pt", sector="A", size_class="menengah", regency_code="1271",
            valid_from=dt.date(2024, 1, 1), recorded_at=at_,
        )  # fmt: skip
        wa, wb = nik(1), nik(2, regency="1271")
        for n, npp, name in ((wa, a.number, "Budi Santoso"), (wb, b.number, "Sari Medan")):
            reg.register_worker(s, scope=EVERYTHING, nik=n, name=name, valid_from=dt.date(2024, 1, 1), recorded_at=at_)
            reg.enrol(
                s,
                scope=EVERYTHING,
                nik=n,
                segment="pu",
                npp=npp,
                wage=5_000_000,
                valid_from=dt.date(2024, 1, 1),
                recorded_at=at_,
            )
        scopes = {"kanwil": {"kanwil": "sulama"}, "branch": {"branch": "KC-TERNATE"}, "employer": {"npp": a.number}}
        scopes["worker"] = {"nik": wa}
        tokens = {}
        for role in ROLES:
            auth.create_user(
                s, username=role, password="a-long-password", role=role, created_at=at_, **scopes.get(role, {})
            )
            tokens[role] = auth.create_token(s, username=role, name="t", created_at=at_)
    engine.dispose()
    settings = Settings(database_url=db_url, pseudonym_key=KEY, audit_key=AUDIT_KEY.decode())
    return World(TestClient(create_app(settings, clock=clock)), tokens, a.number, b.number, a.va_number, wa, wb, db_url)


_serial = itertools.count(100)


def call(w: World, role: str | None, method: str, path: str, **kw: Any) -> int:
    headers = {"Authorization": f"Bearer {w.tokens[role]}"} if role else {}
    return int(w.client.request(method, path, headers=headers, **kw).status_code)


def worker_body(regency: str = "8271") -> dict[str, Any]:
    return {"nik": nik(next(_serial), regency=regency), "name": "Baru", "valid_from": "2024-02-01"}


ALL = set(ROLES)
STAFF = {"admin", "head_office", "kanwil", "branch"}


def expect(allowed: set[str], ok: int, *, hidden: set[str] | None = None) -> dict[str, int]:
    """Expected status per role: ``ok`` for the allowed, 404 for ``hidden`` (allowed but out of scope),
    403 for the rest."""
    hidden = hidden or set()
    return {r: ok if r in allowed - hidden else 404 if r in hidden else 403 for r in ROLES}


def _declaration(npp: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"data": {"npp": npp, "period": "2024-12"}, "files": {"file": ("d.csv", b"nik,wage\n")}}


def _fixed(kw: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: kw


Case = tuple[str, str, str, Callable[[], dict[str, Any]], dict[str, int]]


def cases(w: World) -> list[Case]:
    """(what, method, path, request arguments (fresh per call), expected status per role)."""
    none = _fixed({})
    out_of_area = {"kanwil", "branch", "employer", "worker"}
    return [
        ("worker in scope", "GET", f"/workers/{w.wa}", none, expect(ALL, 200)),
        ("worker elsewhere", "GET", f"/workers/{w.wb}", none, expect(ALL, 200, hidden=out_of_area)),
        ("employer in scope", "GET", f"/employers/{w.a_npp}", none, expect(ALL - {"worker"}, 200)),
        (
            "employer elsewhere",
            "GET",
            f"/employers/{w.b_npp}",
            none,
            expect(ALL - {"worker"}, 200, hidden=out_of_area - {"worker"}),
        ),
        ("register worker here", "POST", "/workers", lambda: {"json": worker_body()}, expect({"admin", "branch"}, 201)),
        ("register worker elsewhere", "POST", "/workers", lambda: {"json": worker_body("1271")}, expect({"admin"}, 201)),
        ("declare for own employer", "POST", "/declarations", _declaration(w.a_npp), expect({"admin", "branch", "employer"}, 201)),
        (
            "declare for another employer",
            "POST",
            "/declarations",
            _declaration(w.b_npp),
            expect({"admin", "branch", "employer"}, 201, hidden={"branch", "employer"}),
        ),
        ("employer's account", "GET", f"/accounts/{w.a_va}", none, expect(ALL, 200, hidden={"worker"})),
        ("billing runs", "GET", "/billing-runs", none, expect(STAFF, 200)),
        ("start a billing run", "POST", "/billing-runs", _fixed({"json": {"period": "2024-12"}}), expect({"admin", "head_office"}, 201)),
        ("arrears", "GET", "/arrears", none, expect(STAFF, 200)),
        ("active counts", "GET", "/active/2024-12", none, expect(STAFF, 200)),
        ("likely duplicates", "GET", "/duplicates", none, expect({"admin", "head_office"}, 200)),
        ("reference data", "POST", "/reference", none, expect({"admin"}, 201)),
        ("registry import (administrators only)", "POST", "/registry/import", none, expect({"admin"}, 201)),
        ("who am I", "GET", "/whoami", none, expect(ALL, 200)),
    ]  # fmt: skip


def test_every_endpoint_for_every_role(world: World) -> None:
    failures = []
    for name, method, path, kw, expected in cases(world):
        for role in ROLES:
            got = call(world, role, method, path, **kw())
            if got != expected[role]:
                failures.append(f"{name} as {role}: {got}, expected {expected[role]}")
        if call(world, None, method, path, **kw()) != 401:
            failures.append(f"{name} without a token is not 401")
    assert failures == []


def test_a_record_outside_the_scope_reads_like_an_absent_one(world: World) -> None:
    branch = {"Authorization": f"Bearer {world.tokens['branch']}"}
    elsewhere = world.client.get(f"/workers/{world.wb}", headers=branch).json()
    absent = world.client.get(f"/workers/{nik(999)}", headers=branch).json()
    assert elsewhere["code"] == absent["code"] == "not_found"
    assert elsewhere["message"].replace(world.wb, "X") == absent["message"].replace(nik(999), "X")


def test_bad_or_revoked_tokens_are_refused(world: World, clock: Clock) -> None:
    assert world.client.get("/whoami", headers={"Authorization": "Bearer jms_forged"}).status_code == 401
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        assert auth.revoke_token(s, username="branch", name="t", at=clock()) == 1
    engine.dispose()
    assert call(world, "branch", "GET", "/whoami") == 401


def test_masking_and_the_audit_trail(world: World) -> None:
    head = world.client.get(f"/workers/{world.wa}", headers={"Authorization": f"Bearer {world.tokens['head_office']}"})
    assert head.json()["nik"] == world.wa[:4] + "********" + world.wa[-4:]
    assert head.json()["name"] == "B*** S******"
    officer = world.client.get(f"/workers/{world.wa}", headers={"Authorization": f"Bearer {world.tokens['branch']}"})
    assert officer.json()["nik"] == world.wa and officer.json()["name"] == "Budi Santoso"
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        rows = s.execute(select(at.audit_log).where(at.audit_log.c.action == "read_worker")).mappings().all()
        assert [(r["actor"], r["entity_key"]) for r in rows] == [
            ("head_office", pseudonym(KEY.encode(), world.wa)),
            ("branch", pseudonym(KEY.encode(), world.wa)),
        ]
        everything = " ".join(str(v) for r in s.execute(select(at.audit_log)).mappings() for v in r.values())
        assert world.wa not in everything  # no raw NIK anywhere in the log
        assert auth.seal(s, secret=AUDIT_KEY) > 0
        check = auth.verify(s, secret=AUDIT_KEY)
        assert check.ok and check.pending == 0
    engine.dispose()
