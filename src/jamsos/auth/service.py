"""Users, logins with lockout, web sessions and API tokens; the audit log lives in ``auth.audit``."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from jamsos.auth import domain as d
from jamsos.auth import tables as t

# The audit log is its own module (auth.audit); its use cases are reached through this one too (auth.record ...).
from jamsos.auth.audit import ChainCheck as ChainCheck
from jamsos.auth.audit import checkpoint as checkpoint
from jamsos.auth.audit import entries as entries
from jamsos.auth.audit import head as head
from jamsos.auth.audit import last_check as last_check
from jamsos.auth.audit import parse_head as parse_head
from jamsos.auth.audit import record as record
from jamsos.auth.audit import seal as seal
from jamsos.auth.audit import verify as verify
from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound
from jamsos.registry import service as registry
from jamsos.registry.domain import EVERYTHING, Scope


@dataclass(frozen=True)
class LoginPolicy:
    """After ``max_failures`` wrong passwords in a row an account is locked for ``lockout`` (settings)."""

    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    created_at: dt.datetime,
    kanwil: str | None = None,
    branch: str | None = None,
    npp: str | None = None,
    nik: str | None = None,
) -> int:
    """A user with a role and the scope that role needs (a Kanwil, a branch, an employer's NPP or a NIK)."""
    problems: list[FieldProblem] = []
    if role not in d.ROLES:
        problems.append(FieldProblem("role", f"must be one of {', '.join(d.ROLES)}", value=role))
    needs = {
        "kanwil": ("kanwil", kanwil),
        "branch": ("branch", branch),
        "employer": ("npp", npp),
        "worker": ("nik", nik),
    }
    if role in needs and not needs[role][1]:
        problems.append(FieldProblem(needs[role][0], f"a {role} user needs it"))
    if not username or len(username) > 60:
        problems.append(FieldProblem("username", "must be 1 to 60 characters", value=username))
    weak = d.password_problem(password, username)
    if weak:
        problems.append(FieldProblem("password", weak))
    if session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username)) is not None:
        problems.append(FieldProblem("username", "is taken", value=username))
    if problems:
        raise InvalidInput(problems)
    if role == "kanwil":
        registry.branches_of_kanwil(session, str(kanwil))  # it must exist
    if role == "branch":
        registry.branch_kanwil(session, str(branch))  # it must exist
    if role == "employer":
        registry.employer_id_of(session, str(npp))
    if role == "worker":
        registry.worker_of(session, str(nik))
    return int(
        session.execute(
            insert(t.app_user)
            .values(
                username=username,
                password_hash=d.hash_password(password),
                role=role,
                kanwil_code=kanwil if role == "kanwil" else None,
                branch_code=branch if role == "branch" else None,
                npp=npp if role == "employer" else None,
                nik=nik if role == "worker" else None,
                active=True,
                failed_logins=0,
                created_at=created_at,
            )
            .returning(t.app_user.c.id)
        ).scalar_one()
    )


def _principal(session: Session, row: Any) -> d.Principal:
    scope: Scope
    if row.role in ("admin", "head_office"):
        scope = EVERYTHING
    elif row.role == "kanwil":
        scope = Scope(branches=registry.branches_of_kanwil(session, row.kanwil_code))
    elif row.role == "branch":
        scope = Scope(branches=frozenset((row.branch_code,)))
    elif row.role == "employer":
        scope = Scope(npp=row.npp)
    else:
        scope = Scope(nik=row.nik)
    return d.Principal(row.username, row.role, scope, row.kanwil_code, row.branch_code, row.npp, row.nik)


def principal(session: Session, username: str, *, at: dt.datetime | None = None) -> d.Principal:
    """The user acting, checked on every request: active, and (given ``at``) not locked out."""
    row = session.execute(select(t.app_user).where(t.app_user.c.username == username)).first()
    if row is None or not row.active:
        raise d.NotAuthenticated("no such active user")
    if at is not None and row.locked_until is not None and row.locked_until > at:
        raise d.NotAuthenticated("the account is locked; log in again later")
    return _principal(session, row)


