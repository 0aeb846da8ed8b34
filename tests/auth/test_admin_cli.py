"""The administration commands: users, tokens and the audit log, from the shell."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jamsos.cli.common import settings
from jamsos.cli.main import app

pytestmark = pytest.mark.integration


def test_users_tokens_and_the_audit_log(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "jamsos.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("JAMSOS_DATABASE_URL", f"sqlite:///{db}")
    settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
        result = runner.invoke(app, list(args), input=stdin)
        assert result.exit_code == code, result.output
        return result.output

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
    assert "create_token" in run("audit", "list")
    settings.cache_clear()
