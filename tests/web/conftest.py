"""A served web app (uvicorn in a thread) over a synthetic warehouse and a small operational store, and Debian's
Chromium driven by Playwright. Screenshots go to ``docs/screenshots`` (``JAMSOS_SCREENSHOTS`` overrides)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from jamsos.auth import service as auth
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.settings import Settings
from jamsos.web.app import create_app
from tests.conftest import ROOT, serving
from tests.scenario import Firm, firm

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a-long-password"
# (user, role, scope): one of each role; "budi" is a second administrator (the checker of a billing run).
USERS: list[tuple[str, str, dict[str, str]]] = [
    ("admin", "admin", {}),
    ("budi", "admin", {}),
    ("pusat", "head_office", {}),
    ("sulama", "kanwil", {"kanwil": "sulama"}),
    ("kc", "branch", {"branch": "KC-TERNATE"}),
    ("medan", "branch", {"branch": "KC-1271"}),
    ("pemberi", "employer", {}),
    ("pekerja", "worker", {}),
]
CLOCK = dt.datetime(2024, 12, 20, 9, 0)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Served:
    url: str
    warehouse: Path
    db_url: str
    firm: Firm
    app: object


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, nation_template: Path) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("web")
    warehouse = Path(shutil.copytree(nation_template, base / "nation"))  # its tests add targets
    db = base / "jamsos.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        f = firm(s, CLOCK, wages=[5_000_000, 4_200_000], first_serial=101)
        for user, role, scope in USERS:
            scope = (
                {"npp": f.npp} if role == "employer" else {"nik": next(iter(f.workers))} if role == "worker" else scope
            )
            auth.create_user(s, username=user, password=PASSWORD, role=role, created_at=CLOCK, **scope)
    engine.dispose()
    settings = Settings(
        database_url=url, secret_key="web-tests", pseudonym_key="web-tests", login_attempts_per_minute=1000
    )
    app = create_app(settings, warehouse=warehouse, clock=lambda: CLOCK, warm=False)
    with serving(app) as served_url:
        yield Served(served_url, warehouse, url, f, app)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/ensure-chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Watched:
    page: Page
    problems: list[str]


@pytest.fixture
def page(browser: Browser) -> Iterator[Watched]:
    """A page that records console errors and warnings, uncaught exceptions and failed requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID")
    p = context.new_page()
    problems: list[str] = []
    p.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    p.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    p.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    p.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 and "/static/" in r.url else None,
    )
    yield Watched(p, problems)
    context.close()


def login(page: Page, url: str, user: str) -> None:
    """Log in through the form, as a user would."""
    page.goto(url + "/masuk")
    page.get_by_test_id("username").fill(user)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login").click()
    page.wait_for_url(lambda u: "/masuk" not in u)


@pytest.fixture(scope="session")
def shots() -> Path:
    out = Path(os.environ.get("JAMSOS_SCREENSHOTS", ROOT / "docs" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out
