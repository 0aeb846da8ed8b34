"""The operations commands end to end on a real store: exit codes, row-and-column errors, the whole cycle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.scenario import nik
from typer.testing import CliRunner

from jamsos.cli import common
from jamsos.cli.main import app

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("JAMSOS_DATABASE_URL", db_url)
    monkeypatch.setenv("JAMSOS_CLOCK", "2025-01-20T10:00:00")
    common.settings.cache_clear()
    yield CliRunner()
    common.settings.cache_clear()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def data(output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(output[output.index("{") :])  # type: ignore[no-any-return]


def test_operations_cycle_from_the_command_line(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "db", "upgrade")
    emp = data(
        run(
            cli,
            "employer",
            "add",
            "--name",
            "PT Pala",
            "--sector",
            "C",
            "--size",
            "kecil",
            "--regency",
            "8271",
            "--from",
            "2024-01-01",
        )
    )
    assert emp["branch"] == "KC-TERNATE"
    w = data(run(cli, "worker", "add", nik(1), "--name", "Budi", "--from", "2024-01-01"))
    assert len(w["kpj"]) == 11
    assert "duplicate_nik" in run(cli, "worker", "add", nik(1), "--name", "Budi", "--from", "2024-01-01", code=7)
    run(
        cli,
        "member",
        "add",
        nik(1),
        "--segment",
        "pu",
        "--npp",
        emp["npp"],
        "--wage",
        "5000000",
        "--from",
        "2024-01-01",
    )
    bad = tmp_path / "dec.csv"
    bad.write_text(f"nik,wage\n{nik(1)},-5\n")
    out = run(cli, "bill", "declare", emp["npp"], "--period", "2024-12", "--file", str(bad), code=2)
    assert "row 2, wage" in out and "nothing was applied" in out
    r = data(run(cli, "bill", "run", "2024-12", "--user", "ani"))
    assert r["status"] == "draft"
    assert "four_eyes" in run(cli, "bill", "approve", str(r["run_id"]), "--user", "ani", code=8)
    run(cli, "bill", "approve", str(r["run_id"]), "--user", "budi")
    owed = data(run(cli, "pay", "statement", emp["va_number"]))["owed"]
    bank = tmp_path / "bank.csv"
    bank.write_text(f"reference,va_number,amount,paid_on\nC1,{emp['va_number']},{owed},2025-01-15\n")
    assert data(run(cli, "pay", "import", str(bank)))["posted"] == 1
    assert data(run(cli, "pay", "import", str(bank)))["already_posted"] == 1
    assert data(run(cli, "active", "2024-12"))["active"] == 1
    assert "0 account(s) in arrears" in run(cli, "pay", "arrears", "--as-of", "2025-03-01")
    export = data(run(cli, "warehouse", "export", "--out", str(tmp_path / "wh")))
    assert export["written"]["contribution_lines"] > 0
    assert "schema at revision" in run(cli, "db", "upgrade")


def test_demo_operations_walk_six_months(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from jamsos.cli import demo_ops
    from jamsos.rules.tree import load_parameters

    buf = io.StringIO()
    url = demo_ops.run(Console(file=buf, width=200), load_parameters(), tmp_path / "demo", b"demo key")
    text = buf.getvalue()
    assert url.endswith("demo/jamsos.db")
    assert text.count("approved") == 6 and "Arrears at 2025-02-28" in text
    assert (tmp_path / "demo" / "warehouse" / "contribution_lines").is_dir()
