"""Shared fixtures: the built-in parameter tree, and fresh databases on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``JAMSOS_TEST_DATABASE_URL`` (``make test`` starts a server with
``scripts/pg-test-server``); when unset, the session starts that server itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

# The CLI's tables are as wide as the terminal; tests read them whole, in a terminal or in a worker process alike.
os.environ.setdefault("COLUMNS", "200")

from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.migrate import upgrade
from jamsos.registry.reference import load_reference
from jamsos.rules.tree import ParameterTree, load_parameters

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


@pytest.fixture(scope="session")
def tree() -> ParameterTree:
    return load_parameters()


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("JAMSOS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    data = Path("/tmp") / f"jamsos-pytest-pg-{os.getpid()}"
    port = str(55000 + os.getpid() % 1000)
    script = ROOT / "scripts" / "pg-test-server"
    url = subprocess.run(
        [str(script), "start", str(data), port], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([str(script), "stop", str(data)], check=False)
        shutil.rmtree(data, ignore_errors=True)


def _admin(url: str) -> Engine:
    base = url.rsplit("/", 1)[0] + "/postgres"
    return make_engine(base, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """A migrated PostgreSQL database with reference data, copied for each test."""
    name = f"jamsos_tpl_{os.getpid()}"
    admin = _admin(pg_server_url)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as s:
        load_reference(s)
    engine.dispose()
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with unit_of_work(engine) as s:
        load_reference(s)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated store with reference data loaded: one per test, on each engine."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "jamsos.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    yield from _pg_database(request.getfixturevalue("pg_server_url"), request.getfixturevalue("pg_template"))


@pytest.fixture
def pg_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """A fresh store on PostgreSQL only: for what needs a server that runs transactions in parallel."""
    yield from _pg_database(pg_server_url, pg_template)


def _pg_database(server: str, template_name: str) -> Iterator[str]:
    name = f"jamsos_t_{os.getpid()}_{next(_counter)}"
    admin = _admin(server)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


class Clock:
    """Transaction time that tests move forward explicitly."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2025, 1, 6, 9, 0))


@contextmanager
def serving(app: Any, **options: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread, for the block: yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_cli(*args: str, code: int = 0) -> str:
    """Run ``jamsos ARGS`` in-process; the exit code must be ``code``; returns what it printed."""
    from typer.testing import CliRunner

    from jamsos.cli.main import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="session")
def nation_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic nation at scale 0.001 (2022-06 … 2023-12), generated once; copy it before changing it."""
    from jamsos.kernel.period import Period
    from jamsos.synth import national

    out = tmp_path_factory.mktemp("nation") / "nation"
    national.generate(
        out, tree=load_parameters(), scale=0.001, first=Period(2022, 6), last=Period(2023, 12), pseudonym_key=b"test"
    )
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the PostgreSQL server carries the ``postgresql`` marker (``make test-fast`` leaves them
    out): those asking for ``pg_url`` and the PostgreSQL half of those parametrised by ``db_url``."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("db_url") == "postgresql"
        if (
            on_pg
            or "pg_url" in getattr(item, "fixturenames", ())
            or "pg_server_url" in getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.postgresql)
