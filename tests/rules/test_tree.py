"""The parameter tree: validation names every problem; resolution never returns a silent zero."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jamsos.kernel.period import Period
from jamsos.rules.check import check_tree
from jamsos.rules.tree import DEFAULT_DIR, InvalidParameters, ParameterMissing, ParameterTree, load_parameters

GOOD = """
rate:
  description: A rate.
  unit: rate
  values:
    - {from: 2020-01-01, value: 0.01, reference: "PP 1/2020", status: verified}
    - {from: 2021-03-01, value: 0.02, reference: "PP 2/2021", status: unverified}
"""


def _tree_from(tmp_path: Path, text: str) -> ParameterTree:
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    return load_parameters(tmp_path)


def _problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(InvalidParameters) as info:
        _tree_from(tmp_path, text)
    return str(info.value)


def test_resolution_by_month(tmp_path: Path) -> None:
    tree = _tree_from(tmp_path, GOOD)
    assert str(tree.value("x.rate", Period(2021, 2))) == "0.01"
    assert str(tree.value("x.rate", Period(2021, 3))) == "0.02"
    assert tree["x.rate"].for_period(Period(2022, 1)).status == "unverified"


def test_missing_value_names_parameter_and_month(tmp_path: Path) -> None:
    tree = _tree_from(tmp_path, GOOD)
    with pytest.raises(ParameterMissing) as info:
        tree.value("x.rate", Period(2019, 12))
    assert "x.rate" in str(info.value) and "2019-12" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace(', reference: "PP 1/2020"', ""), "a legal reference is required"),
        (GOOD.replace("2021-03-01", "2019-03-01"), "strictly increasing"),
        (GOOD.replace("2021-03-01", "2020-01-01"), "strictly increasing"),
        (GOOD.replace("2021-03-01", "2021-03"), "full ISO date"),
        (GOOD.replace("2021-03-01", '"03/2021"'), "full ISO date"),
        (GOOD.replace("value: 0.02", "value: null"), "not nullable"),
        (GOOD.replace("value: 0.02", "value: 1.5"), "between 0 and 1"),
        (GOOD.replace("value: 0.02", "value: 0.123456789"), "at most 8 decimals"),
        (GOOD.replace("unit: rate", "unit: percent"), "unknown unit"),
        (GOOD.replace("status: unverified", "status: maybe"), "status must be one of"),
        (GOOD.replace("  description: A rate.\n", ""), "a description is required"),
    ],
)
def test_invalid_trees_are_rejected_with_a_reason(tmp_path: Path, text: str, expected: str) -> None:
    message = _problems(tmp_path, text)
    assert expected in message
    assert "x.yaml: x.rate" in message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = GOOD.replace(', reference: "PP 1/2020"', "").replace("status: unverified", "status: maybe")
    message = _problems(tmp_path, text)
    assert "reference is required" in message and "status must be one of" in message


def test_builtin_tree_is_valid_and_cross_checked(tree: ParameterTree) -> None:
    report = check_tree(tree)
    assert report.parameters == len(tree) >= 50
    assert report.unverified > 0, "DOMAIN.md [M] facts are marked unverified"
    assert report.first_computable["pu"] == Period(2015, 7)
    assert report.first_computable["pmi"] == Period(2023, 3)


def test_rules_check_catches_an_inconsistent_minimum_package(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_DIR, tmp_path / "p")
    bpu = tmp_path / "p" / "bpu.yaml"
    bpu.write_text(bpu.read_text().replace("jkk_jkm: 16_800", "jkk_jkm: 17_000"))
    with pytest.raises(InvalidParameters, match="minimum_package"):
        check_tree(load_parameters(tmp_path / "p"))


def test_every_value_has_a_reference_and_status(tree: ParameterTree) -> None:
    for param in tree:
        for v in param.values:
            assert v.reference.strip(), param.path
            assert v.status in {"verified", "unverified"}


@settings(max_examples=200)
@given(st.data())
def test_a_parameter_is_constant_between_its_change_dates(tree: ParameterTree, data: st.DataObject) -> None:
    param = data.draw(st.sampled_from(list(tree)))
    starts = param.change_dates()
    i = data.draw(st.integers(min_value=0, max_value=len(starts) - 1))
    lo = starts[i]
    hi = starts[i + 1] - dt.timedelta(days=1) if i + 1 < len(starts) else lo + dt.timedelta(days=3650)
    day = data.draw(st.dates(min_value=lo, max_value=hi))
    assert param.at(day) == param.at(lo)
