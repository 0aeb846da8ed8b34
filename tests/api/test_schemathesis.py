"""Schemathesis against the API's own OpenAPI schema: generated requests (valid and invalid) to every
operation, as an administrator on a real store, SQLite and PostgreSQL. No answer may be a server error (5xx).

The two operations that write outside the store (``/warehouse/exports`` writes files where it is told;
``/reference`` replaces reference data) are left out of the fuzzing; they have their own tests."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from tests.conftest import _pg_database

from jamsos.api.app import create_app
from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings

pytestmark = pytest.mark.integration
CLOCK = dt.datetime(2024, 12, 20, 9)
_served: dict[str, Any] = {}

schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(database_url="sqlite:///:memory:"), clock=lambda: CLOCK)
).exclude(path_regex="^/(warehouse/exports|reference)$")


@pytest.fixture(scope="module", autouse=True, params=["sqlite", "postgresql"])
def _store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The app the generated requests go to: a migrated store with an administrator's token, on each engine
    (PostgreSQL refuses overlong text, NUL and big integers that SQLite lets through)."""
    if request.param == "sqlite":
        db = tmp_path_factory.mktemp("st") / "jamsos.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        store = iter([f"sqlite:///{db}"])
    else:
        store = _pg_database(request.getfixturevalue("pg_server_url"), request.getfixturevalue("pg_template"))
    url = next(store)
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="fuzz", password="a-long-password", role="admin", created_at=CLOCK)
        _served["token"] = auth.create_token(s, username="fuzz", name="st", created_at=CLOCK)
    engine.dispose()
    _served["app"] = create_app(Settings(database_url=url, pseudonym_key="st"), clock=lambda: CLOCK)
    yield
    next(store, None)  # drops the PostgreSQL database


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(app=_served["app"], headers={"Authorization": f"Bearer {_served['token']}"})
    case.validate_response(response, checks=(not_a_server_error,))
