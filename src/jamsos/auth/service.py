"""Users, logins with lockout, API tokens, and the audit log (append-only, hash-chained)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from dataclasses import dataclass, replace
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


# ---- audit log ----------------------------------------------------------------------------------------


def record(
    session: Session,
    *,
    secret: bytes,
    actor: d.Principal | str,
    action: str,
    entity: str,
    at: dt.datetime,
    source: str,
    key: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry to the audit log, in the caller's transaction, with its MAC under the audit key
    (``secret``). ``key`` names the record; for a person it is a pseudonym (``kernel.pseudonym``), never the NIK.
    The append takes no lock: ``seal`` chains the entry a moment later (a request never waits for another
    request's audit entry)."""
    if action not in d.ACTIONS:
        raise ValueError(f"audit action {action!r} is not in auth.domain.ACTIONS")
    who, role = (actor.username, actor.role) if isinstance(actor, d.Principal) else (actor, "operator")
    row = {
        "at": at,
        "actor": who[:60],
        "role": role,
        "action": action,
        "entity": entity,
        "entity_key": None if key is None else key[:80],  # a label (a file's name may be longer): bounded
        "source": source[:80],
        "detail": json.dumps(detail or {}, sort_keys=True, default=str),
    }
    session.execute(insert(t.audit_log).values(**row, mac=d.entry_mac(secret, _entry(row))))


_FIELDS = ("actor", "role", "action", "entity", "entity_key", "source", "detail")


def _entry(r: Any) -> dict[str, Any]:
    entry = {k: r[k] for k in _FIELDS}
    entry["at"] = r["at"].isoformat()
    return entry


def _authentic(secret: bytes, r: Any) -> bool:
    return r["mac"] is not None and hmac.compare_digest(str(r["mac"]), d.entry_mac(secret, _entry(r)))


def seal(session: Session, *, secret: bytes, limit: int = 10_000) -> int:
    """Chain the entries not sealed yet, by id: each gets the next position (``seq``), the hash of the entry
    before it and its own keyed hash (``domain.entry_hash``), and the head moves to the last, with its MAC. One
    sealer at a time: the head's row lock, held to the caller's commit. An entry committed late (a lower id after
    a higher one was sealed) is sealed in the next round, at the next position: nothing committed is ever left
    out. An entry whose MAC is wrong (written by someone other than jamsos) is never sealed; ``verify`` names it.
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
    sealed = []
    for r in pending:
        if not _authentic(secret, r):
            continue
        seq += 1
        digest = d.entry_hash(secret, prev, _entry(r))
        sealed.append({"entry_id": r["id"], "s": seq, "p": prev, "h": digest})
        prev = digest
    if not sealed:
        return 0
    session.connection().execute(
        update(a)
        .where(a.c.id == bindparam("entry_id"))
        .values(seq=bindparam("s"), prev_hash=bindparam("p"), hash=bindparam("h")),
        sealed,
    )
    session.execute(
        update(head).where(head.c.id == 1).values(last_hash=prev, last_seq=seq, head_mac=d.head_mac(secret, seq, prev))
    )
    return len(sealed)


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    ok: bool
    first_bad_id: int | None
    reason: str
    pending: int = 0
    forged: int = 0
    head_seq: int = 0
    head_hash: str = d.GENESIS
    checked_at: dt.datetime | None = None

    @property
    def head(self) -> str:
        """The head as printed into each backup and given back to ``verify --expect-head``: ``SEQ:HASH``."""
        return f"{self.head_seq}:{self.head_hash}"

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "pending": self.pending,
            "forged": self.forged,
            "head": self.head,
            "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
        }


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` (as printed by a backup) as a position and a hash."""
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidInput([FieldProblem("expect_head", "must be SEQ:HASH as printed by jamsos db backup", value=text)])
    return int(seq), digest


def _walk(session: Session, secret: bytes, *, after: int, prev: str, count: int) -> ChainCheck:
    """The chain recomputed from position ``after`` (whose hash is ``prev``) to the head. The head is read first,
    and the entries up to it: a sealer moving the head meanwhile (another server process) is not a break."""
    a = t.audit_log
    head = session.execute(
        select(t.audit_head.c.last_hash, t.audit_head.c.last_seq, t.audit_head.c.head_mac).where(t.audit_head.c.id == 1)
    ).first()
    last = int(head[1]) if head is not None else 0
    keyed = False
    entries = select(a).where(a.c.seq > after, a.c.seq <= last).order_by(a.c.seq)
    for r in session.execute(entries).mappings():
        count += 1
        if r["prev_hash"] != prev:
            return ChainCheck(count, False, int(r["id"]), "does not link to the entry before it")
        entry = _entry(r)
        if r["mac"] is None:  # sealed before revision 0004, unkeyed: only before the first keyed entry
            if keyed or d.legacy_hash(prev, entry) != r["hash"]:
                return ChainCheck(count, False, int(r["id"]), "its content does not match its hash")
        else:
            keyed = True
            if not _authentic(secret, r) or not hmac.compare_digest(str(r["hash"]), d.entry_hash(secret, prev, entry)):
                return ChainCheck(count, False, int(r["id"]), "its content does not match its hash")
        prev = r["hash"]
        after = int(r["seq"])
    if head is None or head[0] != prev or int(head[1]) != after:
        return ChainCheck(count, False, None, "entries after the last one were removed, or the head was changed")
    if (head[2] is None and keyed) or (head[2] is not None and head[2] != d.head_mac(secret, after, prev)):
        return ChainCheck(count, False, None, "the head was changed by hand")
    return ChainCheck(count, True, None, "", head_seq=after, head_hash=prev)


