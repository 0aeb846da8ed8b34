"""A refusal as every edge shows it: the domain error's code, one headline, and — for bad input — the problems
listed (each naming its row and field, the value as text) with how many there were. The API answers it as JSON,
the web shows it as a table, the command line prints it; all three say the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jamsos.kernel.errors import DomainError, InvalidInput


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    problems: list[dict[str, Any]] = field(default_factory=list)  # the first ``kernel.errors.MAX_PROBLEMS``
    total: int = 0  # how many problems there were (0: not an input error)

    @property
    def invalid_input(self) -> bool:
        return bool(self.total)


def refusal(exc: DomainError) -> Refusal:
    if isinstance(exc, InvalidInput):
        rows = [
            {"row": p.row, "field": p.field, "message": p.message, "value": None if p.value is None else str(p.value)}
            for p in exc.problems
        ]
        return Refusal(exc.code, f"{exc.total} problem(s); nothing was applied", rows, exc.total)
    return Refusal(exc.code, str(exc))
