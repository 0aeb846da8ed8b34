"""What every edge reads the same way: a month and a day typed as text, and the transaction clock.

A bad value answers ``InvalidInput`` naming its field, on the API, the web and the command line alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period

Clock = Callable[[], dt.datetime]


def month(text: str, field: str = "period") -> Period:
    """A month ``YYYY-MM``."""
    try:
        return Period.parse(text)
    except ValueError:
        raise InvalidInput([FieldProblem(field, "must be a month YYYY-MM", value=text)]) from None


def day(text: str, field: str) -> dt.date:
    """A day ``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput([FieldProblem(field, "must be a date YYYY-MM-DD", value=text)]) from None


def utc_now() -> dt.datetime:
    """Transaction time as the store keeps it: UTC, without a zone."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def clock(fixed: dt.datetime | None, given: Clock | None = None) -> Clock:
    """An edge's clock: ``given`` (tests pass one), else the time fixed by ``JAMSOS_CLOCK`` (demos, reproducible
    runs), else UTC now."""
    if given is not None:
        return given
    if fixed is not None:
        return lambda: fixed
    return utc_now