def authenticate(
    session: Session, *, username: str, password: str, at: dt.datetime, policy: LoginPolicy = LoginPolicy()
) -> d.Principal:
    """Check a password. Every attempt is counted before it is checked, in one atomic update that holds the
    user's row until the caller commits: concurrent attempts queue on it and each sees the count the others
    left, so ``policy.max_failures`` wrong passwords lock the account for ``policy.lockout`` however they
    arrive. An unknown user, a wrong password and a locked account get the same answer."""
    u = t.app_user
    row = session.execute(select(u.c.id, u.c.active).where(u.c.username == username)).first()
    if row is None or not row.active:
        d.verify_password(_DUMMY, password)  # spend the same time as for a real user
        raise d.login_failed(policy.max_failures, policy.lockout.total_seconds() / 60)
    claimed = session.execute(
        update(u)
        .where(u.c.id == row.id, or_(u.c.locked_until.is_(None), u.c.locked_until <= at))
        .values(failed_logins=u.c.failed_logins + 1, locked_until=None)
        .returning(u.c.failed_logins, u.c.password_hash)
    ).first()
    if claimed is None:  # locked: the password is not even checked
        d.verify_password(_DUMMY, password)
        raise d.login_failed(policy.max_failures, policy.lockout.total_seconds() / 60)
    attempts, stored = int(claimed[0]), str(claimed[1])
    if attempts <= policy.max_failures and d.verify_password(stored, password):
        session.execute(update(u).where(u.c.id == row.id).values(failed_logins=0, locked_until=None))
        return principal(session, username)
    if attempts >= policy.max_failures:
        session.execute(update(u).where(u.c.id == row.id).values(failed_logins=0, locked_until=at + policy.lockout))
    raise d.login_failed(policy.max_failures, policy.lockout.total_seconds() / 60)


_DUMMY = d.hash_password("not-a-real-password")


def known_user(session: Session, username: str) -> bool:
    """Whether a name is an account's (the audit log names a failed login's account, never what else was typed)."""
    return session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username)) is not None


def set_active(session: Session, *, username: str, active: bool, at: dt.datetime | None = None) -> None:
    """Lock (``active=False``) or unlock a user; locking ends their web sessions too."""
    done = session.execute(
        update(t.app_user)
        .where(t.app_user.c.username == username)
        .values(active=active, failed_logins=0, locked_until=None)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no user {username}", username=username)
    if not active and at is not None:
        user_id = select(t.app_user.c.id).where(t.app_user.c.username == username).scalar_subquery()
        ws = t.web_session
        session.execute(update(ws).where(ws.c.user_id == user_id, ws.c.revoked_at.is_(None)).values(revoked_at=at))


def list_users(session: Session) -> list[dict[str, Any]]:
    u = t.app_user
    cols = [u.c.username, u.c.role, u.c.kanwil_code, u.c.branch_code, u.c.npp, u.c.nik, u.c.active, u.c.locked_until]
    return [dict(r) for r in session.execute(select(*cols).order_by(u.c.username)).mappings()]


TOKEN_DAYS = 90  # an API token's lifetime unless another is asked for (``jamsos token create --days``)


def create_token(session: Session, *, username: str, name: str, created_at: dt.datetime, days: int = TOKEN_DAYS) -> str:
    """A new API token valid for ``days`` (shown once; only its hash is kept)."""
    return _new_token(session, username=username, name=name, created_at=created_at, days=days)[0]


def _new_token(session: Session, *, username: str, name: str, created_at: dt.datetime, days: int) -> tuple[str, int]:
    user_id = session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username))
    if user_id is None:
        raise NotFound(f"no user {username}", username=username)
    if not 1 <= days <= 366:
        raise InvalidInput(
            [FieldProblem("days", "a token lives 1 to 366 days; rotate it before it expires", value=days)]
        )
    if not name or len(name) > 60:
        raise InvalidInput([FieldProblem("name", "must be 1 to 60 characters", value=name)])
    token = "jms_" + secrets.token_urlsafe(32)
    token_id = session.execute(
        insert(t.api_token)
        .values(
            user_id=user_id,
            name=name,
            token_hash=d.token_hash(token),
            created_at=created_at,
            expires_at=created_at + dt.timedelta(days=days),
        )
        .returning(t.api_token.c.id)
    ).scalar_one()
    return token, int(token_id)