def _unsealed(session: Session, secret: bytes) -> tuple[int, int, int | None]:
    """(pending, forged, first forged id) among the entries not sealed yet."""
    a = t.audit_log
    pending = forged = 0
    first = None
    for r in session.execute(select(a).where(a.c.seq.is_(None)).order_by(a.c.id)).mappings():
        if _authentic(secret, r):
            pending += 1
        else:
            forged += 1
            first = first or int(r["id"])
    return pending, forged, first


def verify(session: Session, *, secret: bytes, expect_head: str | None = None) -> ChainCheck:
    """Recompute the whole chain from its start, in sealed order: every entry's keyed hash and MAC, its link to
    the one before, and the head's MAC. ``expect_head`` (``SEQ:HASH`` as printed into a backup) must be on the
    chain: entries removed from the end and the head moved back with them are found too. ``pending`` counts the
    entries not sealed yet (the sealer runs about every second); ``forged`` the rows jamsos did not write."""
    check = _walk(session, secret, after=0, prev=d.GENESIS, count=0)
    pending, forged, first_forged = _unsealed(session, secret)
    if check.ok and forged:
        check = replace(check, ok=False, first_bad_id=first_forged, reason="written into the table, not by jamsos")
    if check.ok and expect_head:
        seq, digest = parse_head(expect_head)
        found = session.scalar(select(t.audit_log.c.hash).where(t.audit_log.c.seq == seq))
        if found != digest and not (seq == 0 and digest == d.GENESIS):
            check = replace(check, ok=False, reason=f"the head {seq}:{digest[:12]}… expected is not on the chain")
    return replace(check, pending=pending, forged=forged)


def checkpoint(session: Session, *, secret: bytes, at: dt.datetime) -> ChainCheck:
    """Verify the chain from the last checkpoint to the head and move the checkpoint there: what the sealer does
    after each round, so verifying never recomputes a long chain inside a request. A checkpoint whose MAC does not
    hold (moved by hand) is not trusted: the chain is then verified from its start."""
    cp = t.audit_checkpoint
    # one checkpointer at a time (every server process runs one): the row is held to the caller's commit
    row = session.execute(select(cp).where(cp.c.id == 1).with_for_update()).mappings().first()
    if row is not None and row["ok"] and row["mac"] == d.checkpoint_mac(secret, row["seq"], row["hash"], True):
        count = int(row["seq"])
        check = _walk(session, secret, after=int(row["seq"]), prev=str(row["hash"]), count=count)
    else:
        check = _walk(session, secret, after=0, prev=d.GENESIS, count=0)
    pending, forged, first_forged = _unsealed(session, secret)
    if check.ok and forged:
        check = replace(check, ok=False, first_bad_id=first_forged, reason="written into the table, not by jamsos")
    check = replace(check, pending=pending, forged=forged, checked_at=at)
    seq, digest = (check.head_seq, check.head_hash) if check.ok else (0, d.GENESIS)
    values = {
        "seq": seq,
        "hash": digest,
        "checked_at": at,
        "ok": check.ok,
        "reason": check.reason[:200],
        "first_bad_id": check.first_bad_id,
        "mac": d.checkpoint_mac(secret, seq, digest, check.ok),
    }
    if row is None:
        session.execute(insert(cp).values(id=1, **values))
    else:
        session.execute(update(cp).where(cp.c.id == 1).values(**values))
    return check


def head(session: Session) -> str:
    """The sealed head as ``SEQ:HASH`` (printed into each backup)."""
    found = session.execute(
        select(t.audit_head.c.last_seq, t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)
    ).first()
    return f"{found[0]}:{found[1]}" if found else f"0:{d.GENESIS}"


def last_check(session: Session) -> dict[str, Any] | None:
    """The latest checkpoint as the administration page shows it (no recomputation)."""
    cp = t.audit_checkpoint
    row = session.execute(select(cp).where(cp.c.id == 1)).mappings().first()
    pending = int(session.scalar(select(func.count()).select_from(t.audit_log).where(t.audit_log.c.seq.is_(None))) or 0)
    if row is None:
        return None
    return {**dict(row), "pending": pending}


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
