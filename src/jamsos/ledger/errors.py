"""Ledger errors, each with a stable code mapped at the edges."""

from __future__ import annotations

from jamsos.kernel.errors import DomainError


class RunNotPending(DomainError):
    code = "run_not_pending"


class FourEyes(DomainError):
    code = "four_eyes"


class PaymentConflict(DomainError):
    code = "payment_conflict"
