"""Formula invariants (Hypothesis) and batch behaviour: one implementation, same answer for 1 row or many."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jamsos.kernel.errors import InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.calculator import Membership, calculate
from jamsos.rules.formulas import MembershipBatch, compute, compute_lines
from jamsos.rules.tree import ParameterTree

PERIODS = st.builds(Period.from_ordinal, st.integers(Period(2015, 7).ordinal, Period(2027, 12).ordinal))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def pu(period: Period, wage: int, risk: str = "rendah", size: str = "besar", **kw: object) -> Membership:
    return Membership("pu", period, wage=wage, risk_class=risk, employer_size=size, **kw)  # type: ignore[arg-type]


memberships = st.one_of(
    st.builds(
        pu,
        PERIODS,
        st.integers(1, 10**9),
        st.sampled_from(c.RISK_CLASSES),
        st.sampled_from(c.EMPLOYER_SIZES),
        labour_intensive=st.booleans(),
    ),
    st.builds(
        lambda p, i, jht, src, tr: Membership(
            "bpu", p, income=i, programs=("jkk", "jkm", "jht") if jht else None, payer=src, transport=tr
        ),
        PERIODS,
        st.integers(0, 10**8),
        st.booleans(),
        st.sampled_from(["self", "apbd", "apbdes", "csr", "apbn"]),
        st.booleans(),
    ),
    st.builds(lambda p, v: Membership("jakon", p, contract_value=v), PERIODS, st.integers(1, 10**12)),
    st.builds(
        lambda p, m: Membership("pmi", p, contract_months=m),
        st.builds(Period.from_ordinal, st.integers(Period(2023, 3).ordinal, Period(2027, 12).ordinal)),
        st.integers(1, 60),
    ),
)


@FAST
@given(memberships)
def test_total_is_the_sum_of_lines_and_of_payers(tree: ParameterTree, m: Membership) -> None:
    bill = calculate(m, tree)
    assert bill.total == sum(line["amount"] for line in bill.lines)
    assert bill.total == sum(bill.totals_by_payer.values())
    assert all(isinstance(v, int) and v > 0 for v in bill.totals_by_payer.values())


@FAST
@given(memberships)
def test_recomposition_moves_money_without_charging_anyone(tree: ParameterTree, m: Membership) -> None:
    bill = calculate(m, tree)
    moved_out = sum(ln["amount"] for ln in bill.lines if ln["kind"] == "recomposition_out")
    moved_in = sum(ln["amount"] for ln in bill.lines if ln["kind"] == "recomposition_in")
    assert moved_out == -moved_in
    assert all(ln["program"] == "JKP" for ln in bill.lines if ln["kind"] == "recomposition_in")


@FAST
@given(
    PERIODS,
    st.integers(1, 5 * 10**8),
    st.integers(1, 10**7),
    st.sampled_from(c.RISK_CLASSES),
    st.sampled_from(c.EMPLOYER_SIZES),
    st.booleans(),
)
def test_contributions_never_decrease_as_wage_rises(
    tree: ParameterTree, period: Period, wage: int, raise_: int, risk: str, size: str, li: bool
) -> None:
    low = calculate(pu(period, wage, risk, size, labour_intensive=li), tree)
    high = calculate(pu(period, wage + raise_, risk, size, labour_intensive=li), tree)
    for payer in ("employer", "worker", "government"):
        assert high.totals_by_payer.get(payer, 0) >= low.totals_by_payer.get(payer, 0)


@FAST
@given(PERIODS, st.integers(0, 10**8), st.integers(0, 10**8))
def test_jp_stops_growing_at_the_cap(tree: ParameterTree, period: Period, above: int, more: int) -> None:
    cap = tree.value("pu.jp.wage_cap", period)

    def jp_lines(wage: int) -> list[tuple[str, int]]:
        bill = calculate(pu(period, wage, size="besar"), tree)
        return sorted((ln["payer"], ln["amount"]) for ln in bill.lines if ln["program"] == "JP")

    assert jp_lines(cap + above) == jp_lines(cap + above + more) == jp_lines(cap)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(memberships, min_size=1, max_size=25))
def test_a_batch_equals_its_rows_one_by_one(tree: ParameterTree, ms: list[Membership]) -> None:
    batches = [m.to_batch() for m in ms]
    batch = MembershipBatch(
        **{name: np.concatenate([getattr(b, name) for b in batches]) for name in MembershipBatch.__dataclass_fields__}
    )
    lines = compute_lines(batch, tree)
    totals = lines.row_totals(len(ms))
    for i, m in enumerate(ms):
        single = calculate(m, tree)
        assert totals[i] == single.total
        mine = sorted((r["program"], r["payer"], r["kind"], r["amount"]) for r in lines.records() if r["row"] == i)
        assert mine == sorted((r["program"], r["payer"], r["kind"], r["amount"]) for r in single.lines)


def test_batch_errors_name_every_bad_row_and_field(tree: ParameterTree) -> None:
    batch = MembershipBatch.build(
        [c.PU, c.PU, c.BPU, c.PU],
        Period(2024, 5).ordinal,
        n=4,
        wage=[5_000_000, -3, 0, 0],
        risk_class=[1, 1, c.MISSING, 1],
        employer_size=[3, 3, c.MISSING, 3],
        programs=[0, 0, c.BIT["jkk"] | c.BIT["jkm"] | c.BIT["jp"], 0],
    )
    with pytest.raises(InvalidInput) as info:
        compute_lines(batch, tree)
    found = {(p.row, p.field) for p in info.value.problems}
    assert (2, "wage") in found and (3, "programs") in found and (4, "wage") in found
    assert not any(p.row == 1 for p in info.value.problems)


def test_rejected_rows_make_no_lines_and_the_others_are_computed(tree: ParameterTree) -> None:
    """Problems are values (issue 15): the billing run no longer retries until no row is rejected. A PMI whose
    optional JHT is out of range is rejected after its JKK+JKM package line was made: that line goes too."""
    may = Period(2024, 5)
    rows = [
        pu(may, 5_000_000),
        Membership("pmi", may, contract_months=24, programs=("jkk", "jkm", "jht"), jht_amount=40_000),
        pu(may, 6_000_000),
        Membership("pmi", may, contract_months=24, programs=("jkk", "jkm", "jht"), jht_amount=100_000),
    ]
    batches = [m.to_batch() for m in rows]
    batch = MembershipBatch(
        **{name: np.concatenate([getattr(b, name) for b in batches]) for name in MembershipBatch.__dataclass_fields__}
    )
    batch.wage[0] = -3  # row 1 breaks a validation, row 2 the PMI JHT range found while computing
    done = compute(batch, tree)
    assert done.rejected.tolist() == [True, True, False, False]
    assert {(p.row, p.field) for p in done.problems} == {(1, "wage"), (2, "jht_amount")}
    assert done.reason(0).startswith("wage: ") and done.reason(1).startswith("jht_amount: ")
    assert set(done.lines.row.tolist()) == {2, 3}
    totals = done.lines.row_totals(4)
    assert totals[2] == calculate(rows[2], tree).total and totals[3] == calculate(rows[3], tree).total


def test_unverified_parameters_show_on_their_lines(tree: ParameterTree) -> None:
    bill = calculate(pu(Period(2021, 5), 20_000_000), tree)  # the 2021 JP cap is [D/M]
    jp = [ln for ln in bill.lines if ln["program"] == "JP" and ln["kind"] == "contribution"]
    assert jp and all(ln["basis"] == 8_754_600 for ln in jp)
    assert all(ln["status"] == "unverified" and "pu.jp.wage_cap" in ln["parameter"] for ln in jp)
    jkk = [ln for ln in bill.lines if ln["program"] == "JKK" and ln["kind"] == "contribution"]
    assert [ln["status"] for ln in jkk] == ["verified"]
    bpu = calculate(Membership("bpu", Period(2024, 5), income=1_000_000), tree)  # tier steps are [M]
    assert [ln["status"] for ln in bpu.lines if ln["program"] == "JKK"] == ["unverified"]
    table = compute_lines(pu(Period(2021, 5), 20_000_000).to_batch(), tree).to_arrow()
    assert set(table.column_names) >= {"program", "payer", "kind", "amount", "rate_units", "basis", "status"}
    assert int(np.sum(table.column("amount").to_numpy())) == bill.total
    assert "unverified" in table.column("status").to_pylist()


def test_a_reform_is_an_edited_tree(tree: ParameterTree, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from jamsos.rules.tree import DEFAULT_DIR, load_parameters

    shutil.copytree(DEFAULT_DIR, tmp_path / "reform")
    pu_file = tmp_path / "reform" / "pu.yaml"
    pu_file.write_text(
        pu_file.read_text().replace(
            "{from: 2026-03-01, value: 11_086_300,",
            '{from: 2026-01-01, value: 15_000_000, reference: "what-if", status: unverified}\n'
            "      - {from: 2026-03-01, value: 15_000_000,",
        )
    )
    reform = load_parameters(tmp_path / "reform")
    base = calculate(pu(Period(2026, 6), 20_000_000), tree)
    what_if = calculate(pu(Period(2026, 6), 20_000_000), reform)
    assert (
        what_if.totals_by_payer["employer"] - base.totals_by_payer["employer"] == 2 * (15_000_000 - 11_086_300) // 100
    )
