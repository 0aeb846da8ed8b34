"""Runs the YAML legal cases in ``cases/`` (OpenFisca style), each citing its source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from jamsos.kernel.errors import DomainError, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import benefits, deadlines
from jamsos.rules.calculator import Membership, calculate
from jamsos.rules.tree import ParameterTree

CASES_DIR = Path(__file__).parent / "cases"


def _load() -> list[dict[str, Any]]:
    cases = []
    for file in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text(encoding="utf-8")):
            case["file"] = file.name
            cases.append(case)
    return cases


CASES = _load()


def test_there_are_enough_cited_cases() -> None:
    assert len(CASES) >= 40
    assert all(case.get("source") for case in CASES), "every legal case cites its source"
    assert len({c["name"] for c in CASES}) == len(CASES), "case names are unique"


def _run(case: dict[str, Any], tree: ParameterTree) -> dict[str, Any]:
    kind = case.get("kind", "iuran")
    period = Period.parse(str(case["period"]))
    args = dict(case["input"])
    if kind == "iuran":
        programs = args.pop("programs", None)
        bill = calculate(Membership(period=period, programs=tuple(programs) if programs else None, **args), tree)
        return {"bill": bill}
    if kind == "due":
        return {"due": deadlines.due_date(args["segment"], period, tree)}
    if kind == "fine":
        f = deadlines.fine(args["segment"], period, args["amount"], args["paid_on"], tree)
        return {"months_late": f.months_late, "fine": f.amount}
    if kind == "benefit_jkm":
        b = benefits.jkm(period, args["membership_months"], args["children"], tree)
        return {"total": int(b.total)}
    if kind == "benefit_jkk_death":
        b = benefits.jkk_death(period, args["wage"], tree)
        return {"total": int(b.total)}
    if kind == "benefit_jkp":
        b = benefits.jkp_schedule(period, args["wage"], tree)
        return {"total": int(b.total)} | {k: int(v) for k, v in b.components.items()}
    if kind == "benefit_jp":
        p = benefits.jp(period, tree=tree, **args)
        return {"kind": p.kind, "monthly": p.monthly, "lump_sum": p.lump_sum}
    raise AssertionError(f"unknown case kind {kind}")


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file']}:{c['name']}" for c in CASES])
def test_legal_case(case: dict[str, Any], tree: ParameterTree) -> None:
    if "error" in case:
        with pytest.raises(DomainError) as info:
            _run(case, tree)
        assert info.value.code == case["error"]["code"]
        if "field" in case["error"]:
            assert isinstance(info.value, InvalidInput)
            assert case["error"]["field"] in {p.field for p in info.value.problems}, str(info.value)
        return
    result = _run(case, tree)
    expected = case["output"]
    if "bill" not in result:
        for key, value in expected.items():
            got = result[key]
            if isinstance(got, dt.date):
                value = dt.date.fromisoformat(str(value))
            assert got == value, f"{key}: expected {value}, got {got}"
        return
    bill = result["bill"]
    if "totals_by_payer" in expected:
        for payer, amount in expected["totals_by_payer"].items():
            assert bill.totals_by_payer.get(payer) == amount, f"{payer}: {bill.totals_by_payer}"
    if "total" in expected:
        assert bill.total == expected["total"]
    present = [(ln["program"], ln["payer"], ln["kind"], ln["amount"]) for ln in bill.lines]
    for program, payer, kind, amount in expected.get("lines", []):
        assert (program, payer, kind, amount) in present, f"missing {program}/{payer}/{kind}/{amount} in {present}"
    for program, payer, kind in expected.get("absent", []):
        assert all((ln["program"], ln["payer"], ln["kind"]) != (program, payer, kind) for ln in bill.lines)
