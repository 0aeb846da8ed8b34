"""Reconciling published figures: the source article's growth rate does not follow from its levels."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jamsos.coverage.reconcile import Quoted, article_case, implied_levels, parse_figures, reconcile
from jamsos.kernel.errors import InvalidInput


def test_the_article_case() -> None:
    checks = reconcile(article_case())
    by = {(c.relation, c.quoted.label, tuple(q.label for q in c.uses)): c for c in checks}
    news = by[("growth from levels", "growth 2023", ("active 2022", "active 2023 (news cut-off)"))]
    assert not news.reconciles
    assert news.derived == pytest.approx(Decimal("15.6163"), abs=Decimal("0.0001"))
    assert news.difference == pytest.approx(Decimal("0.2737"), abs=Decimal("0.0001"))
    audited = by[("growth from levels", "growth 2023", ("active 2022", "active 2023 (audited)"))]
    assert audited.reconciles
    assert by[("increment from levels", "increase 2023", ("active 2022", "active 2023 (news cut-off)"))].reconciles
    assert not by[("growth from increment", "growth 2023", ("increase 2023", "active 2022"))].reconciles
    assert by[
        ("increment from levels", "target increase 2024", ("active 2023 (news cut-off)", "target 2024"))
    ].reconciles
    [(growth, level)] = implied_levels(article_case())
    assert growth.value == Decimal("15.89") and round(level, 2) == Decimal("41.56")


@given(
    base=st.decimals(min_value=1, max_value=1000, places=2),
    rate=st.decimals(min_value=-50, max_value=100, places=2),
)
def test_figures_rounded_from_a_consistent_truth_always_reconcile(base: Decimal, rate: Decimal) -> None:
    end = (base * (1 + rate / 100)).quantize(Decimal("0.01"))
    if end <= 0:
        return
    figures = [
        Quoted("level", "2022-12", base),
        Quoted("level", "2023-12", end),
        Quoted("growth", "2023-12", ((end - base) / base * 100).quantize(Decimal("0.01")), "2022-12"),
        Quoted("increment", "2023-12", end - base, "2022-12"),
    ]
    assert all(c.reconciles for c in reconcile(figures))


def test_bad_figures_are_reported_by_row() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_figures(
            [{"kind": "level", "period": "2023-13", "value": "1"}, {"kind": "rate", "period": "2023-12", "value": "x"}]
        )
    assert [(p.row, p.field) for p in caught.value.problems] == [(2, "period"), (3, "kind")]
