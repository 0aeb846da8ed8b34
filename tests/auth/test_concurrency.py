"""Concurrent requests against a served app on the real PostgreSQL server (issue 14): wrong passwords arriving
together still lock the account, two checkers approving one run at once give one approval, two reversals of one
payment give one reversal and a clear conflict."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from jamsos.auth import service as auth
from jamsos.auth import tables as at
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.files import read_table
from jamsos.infra.settings import Settings
from jamsos.ledger import service as led
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import load_parameters
from jamsos.web.app import create_app
from tests.conftest import serving
from tests.scenario import firm

pytestmark = pytest.mark.integration

CLOCK = dt.datetime(2025, 1, 20, 9, 0)
PASSWORD = "a-long-password"


@dataclass
class Served:
    url: str
    db_url: str
    tokens: dict[str, str]
    va: str


@pytest.fixture
def served(pg_url: str) -> Iterator[Served]:
    db_url = pg_url
    engine = make_engine(db_url)
    tokens = {}
    with unit_of_work(engine) as s:
        f = firm(s, CLOCK, wages=[5_000_000, 4_000_000])
        for user in ("ani", "budi", "citra"):
            auth.create_user(s, username=user, password=PASSWORD, role="head_office", created_at=CLOCK)
            tokens[user] = auth.create_token(s, username=user, name="t", created_at=CLOCK)
    engine.dispose()
    settings = Settings(
        database_url=db_url, secret_key="c", pseudonym_key="c", login_attempts_per_minute=10_000, login_max_failures=5
    )
    app = create_app(settings, clock=lambda: CLOCK, warm=False)
    with serving(app) as url:
        yield Served(url, db_url, tokens, f.va)


def _together(n: int, call: Callable[[int], int]) -> list[int]:
    """``n`` calls released at the same moment, each on its own connection."""
    start = threading.Barrier(n)

    def one(i: int) -> int:
        start.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_wrong_passwords_arriving_together_lock_the_account(served: Served) -> None:
    def wrong(_: int) -> int:
        with httpx.Client(base_url=served.url) as c:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/masuk").text)
            assert token is not None
            form = {"username": "citra", "password": f"wrong-{_}", "csrf": token.group(1)}
            return c.post("/masuk", data=form, follow_redirects=False).status_code

    assert set(_together(30, wrong)) == {401}
    with httpx.Client(base_url=served.url) as c:  # now even the right password is refused
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/masuk").text)
        assert token is not None
        form = {"username": "citra", "password": PASSWORD, "csrf": token.group(1)}
        assert c.post("/masuk", data=form, follow_redirects=False).status_code == 401
    engine = make_engine(served.db_url)
    with unit_of_work(engine) as s:
        locked = s.scalar(select(at.app_user.c.locked_until).where(at.app_user.c.username == "citra"))
    engine.dispose()
    assert locked is not None and locked > CLOCK


def _api(served: Served, user: str, method: str, path: str, **kw: object) -> int:
    with httpx.Client(base_url=served.url + "/api", timeout=60) as c:
        return c.request(method, path, headers={"Authorization": f"Bearer {served.tokens[user]}"}, **kw).status_code  # type: ignore[arg-type]


def test_two_checkers_approving_one_run_at_once_give_one_approval(served: Served) -> None:
    assert _api(served, "ani", "POST", "/billing-runs", json={"period": "2024-12"}) == 201
    engine = make_engine(served.db_url)
    with unit_of_work(engine) as s:
        run_id = led.list_runs(s)[-1]["id"]
    checkers = ("budi", "citra")
    codes = _together(2, lambda i: _api(served, checkers[i], "POST", f"/billing-runs/{run_id}/approve"))
    assert sorted(codes) == [200, 409]
    with unit_of_work(engine) as s:
        approvals = s.scalar(
            select(func.count()).select_from(at.audit_log).where(at.audit_log.c.action == "approve_billing_run")
        )
    engine.dispose()
    assert approvals == 1


def test_two_reversals_of_one_payment_give_one_reversal_and_a_conflict(served: Served) -> None:
    engine = make_engine(served.db_url)
    tree = load_parameters()
    bank = f"reference,va_number,amount,paid_on\nTRF/2025/0001,{served.va},1000000,2025-01-10\n"
    with unit_of_work(engine) as s:
        led.import_payments(
            s, table=read_table(bank.encode(), "bank.csv"), tree=tree, recorded_at=CLOCK, recorded_by="t",
            scope=EVERYTHING,
        )  # fmt: skip
    path = "/payments/TRF/2025/0001/reverse"  # a bank reference with slashes can be addressed
    codes = _together(2, lambda i: _api(served, ("ani", "budi")[i], "POST", path, json={"reason": "bank recall"}))
    assert sorted(codes) == [200, 409]
    with unit_of_work(engine) as s:
        statement = led.statement(s, va_number=served.va, scope=EVERYTHING)
    engine.dispose()
    assert sorted(p["amount"] for p in statement["payments"]) == [-1_000_000, 1_000_000]
