"""Plausibility bounds of input: not rules of the scheme (those are cited parameters in ``rules``) but the edge of
what any real record can hold, so that a typo or an attack (a wage of 2^63, a payment dated 0001-01-01, a worker
valid from 9999-12-31) is a named problem instead of a database error or a nonsense record."""

from __future__ import annotations

import datetime as dt

# Rupiah. The largest monthly wage or declared income a record may carry (Rp10 billion), one payment (Rp1 trillion;
# a million of them still sum within a 64-bit integer) and a construction contract (Rp100 trillion).
MAX_MONTHLY_AMOUNT = 10_000_000_000
MAX_PAYMENT = 1_000_000_000_000
MAX_CONTRACT_VALUE = 100_000_000_000_000
MAX_CONTRACT_MONTHS = 600
# Dates: nobody registered was born before 1900; no record of the scheme (Jamsostek, PP 33/1977) is older than
# 1977; nothing is recorded as starting more than a year ahead, or paid in the future.
EARLIEST_BIRTH = dt.date(1900, 1, 1)
EARLIEST_RECORD = dt.date(1977, 1, 1)
AHEAD = dt.timedelta(days=366)


def amount_problem(value: int | None, ceiling: int) -> str | None:
    """Why ``value`` is not a plausible amount (None when it is, or is absent)."""
    if value is None:
        return None
    if value < 0:
        return "must not be negative"
    if value > ceiling:
        return f"is above Rp{ceiling:,}; check the amount"
    return None


def date_problem(value: dt.date | None, *, today: dt.date, earliest: dt.date = EARLIEST_RECORD) -> str | None:
    """Why ``value`` is not a plausible date for a record made ``today`` (None when it is, or is absent)."""
    if value is None:
        return None
    if value < earliest:
        return f"is before {earliest.isoformat()}"
    if value > today + AHEAD:
        return "is more than a year ahead"
    return None


def is_ascii_number(text: str, digits: int) -> bool:
    """Text that is a whole number in ASCII digits (Python's int() also takes other scripts' digits)."""
    return 0 < len(text) <= digits and text.isascii() and text.isdigit()
