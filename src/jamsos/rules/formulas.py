"""Contribution formulas: vectorised bill lines for any number of memberships, with the legal basis of each line.

One implementation serves the single-worker calculator (a batch of one), the monthly billing run
for millions, and what-if reforms (the same batch against an edited parameter tree).
Rates are exact: a rate with at most 8 decimals is held as an integer numerator over 10^8 and every
line is ``round_half_up(basis * rate)`` in int64 arithmetic (general.rounding).
"""

from __future__ import annotations

from jamsos.kernel.errors import InvalidInput
from jamsos.rules.engine import Engine
from jamsos.rules.lines import (
    I8,
    I32,
    I64,
    MAX_CONTRACT_VALUE,
    MAX_WAGE,
    NO_BASIS,
    NO_RATE,
    RATE_SCALE,
    B,
    BillLines,
    Citation,
    Computation,
    MembershipBatch,
    apply_rate,
    rate_text,
    rate_units,
)
from jamsos.rules.tree import ParameterTree


def compute(batch: MembershipBatch, tree: ParameterTree) -> Computation:
    """Bill lines for every membership in ``batch`` under the rules in force in each row's period; a row that
    breaks a rule is rejected with its problem and makes no line (the others are computed all the same).

    Raises ParameterMissing naming the parameter and month when a rule has no value for a period (a fault of
    the parameter tree, not of a row).
    """
    return Engine(batch, tree).run()


def compute_lines(batch: MembershipBatch, tree: ParameterTree) -> BillLines:
    """Bill lines for a batch that must be good as a whole: InvalidInput naming every bad row and field
    otherwise (the calculator and the checks); ParameterMissing as in ``compute``."""
    done = compute(batch, tree)
    if done.problems:
        raise InvalidInput(done.problems)
    return done.lines


__all__ = [
    "I8",
    "I32",
    "I64",
    "MAX_CONTRACT_VALUE",
    "MAX_WAGE",
    "NO_BASIS",
    "NO_RATE",
    "RATE_SCALE",
    "B",
    "BillLines",
    "Citation",
    "Computation",
    "MembershipBatch",
    "apply_rate",
    "compute",
    "compute_lines",
    "rate_text",
    "rate_units",
]
