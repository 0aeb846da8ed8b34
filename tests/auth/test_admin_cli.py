"""The administration commands: users, tokens and the audit log, from the shell."""

from __future__ import annotations

import getpass
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from typer.testing import CliRunner

from jamsos.auth import service as auth
from jamsos.cli.common import settings
from jamsos.cli.main import app
from jamsos.infra.db import make_engine, unit_of_work
from jamsos.kernel.pseudonym import pseudonym
from tests.scenario import nik

pytestmark = pytest.mark.integration
AUDIT_KEY = b"test audit key"


class Run(Protocol):
    def __call__(self, *args: str, stdin: str | None = None, code: int = 0) -> str: ...


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite store for the commands, with a fixed pseudonym key and no account acted as."""
    db = tmp_path / "jamsos.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("JAMSOS_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("JAMSOS_PSEUDONYM_KEY", "cli test key")
    monkeypatch.setenv("JAMSOS_AUDIT_KEY", AUDIT_KEY.decode())
    monkeypatch.delenv("JAMSOS_USER", raising=False)
    settings.cache_clear()
    yield db
    settings.cache_clear()


@pytest.fixture
def run() -> Run:
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, code: int = 0) -> str:
        result = runner.invoke(app, list(args), input=stdin)
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_users_tokens_and_the_audit_log(store: Path, run: Run) -> None:
    run(
        "user",
        "add",
        "ani",
        "--role",
        "branch",
        "--branch",
        "KC-TERNATE",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    run("user", "add", "x", "--role", "branch", "--password-stdin", stdin="a-long-password\n", code=2)  # no branch
    token = run("token", "create", "ani", "etl").strip()
    assert token.startswith("jms_")
    assert "1 token(s) revoked" in run("token", "revoke", "ani", "etl")
    run("user", "lock", "ani")
    assert '"active": false' in run("user", "list", "--json")
    assert '"entries": 4, "ok": true' in run("audit", "verify", "--json")  # add, token, revoke, lock
    assert "create_token" in {e["action"] for e in json.loads(run("audit", "list", "--json"))}


def test_operations_commands_are_audited_and_limited_to_the_account_acted_as(
    store: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    ternate, medan = nik(1), nik(2, regency="1271")
    run("worker", "add", ternate, "--name", "Siti Aminah", "--from", "2024-01-01")
    run("worker", "add", medan, "--name", "Budi Santoso", "--from", "2024-01-01")
    run(
        "user", "add", "kc", "--role", "branch", "--branch", "KC-TERNATE", "--password-stdin", stdin="a-long-password\n"
    )
    # Acting as a branch officer of Ternate: their role and scope apply.
    monkeypatch.setenv("JAMSOS_USER", "kc")
    settings.cache_clear()
    assert ternate in run("worker", "show", ternate)
    absent = nik(3)
    hidden = run("worker", "show", medan, code=6).replace(medan, "N")  # outside the branch: "not found" ...
    assert hidden == run("worker", "show", absent, code=6).replace(absent, "N")  # ... exactly as if absent
    run("bill", "run", "2024-01", code=23)  # a branch officer may not run billing
    monkeypatch.setenv("JAMSOS_USER", "nobody")
    settings.cache_clear()
    run("worker", "show", ternate, code=24)
    monkeypatch.delenv("JAMSOS_USER")
    settings.cache_clear()

    with unit_of_work(make_engine(f"sqlite:///{store}")) as s:
        log = list(reversed(auth.entries(s)))
        assert auth.verify(s, secret=AUDIT_KEY).ok
    me = f"os:{getpass.getuser()}"
    assert [(e["actor"], e["role"], e["action"], e["entity_key"]) for e in log] == [
        (me, "operator", "register_worker", pseudonym(b"cli test key", ternate)),
        (me, "operator", "register_worker", pseudonym(b"cli test key", medan)),
        (me, "operator", "create_user", "kc"),
        ("kc", "branch", "read_worker", pseudonym(b"cli test key", ternate)),
        # refused attempts are recorded (issue 14), their own changes left nothing; a person by pseudonym
        ("kc", "branch", "refused", pseudonym(b"cli test key", medan)),
        ("kc", "branch", "refused", pseudonym(b"cli test key", absent)),
        ("kc", "branch", "refused", "billing_run"),
    ]
    assert all(e["source"].startswith("cli:") for e in log)
    assert not [e for e in log for v in e.values() if isinstance(v, str) and (ternate in v or medan in v)]
