"""Period: exact, validated, ordered."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jamsos.kernel import Period


def test_period_parse_and_arithmetic() -> None:
    p = Period.parse("2024-05")
    assert (p.year, p.month, str(p)) == (2024, 5, "2024-05")
    assert p + 8 == Period(2025, 1)
    assert Period(2025, 1) - p == 8
    assert p.first_day == date(2024, 5, 1)
    for bad in ("2024-5", "2024-13", "05/2024", "2024-05-01"):
        with pytest.raises(ValueError):
            Period.parse(bad)


@given(st.integers(min_value=1900 * 12, max_value=2200 * 12 - 1))
def test_period_ordinal_round_trips(ordinal: int) -> None:
    assert Period.from_ordinal(ordinal).ordinal == ordinal
    assert Period.parse(str(Period.from_ordinal(ordinal))).ordinal == ordinal
