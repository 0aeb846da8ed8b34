"""Smaller defects found by attacking jamsos (issue 14): the embedded store's permissions, exports confined to a
root, weak passwords, look-alike names on the command line, a server on an unmigrated store."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from tests.conftest import Clock, run_cli

from jamsos.api.app import create_app
from jamsos.auth import domain as authz
from jamsos.auth import service as auth
from jamsos.cli.common import settings
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.migrate import SchemaOutdated, upgrade
from jamsos.infra.settings import Settings
from jamsos.kernel.errors import InvalidInput
from jamsos.kernel.names import same_person
from jamsos.web.app import create_app as create_web

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files 0644, folders 0755
    try:
        store = tmp_path / "data" / "jamsos.db"
        engine = make_engine(f"sqlite:///{store}")
        with engine.begin() as c:
            c.execute(text("CREATE TABLE t (x INTEGER)"))
            c.execute(text("INSERT INTO t VALUES (1)"))
            assert _mode(store.with_name("jamsos.db-wal")) == 0o600  # the WAL, while it is open
        engine.dispose()
    finally:
        os.umask(old)
    assert _mode(store.parent) == 0o700 and _mode(store) == 0o600


def test_exports_stay_inside_the_export_root(db_url: str, clock: Clock, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with unit_of_work(engine) as s:
        auth.create_user(s, username="root", password="a-long-password", role="admin", created_at=clock())
        token = auth.create_token(s, username="root", name="t", created_at=clock())
    engine.dispose()
    root = tmp_path / "exports"
    client = TestClient(create_app(Settings(database_url=db_url, export_root=root, pseudonym_key="k"), clock=clock))
    headers = {"Authorization": f"Bearer {token}"}
    for outside in ("/etc/jamsos", "../elsewhere", "a/../../b", "."):
        r = client.post("/warehouse/exports", json={"out": outside}, headers=headers)
        assert r.status_code == 422 and r.json()["problems"][0]["field"] == "out", outside
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "b").exists()
    assert client.post("/warehouse/exports", json={"out": "w1"}, headers=headers).status_code == 201
    assert (root / "w1").is_dir()


def test_common_or_guessable_passwords_are_refused(db_url: str, clock: Clock) -> None:
    engine = make_engine(db_url)
    for weak in ("password1234", "qwertyuiop", "ani2024ani2024"):
        with unit_of_work(engine) as s, pytest.raises(InvalidInput) as refused:
            auth.create_user(s, username="ani", password=weak, role="admin", created_at=clock())
        assert [p.field for p in refused.value.problems] == ["password"], weak
    assert authz.password_problem("ternate-pala-cengkeh", "ani") is None
    engine.dispose()


def test_look_alike_names_do_not_pass_for_a_second_person(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert same_person("ani", "ANI") and same_person("ani", " ani ") and same_person("ani", "\uff41\uff4e\uff49")
    store = tmp_path / "jamsos.db"
    monkeypatch.setenv("JAMSOS_DATABASE_URL", f"sqlite:///{store}")
    monkeypatch.delenv("JAMSOS_USER", raising=False)
    settings.cache_clear()
    try:
        run_cli("db", "upgrade")
        for look_alike in ("\u0430ni", "Ani ", "ani\u200b"):  # a Cyrillic a; a capital and a space; a zero-width space
            out = run_cli("bill", "approve", "1", "--user", look_alike, code=2)
            assert "account name" in out
    finally:
        settings.cache_clear()


def test_a_server_on_an_unmigrated_store_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "empty.db"
    with pytest.raises(SchemaOutdated) as refused:
        create_web(Settings(database_url=f"sqlite:///{store}"), warm=False)
    assert "not set up" in str(refused.value) and "jamsos db upgrade" in str(refused.value)
    monkeypatch.setenv("JAMSOS_DATABASE_URL", f"sqlite:///{store}")
    settings.cache_clear()
    try:
        out = run_cli("serve", code=13)
        assert "jamsos db upgrade" in out
        upgrade(make_engine(f"sqlite:///{store}"))
        create_web(Settings(database_url=f"sqlite:///{store}"), clock=lambda: dt.datetime(2025, 1, 1), warm=False)
    finally:
        settings.cache_clear()