def rotate_token(session: Session, *, token: str, at: dt.datetime, days: int = TOKEN_DAYS) -> str:
    """Replace a live token by a new one of the same name and user: the old one stops at once (an ETL job calls
    this with its own token before it expires, and keeps the answer)."""
    tok, u = t.api_token, t.app_user
    row = session.execute(
        select(tok.c.id, tok.c.name, u.c.username)
        .join(u, u.c.id == tok.c.user_id)
        .where(tok.c.token_hash == d.token_hash(token), tok.c.revoked_at.is_(None), tok.c.expires_at > at)
        .with_for_update()
    ).first()
    if row is None:
        raise d.NotAuthenticated("unknown, revoked or expired API token")
    new, new_id = _new_token(session, username=row.username, name=row.name, created_at=at, days=days)
    done = session.execute(
        update(tok).where(tok.c.id == row.id, tok.c.revoked_at.is_(None)).values(revoked_at=at, replaced_by=new_id)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise d.NotAuthenticated("the token was rotated or revoked just now")
    return new


def revoke_token(session: Session, *, username: str, name: str, at: dt.datetime) -> int:
    user_id = session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username))
    done = session.execute(
        update(t.api_token)
        .where(t.api_token.c.user_id == user_id, t.api_token.c.name == name, t.api_token.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def principal_for_token(session: Session, token: str, *, at: dt.datetime) -> d.Principal:
    """The user of a live API token: not revoked, not expired, the user active."""
    tok, u = t.api_token, t.app_user
    row = session.execute(
        select(u)
        .join(tok, tok.c.user_id == u.c.id)
        .where(
            tok.c.token_hash == d.token_hash(token),
            tok.c.revoked_at.is_(None),
            tok.c.expires_at > at,
            u.c.active.is_(True),
        )
    ).first()
    if row is None:
        raise d.NotAuthenticated("unknown, revoked or expired API token")
    return _principal(session, row)


@dataclass(frozen=True)
class SessionPolicy:
    """A web session ends ``lifetime`` after the login whatever happens, or after ``idle`` without a request."""

    lifetime: dt.timedelta = dt.timedelta(hours=8)
    idle: dt.timedelta = dt.timedelta(hours=1)


def open_session(session: Session, *, username: str, at: dt.datetime, policy: SessionPolicy) -> str:
    """A server-side session for a user who just logged in: the returned token goes in the (signed) cookie, only
    its hash is kept, so the row ends it (logout, lock, lifetime) wherever the cookie was copied."""
    user_id = session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username))
    if user_id is None:
        raise d.NotAuthenticated("no such user")
    token = secrets.token_urlsafe(32)
    session.execute(
        insert(t.web_session).values(
            id=d.token_hash(token), user_id=user_id, created_at=at, expires_at=at + policy.lifetime, last_seen=at
        )
    )
    return token


def principal_for_session(session: Session, token: str, *, at: dt.datetime, policy: SessionPolicy) -> d.Principal:
    """The user of a live web session (not ended, not past its lifetime or idle time; the user active and not
    locked out). A request a minute or more after the last one moves ``last_seen``."""
    ws, u = t.web_session, t.app_user
    row = session.execute(
        select(u, ws.c.last_seen.label("session_seen"))
        .join(ws, ws.c.user_id == u.c.id)
        .where(ws.c.id == d.token_hash(token), ws.c.revoked_at.is_(None), ws.c.expires_at > at)
    ).first()
    if row is None or row.session_seen + policy.idle < at:
        raise d.NotAuthenticated("the session has ended; log in again")
    if not row.active or (row.locked_until is not None and row.locked_until > at):
        raise d.NotAuthenticated("the account is locked; log in again later")
    if at - row.session_seen >= dt.timedelta(minutes=1):
        session.execute(update(ws).where(ws.c.id == d.token_hash(token)).values(last_seen=at))
    return _principal(session, row)


def close_session(session: Session, *, token: str, at: dt.datetime) -> None:
    """Logging out: the session ends on the server, not only in this browser."""
    ws = t.web_session
    session.execute(update(ws).where(ws.c.id == d.token_hash(token), ws.c.revoked_at.is_(None)).values(revoked_at=at))
