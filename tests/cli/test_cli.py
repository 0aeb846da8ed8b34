"""The command line as a user runs it: stable JSON, Indonesian formats, clear errors, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jamsos.cli.main import app
from jamsos.rules.tree import DEFAULT_DIR

runner = CliRunner()
PU_ARGS = [
    "iuran",
    "--segment",
    "pu",
    "--wage",
    "8000000",
    "--risk-class",
    "rendah",
    "--employer-size",
    "besar",
    "--period",
    "2024-05",
]


def test_iuran_json_has_the_stable_shape() -> None:
    result = runner.invoke(app, [*PU_ARGS, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"period", "segment", "lines", "totals_by_payer", "total"}
    assert (data["period"], data["segment"]) == ("2024-05", "pu")
    first = data["lines"][0]
    assert {k: first[k] for k in ("program", "payer", "amount", "rate", "basis", "reference", "status")} == {
        "program": "JKK",
        "payer": "employer",
        "amount": 43200,
        "rate": "0.0054",
        "basis": 8000000,
        "reference": "PP 44/2015 Pasal 16 ayat (1)",
        "status": "verified",
    }
    assert data["totals_by_payer"] == {"employer": 523200, "worker": 240000, "government": 11000}
    assert data["total"] == 774200


def test_iuran_human_output_uses_indonesian_formats() -> None:
    result = runner.invoke(app, PU_ARGS, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Rp43.200" in result.stdout and "0,54 %" in result.stdout and "Rp774.200" in result.stdout


def test_third_party_payer_and_relief_from_the_cli() -> None:
    result = runner.invoke(app, ["iuran", "--segment", "bpu", "--payer", "apbdes", "--period", "2026-05", "--json"])
    data = json.loads(result.stdout)
    assert data["totals_by_payer"] == {"third_party": 8400}
    assert any(ln["kind"] == "relief" and "PP 50/2025" in ln["reference"] for ln in data["lines"])


def test_bad_input_is_a_clear_error_with_exit_code_2() -> None:
    result = runner.invoke(app, ["iuran", "--segment", "bpu", "--programs", "jkk,jkm,jp", "--period", "2024-05"])
    assert result.exit_code == 2
    assert "JP is not available to segment BPU" in result.stderr
    result = runner.invoke(app, ["iuran", "--segment", "pu", "--period", "2024-5"])
    assert result.exit_code == 2 and "YYYY-MM" in result.stderr


def test_period_before_the_rules_names_the_parameter() -> None:
    result = runner.invoke(app, [*PU_ARGS[:-1], "2015-06"], env={"COLUMNS": "200"})
    assert result.exit_code == 3
    assert "has no value for 2015-06" in result.stderr


def test_rules_commands(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0 and result.stdout.startswith("OK:")
    result = runner.invoke(app, ["rules", "show", "pu.jp.wage_cap", "--json"])
    history = json.loads(result.stdout)["values"]
    assert history[0] == {
        "from": "2015-07-01",
        "value": "7000000",
        "reference": "PP 45/2015 Pasal 28 ayat (4)",
        "status": "verified",
        "note": None,
    }
    assert [v["status"] for v in history if v["from"] == "2021-03-01"] == ["unverified"]
    listing = runner.invoke(app, ["rules", "list"], env={"COLUMNS": "250"})
    assert "pu.jkk.rate_by_risk_class" in listing.stdout and "unverified" in listing.stdout
    assert runner.invoke(app, ["rules", "show", "no.such"]).exit_code == 5
    broken = tmp_path / "rules"
    shutil.copytree(DEFAULT_DIR, broken)
    (broken / "pu.yaml").write_text((broken / "pu.yaml").read_text().replace("2017-03-01", "2017-3-1"))
    result = runner.invoke(app, ["rules", "check", "--rules-dir", str(broken)], env={"COLUMNS": "200"})
    assert result.exit_code == 4
    assert "pu.yaml: pu.jp.wage_cap" in result.stderr and "full ISO date" in result.stderr


def test_due_and_fine() -> None:
    result = runner.invoke(
        app,
        ["due", "--segment", "pu", "--period", "2024-05", "--paid-on", "2024-08-20", "--amount", "1000000", "--json"],
    )
    data = json.loads(result.stdout)
    assert (data["due"], data["months_late"], data["fine"]) == ("2024-06-18", 3, 60000)


@pytest.mark.integration  # the demo writes a store and a synthetic nation: the whole job, not a unit
def test_benefit_and_demo() -> None:
    result = runner.invoke(app, ["benefit", "jkp", "--period", "2025-05", "--wage", "4000000"])
    assert result.exit_code == 0 and "Rp14.400.000" in result.stdout
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "220"})
    assert result.exit_code == 0
    for text in ("Pekerja rentan", "Proyek Jakon", "PMI", "sangat tinggi", "Perpres 109/2013", "unverified"):
        assert text in result.stdout
