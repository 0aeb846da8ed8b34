"""The audit log: entries appended with their MAC, sealed into a chain keyed with the audit key, verified in
full or from a keyed checkpoint, and browsed. Append-only: the database's trigger refuses every change but the
sealing, and the keys live outside the database (docs/security.md)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from jamsos.auth import domain as d
from jamsos.auth import tables as t
from jamsos.kernel.errors import DomainError, FieldProblem, InvalidInput


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
