"""Masking is an allow-list (issue 14): head office and Kanwil see a record's permitted fields only, NIKs and
names masked, the same through the API, the web app and the command line."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jamsos.cli.common import settings
from jamsos.edge.masking import VIEWS
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING
from jamsos.web.app import create_app as create_web
from tests.auth.test_access import KEY, World, world  # noqa: F401  (the fixture)
from tests.conftest import Clock, run_cli

pytestmark = pytest.mark.integration


def _everything_said(value: object) -> str:
    return json.dumps(value, default=str)


def test_head_office_gets_only_the_allowed_fields_of_a_worker(world: World) -> None:  # noqa: F811
    head = world.client.get(f"/workers/{world.wa}", headers={"Authorization": f"Bearer {world.tokens['head_office']}"})
    body = head.json()
    assert set(body) <= set(VIEWS["worker"])  # nothing beyond the allow-list (name_key leaked before)
    assert "name_key" not in body and "birth_date" not in body
    assert body["nik"] == world.wa[:4] + "********" + world.wa[-4:] and body["name"] == "B*** S******"
    said = _everything_said(body)
    assert world.wa not in said and "BUDI" not in said.upper().replace("B*** S******", "")
    full = world.client.get(f"/workers/{world.wa}", headers={"Authorization": f"Bearer {world.tokens['branch']}"})
    assert full.json()["name_key"] == "BUDI SANTOSO"  # the branch officer serves the case: the whole record


def test_the_duplicates_list_is_masked_for_head_office(world: World, clock: Clock) -> None:  # noqa: F811
    engine = make_engine(world.db_url)
    twin = world.wa[:-4] + "0009"
    with unit_of_work(engine) as s:  # same name and birth date: a likely duplicate
        reg.register_worker(
            s, nik=twin, name="Budi Santoso", valid_from=dt.date(2024, 1, 1), recorded_at=clock(), scope=EVERYTHING
        )
    engine.dispose()
    pairs = world.client.get("/duplicates", headers={"Authorization": f"Bearer {world.tokens['head_office']}"}).json()
    assert pairs and all(set(p) <= set(VIEWS["duplicate"]) for p in pairs)
    said = _everything_said(pairs)
    assert world.wa not in said and twin not in said and "Budi" not in said and "1985" not in said


def test_the_command_line_masks_for_head_office_as_the_api_does(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    api = world.client.get(
        f"/workers/{world.wa}", headers={"Authorization": f"Bearer {world.tokens['head_office']}"}
    ).json()
    monkeypatch.setenv("JAMSOS_DATABASE_URL", world.db_url)
    monkeypatch.setenv("JAMSOS_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("JAMSOS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JAMSOS_USER", "head_office")
    settings.cache_clear()
    try:
        cli = json.loads(run_cli("worker", "show", world.wa))
    finally:
        settings.cache_clear()
    cli["recorded_at"] = cli["recorded_at"].replace(" ", "T")  # the two print date-times alike but for the T
    assert cli == api


def test_the_web_masks_for_head_office_as_the_api_does(world: World, clock: Clock) -> None:  # noqa: F811
    web = TestClient(create_web(Settings(database_url=world.db_url, pseudonym_key=KEY), clock=clock, warm=False))
    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/masuk").text)
    assert token is not None
    form = {"username": "head_office", "password": "a-long-password", "csrf": token.group(1)}
    assert web.post("/masuk", data=form, follow_redirects=False).status_code == 303
    engine = make_engine(world.db_url)
    with unit_of_work(engine) as s:
        kpj = reg.worker_profile(s, nik=world.wa, known_at=clock(), scope=EVERYTHING)["kpj"]
    engine.dispose()
    page = web.get(f"/ops/pekerja/{kpj}").text  # the app's own links name a worker by KPJ
    assert world.wa not in page and "Budi Santoso" not in page and "B*** S******" in page
