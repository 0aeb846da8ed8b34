"""Roles, what each may do, whose records each may see, password hashing, pseudonyms and the audit hash.

Pure: no database. The services apply scopes row by row (``registry.domain.Scope``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from jamsos.kernel.errors import DomainError, Forbidden
from jamsos.registry.domain import Scope

ROLES = ("admin", "head_office", "kanwil", "branch", "employer", "worker")
STAFF = ("admin", "head_office", "kanwil", "branch")

# What each role may do. Reads of records are further limited row by row by the role's scope.
PERMISSIONS: dict[str, frozenset[str]] = {
    "steering": frozenset(STAFF),
    "read_worker": frozenset(ROLES),
    "read_employer": frozenset(("admin", "head_office", "kanwil", "branch", "employer")),
    "search": frozenset((*STAFF, "employer")),
    "register_employer": frozenset(("admin", "branch")),
    "change_employer": frozenset(("admin", "branch")),
    "register_worker": frozenset(("admin", "branch")),
    "enrol": frozenset(("admin", "branch")),
    "correct_membership": frozenset(("admin", "branch")),
    "read_membership": frozenset(("admin", "head_office", "kanwil", "branch", "employer")),
    "register_sponsor": frozenset(("admin", "branch")),
    "register_project": frozenset(("admin", "branch")),
    "registry_import": frozenset(("admin",)),  # whole files: the services need an unlimited scope
    "duplicates": frozenset(("admin", "head_office")),
    "declare": frozenset(("admin", "branch", "employer")),
    "billing_run": frozenset(("admin", "head_office")),
    "billing_decide": frozenset(("admin", "head_office")),
    "billing_read": frozenset(("admin", "head_office", "kanwil", "branch")),
    "payment_import": frozenset(("admin", "head_office")),
    "payment_reverse": frozenset(("admin", "head_office")),
    "statement": frozenset(ROLES),
    "arrears": frozenset(STAFF),
    "active_counts": frozenset(STAFF),
    "reference": frozenset(("admin",)),
    "export": frozenset(("admin",)),
    "users": frozenset(("admin",)),
    "audit": frozenset(("admin",)),
    "backup": frozenset(("admin",)),
}
# Every action the audit log may name: one name per action, whichever edge (API, web, CLI) it came through.
ACTIONS = frozenset(
    (
        "login", "login_failed", "logout", "refused",
        "create_user", "lock_user", "unlock_user", "create_token", "revoke_token", "rotate_token",
        "register_employer", "change_employer", "register_worker", "register_sponsor", "register_project",
        "enrol", "correct_membership", "exit_membership", "registry_import",
        "request_transfer", "approve_transfer", "reject_transfer", "read_transfers",
        "declare_wages", "run_billing", "approve_billing_run", "reject_billing_run",
        "import_payments", "reverse_payment", "load_reference", "export", "backup", "restore",
        "read_worker", "read_employer", "read_membership", "read_duplicates", "read_billing_run",
        "read_statement", "read_arrears", "search",
    )
)  # fmt: skip
# Roles that see NIKs and names in full (they serve individual cases); the others see them masked.
UNMASKED = frozenset(("admin", "branch", "employer", "worker"))


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class LoginFailed(DomainError):
    code = "login_failed"


def login_failed(max_failures: int, lockout_minutes: float) -> LoginFailed:
    """One answer for an unknown user, a wrong password and a locked account: it tells nobody which names exist."""
    return LoginFailed(
        f"wrong user name or password (after {max_failures} wrong passwords an account waits "
        f"{lockout_minutes:g} minutes)"
    )


@dataclass(frozen=True)
class Principal:
    """Who is acting: the user, the role and the records the role reaches."""

    username: str
    role: str
    scope: Scope
    kanwil: str | None = None
    branch: str | None = None
    npp: str | None = None
    nik: str | None = None

    def allow(self, action: str) -> None:
        if self.role not in PERMISSIONS[action]:
            raise Forbidden(f"role {self.role} may not {action.replace('_', ' ')}")

    def may(self, action: str) -> bool:
        return self.role in PERMISSIONS[action]

    @property
    def unmasked(self) -> bool:
        return self.role in UNMASKED


_hasher = PasswordHasher()


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password will not do (None when it will): at least 10 characters, and not easy to guess as zxcvbn
    judges it (common passwords, words and names, keyboard patterns, dates, the user's own name): score 3 of 4."""
    if len(password) < 10:
        return "needs at least 10 characters"
    if len(password) > 200:
        return "at most 200 characters"
    judged = zxcvbn(password[:100], user_inputs=[username] if username else [])
    if int(judged["score"]) < 3:
        warning = judged["feedback"].get("warning") or "it is too easy to guess"
        return f"is too easy to guess ({warning.rstrip('.')}); use a few unrelated words or a longer phrase"
    return None


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise DomainError("a password needs at least 10 characters")
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """API tokens are stored as their SHA-256 (they are long random strings, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def mask_nik(nik: str | None) -> str | None:
    return None if nik is None else nik[:4] + "*" * 8 + nik[-4:]


def mask_name(name: str | None) -> str | None:
    if name is None:
        return None
    return " ".join(part[:1] + "*" * max(len(part) - 1, 2) for part in name.split())


GENESIS = "0" * 64


def _body(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)


def _mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def entry_mac(secret: bytes, entry: dict[str, Any]) -> str:
    """Set when an entry is appended: only who holds the audit key (jamsos, not the database) can make one, so a
    row written into the table by other means is found and never sealed."""
    return _mac(secret, "entry|" + _body(entry))


def entry_hash(secret: bytes, prev_hash: str, entry: dict[str, Any]) -> str:
    """The chain: each entry's hash covers the previous hash and the entry's own fields, keyed with the audit key
    (kept outside the database), so whoever can write to the database still cannot rewrite the chain."""
    return _mac(secret, prev_hash + "|" + _body(entry))


def legacy_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """The unkeyed hash of the entries sealed before revision 0004 (still checked; the first keyed entry pins
    them, as its own hash covers theirs)."""
    return hashlib.sha256((prev_hash + "|" + _body(entry)).encode()).hexdigest()


def head_mac(secret: bytes, seq: int, last_hash: str) -> str:
    """The head's own MAC: moving the head back (hiding entries removed from the end) needs the key."""
    return _mac(secret, f"head|{seq}|{last_hash}")


def checkpoint_mac(secret: bytes, seq: int, last_hash: str, ok: bool) -> str:
    return _mac(secret, f"checkpoint|{seq}|{last_hash}|{ok}")
