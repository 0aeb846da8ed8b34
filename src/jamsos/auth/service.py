"""Users, logins with lockout, API tokens, and the audit log (append-only, hash-chained)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from jamsos.auth import domain as d
from jamsos.auth import tables as t
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput, NotFound
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
    if len(password) < 10:
        problems.append(FieldProblem("password", "needs at least 10 characters"))
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


def set_active(session: Session, *, username: str, active: bool) -> None:
    done = session.execute(
        update(t.app_user)
        .where(t.app_user.c.username == username)
        .values(active=active, failed_logins=0, locked_until=None)
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no user {username}", username=username)


def list_users(session: Session) -> list[dict[str, Any]]:
    u = t.app_user
    cols = [u.c.username, u.c.role, u.c.kanwil_code, u.c.branch_code, u.c.npp, u.c.nik, u.c.active, u.c.locked_until]
    return [dict(r) for r in session.execute(select(*cols).order_by(u.c.username)).mappings()]


def create_token(session: Session, *, username: str, name: str, created_at: dt.datetime) -> str:
    """A new API token (shown once; only its hash is kept)."""
    user_id = session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username))
    if user_id is None:
        raise NotFound(f"no user {username}", username=username)
    token = "jms_" + secrets.token_urlsafe(32)
    session.execute(
        insert(t.api_token).values(user_id=user_id, name=name, token_hash=d.token_hash(token), created_at=created_at)
    )
    return token


def revoke_token(session: Session, *, username: str, name: str, at: dt.datetime) -> int:
    user_id = session.scalar(select(t.app_user.c.id).where(t.app_user.c.username == username))
    done = session.execute(
        update(t.api_token)
        .where(t.api_token.c.user_id == user_id, t.api_token.c.name == name, t.api_token.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def principal_for_token(session: Session, token: str) -> d.Principal:
    tok, u = t.api_token, t.app_user
    row = session.execute(
        select(u)
        .join(tok, tok.c.user_id == u.c.id)
        .where(tok.c.token_hash == d.token_hash(token), tok.c.revoked_at.is_(None), u.c.active.is_(True))
    ).first()
    if row is None:
        raise d.NotAuthenticated("unknown or revoked API token")
    return _principal(session, row)


# ---- audit log ----------------------------------------------------------------------------------------


def record(
    session: Session,
    *,
    actor: d.Principal | str,
    action: str,
    entity: str,
    at: dt.datetime,
    source: str,
    key: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry to the audit log, in the caller's transaction. ``key`` names the record; for a person
    it is a pseudonym (``kernel.pseudonym``), never the NIK. The append takes no lock: ``seal`` chains the
    entry a moment later (a request never waits for another request's audit entry)."""
    if action not in d.ACTIONS:
        raise ValueError(f"audit action {action!r} is not in auth.domain.ACTIONS")
    who, role = (actor.username, actor.role) if isinstance(actor, d.Principal) else (actor, "operator")
    session.execute(
        insert(t.audit_log).values(
            at=at,
            actor=who,
            role=role,
            action=action,
            entity=entity,
            entity_key=None if key is None else key[:80],  # a label (a file's name may be longer): bounded
            source=source[:80],
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
        )
    )


_FIELDS = ("actor", "role", "action", "entity", "entity_key", "source", "detail")


def _entry(r: Any) -> dict[str, Any]:
    entry = {k: r[k] for k in _FIELDS}
    entry["at"] = r["at"].isoformat()
    return entry


def seal(session: Session, *, limit: int = 10_000) -> int:
    """Chain the entries not sealed yet, by id: each gets the next position (``seq``), the hash of the entry
    before it and its own hash (``domain.entry_hash``), and the head moves to the last. One sealer at a time:
    the head's row lock, held to the caller's commit. An entry committed late (a lower id after a higher one
    was sealed) is sealed in the next round, at the next position: nothing committed is ever left out.
    Returns the number sealed (at most ``limit`` a call)."""
    head, a = t.audit_head, t.audit_log
    row = session.execute(
        update(head)
        .where(head.c.id == 1)
        .values(last_hash=head.c.last_hash)
        .returning(head.c.last_hash, head.c.last_seq)
    ).first()
    if row is None:
        raise DomainError("the audit log is not initialised (run jamsos db upgrade)")
    prev, seq = str(row[0]), int(row[1])
    pending = session.execute(select(a).where(a.c.seq.is_(None)).order_by(a.c.id).limit(limit)).mappings().all()
    if not pending:
        return 0
    sealed = []
    for r in pending:
        seq += 1
        digest = d.entry_hash(prev, _entry(r))
        sealed.append({"entry_id": r["id"], "s": seq, "p": prev, "h": digest})
        prev = digest
    session.connection().execute(
        update(a)
        .where(a.c.id == bindparam("entry_id"))
        .values(seq=bindparam("s"), prev_hash=bindparam("p"), hash=bindparam("h")),
        sealed,
    )
    session.execute(update(head).where(head.c.id == 1).values(last_hash=prev, last_seq=seq))
    return len(sealed)


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    ok: bool
    first_bad_id: int | None
    reason: str
    pending: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "pending": self.pending,
        }


def verify(session: Session) -> ChainCheck:
    """Recompute the chain from its start, in sealed order: every entry's hash, its link to the one before,
    and the head. ``pending`` counts the entries not sealed yet (the sealer runs about every second); they
    are guarded by the database's append-only trigger, not yet by the chain."""
    prev = d.GENESIS
    count = 0
    a = t.audit_log
    for r in session.execute(select(a).where(a.c.seq.is_not(None)).order_by(a.c.seq)).mappings():
        count += 1
        if r["prev_hash"] != prev:
            return ChainCheck(count, False, int(r["id"]), "does not link to the entry before it")
        if d.entry_hash(prev, _entry(r)) != r["hash"]:
            return ChainCheck(count, False, int(r["id"]), "its content does not match its hash")
        prev = r["hash"]
    pending = int(session.scalar(select(func.count()).select_from(a).where(a.c.seq.is_(None))) or 0)
    head = session.scalar(select(t.audit_head.c.last_hash).where(t.audit_head.c.id == 1))
    if head != prev:
        return ChainCheck(
            count, False, None, "entries after the last one were removed, or the head was changed", pending
        )
    return ChainCheck(count, True, None, "", pending)


def entries(
    session: Session, *, limit: int = 200, before_id: int | None = None, actor: str | None = None
) -> list[dict[str, Any]]:
    a = t.audit_log
    q = select(a.c.id, a.c.at, a.c.actor, a.c.role, a.c.action, a.c.entity, a.c.entity_key, a.c.source, a.c.detail)
    if before_id is not None:
        q = q.where(a.c.id < before_id)
    if actor:
        q = q.where(a.c.actor == actor)
    return [dict(r) for r in session.execute(q.order_by(a.c.id.desc()).limit(limit)).mappings()]
