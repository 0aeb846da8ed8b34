"""Base domain errors with a stable code; edges map codes to exit codes and HTTP statuses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class DomainError(Exception):
    """A business-rule error. ``code`` is stable and mapped at the edges, never parsed."""

    code: str = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field of one input row (row is 1-based, None for a single input)."""

    field: str
    message: str
    row: int | None = None
    value: object = dataclasses.field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        shown = f" (got {self.value!r})" if self.value is not None else ""
        return f"{where}{self.field}: {self.message}{shown}"


class NotFound(DomainError):
    """Something named by its identifier (NIK, NPP, run, payment reference, account...) does not exist."""

    code = "not_found"


class InvalidInput(DomainError):
    """Input rejected as a whole; carries every problem found, each naming its field (and row)."""

    code = "invalid_input"

    def __init__(self, problems: list[FieldProblem], *, limit: int = 20) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:limit])
        more = f"; … and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(f"{len(problems)} problem(s): {shown}{more}")
