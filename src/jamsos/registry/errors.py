"""Registry errors, each with a stable code mapped at the edges."""

from __future__ import annotations

from jamsos.kernel.errors import DomainError


class DuplicateNik(DomainError):
    code = "duplicate_nik"


class DuplicateMembership(DomainError):
    code = "duplicate_membership"


class ReferenceMissing(DomainError):
    code = "reference_missing"


class RequestDecided(DomainError):
    code = "request_decided"
