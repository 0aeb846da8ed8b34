"""Base domain errors with a stable code; edges map codes to exit codes and HTTP statuses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
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


class Forbidden(DomainError):
    """The actor may not do this at all (a record outside their scope is ``NotFound`` instead, as if absent)."""

    code = "forbidden"


# Problems an error keeps: a file with a million bad rows is refused with the first thousand and the count.
MAX_PROBLEMS = 1000


class Problems(list[FieldProblem]):
    """Problems as a file's rows are checked: the first ``MAX_PROBLEMS`` are kept and all are counted, so a
    million bad rows cost a thousand problems of memory."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def append(self, problem: FieldProblem) -> None:
        self.total += 1
        if len(self) < MAX_PROBLEMS:
            super().append(problem)

    def extend(self, problems: Iterable[FieldProblem]) -> None:
        for p in problems:
            self.append(p)

    def __iadd__(self, problems: Iterable[FieldProblem]) -> Problems:  # type: ignore[override,misc]
        self.extend(problems)
        return self


class InvalidInput(DomainError):
    """Input rejected as a whole; carries the problems found (the first ``MAX_PROBLEMS`` of ``total``), each
    naming its field (and row)."""

    code = "invalid_input"

    def __init__(self, problems: list[FieldProblem], *, limit: int = 20, total: int | None = None) -> None:
        self.total = max(total or 0, getattr(problems, "total", 0), len(problems))
        self.problems = problems[:MAX_PROBLEMS]
        shown = "; ".join(str(p) for p in problems[:limit])
        more = f"; … and {self.total - limit} more" if self.total > limit else ""
        super().__init__(f"{self.total} problem(s): {shown}{more}")
