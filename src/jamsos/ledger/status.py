"""Active status as the ledger knows it: a membership-month counts as paid when its bill is settled by the cut-off."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jamsos.kernel.period import Period
from jamsos.ledger import tables as lt
from jamsos.ledger.repository import approved_run_ids, in_accounts
from jamsos.registry import service as registry
from jamsos.rules import codes as c
from jamsos.rules.deadlines import paid_cutoff
from jamsos.rules.tree import ParameterTree


# ---- active status ---------------------------------------------------------------------------
def active_status(
    session: Session,
    *,
    period: Period,
    tree: ParameterTree,
    known_at: dt.datetime,
    cutoff: dt.date | None = None,
) -> pa.Table:
    """Per membership in force in ``period``: whether it is active, overall and per program.

    A membership is active when approved contribution lines cover the month on the base programs
    (JKK/JKM) and every bill carrying them was settled by the cut-off (DOMAIN §4, ``coverage.*``).
    PU needs the employment to be open; Jakon workers are active through their project's bill; PMI
    through the upfront placement bill for the months it covers. Per-program flags use the same rule.
    """
    cutoff = cutoff or paid_cutoff(period, tree)
    bl = lt.bill_line
    p_ord = period.ordinal
    subject = func.coalesce(bl.c.membership_id, -bl.c.project_id)
    approved = approved_run_ids(known_at=known_at)
    lines = (
        select(subject.label("subject"), bl.c.program, bl.c.bill_id, func.sum(bl.c.amount).label("net"))
        .where(
            bl.c.run_id.in_(approved),
            bl.c.kind == c.CONTRIBUTION,
            bl.c.cover_from <= p_ord,
            bl.c.cover_to >= p_ord,
        )
        .group_by(subject, bl.c.program, bl.c.bill_id)
    )
    line_rows = session.execute(lines).all()
    balances = {
        int(r.id): (int(r.due), int(r.paid))
        for r in session.execute(_paid_by(cutoff, known_at, {r.bill_id for r in line_rows if r.bill_id is not None}))
    }
    subject_mask: dict[int, int] = {}
    subject_unpaid: set[int] = set()
    for r in line_rows:
        if int(r.net) <= 0:
            continue
        bits = c.BIT["jkk"] | c.BIT["jkm"] if r.program == c.JKK_JKM else 1 << int(r.program)
        subject_mask[int(r.subject)] = subject_mask.get(int(r.subject), 0) | bits
        if r.bill_id is not None:
            due, paid = balances.get(int(r.bill_id), (0, 0))
            if paid < due:
                subject_unpaid.add(int(r.subject))
    members = registry.memberships_in_force(session, month=period, known_at=known_at)
    if members.num_rows == 0:
        return _status_table([], [], [], [], [])
    mids = members["membership_id"].to_pylist()
    wids = members["worker_id"].to_pylist()
    segs = members["segment"].to_pylist()
    projs = members["project_id"].to_pylist()
    base = c.program_mask("programs", tree.value("coverage.base_programs", period))
    masks, actives = [], []
    for mid, seg, proj in zip(mids, segs, projs, strict=True):
        subj = -int(proj) if seg == "jakon" else int(mid)
        mask = subject_mask.get(subj, 0)
        paid = subj not in subject_unpaid
        mask = mask if paid else 0
        masks.append(mask)
        actives.append((mask & base) == base)
    return _status_table(mids, wids, segs, masks, actives)


def _status_table(mids: list[Any], wids: list[Any], segs: list[Any], masks: list[int], actives: list[bool]) -> pa.Table:
    m = np.array(masks, dtype=np.int64)
    cols: dict[str, Any] = {
        "membership_id": pa.array(mids, pa.int64()),
        "worker_id": pa.array(wids, pa.int64()),
        "segment": pa.array(segs, pa.string()),
        "active": pa.array(actives, pa.bool_()),
    }
    for name in c.PROGRAMS:
        cols[name] = pa.array(((m & c.BIT[name]) != 0) if len(m) else [], pa.bool_())
    return pa.table(cols)


def _paid_by(cutoff: dt.date, known_at: dt.datetime, bill_ids: set[int]) -> Any:
    bl, al = lt.bill_line, lt.allocation
    due = (
        select(bl.c.bill_id, func.sum(bl.c.amount).label("due"))
        .where(bl.c.run_id.in_(approved_run_ids(known_at=known_at)), bl.c.bill_id.is_not(None))
        .group_by(bl.c.bill_id)
        .subquery()
    )
    paid = (
        select(al.c.bill_id, func.sum(al.c.amount).label("paid"))
        .where(al.c.target == "contribution", al.c.effective_on <= cutoff, al.c.recorded_at <= known_at)
        .group_by(al.c.bill_id)
        .subquery()
    )
    return (
        select(lt.bill.c.id, func.coalesce(due.c.due, 0).label("due"), func.coalesce(paid.c.paid, 0).label("paid"))
        .join(due, due.c.bill_id == lt.bill.c.id, isouter=True)
        .join(paid, paid.c.bill_id == lt.bill.c.id, isouter=True)
        .where(in_accounts(lt.bill.c.id, bill_ids))
    )


def active_counts(
    session: Session, *, period: Period, tree: ParameterTree, known_at: dt.datetime, cutoff: dt.date | None = None
) -> dict[str, Any]:
    """Active persons (counted once on the JKK/JKM base), per segment and per program."""
    status = active_status(session, period=period, tree=tree, known_at=known_at, cutoff=cutoff)
    active = status.filter(status["active"])
    persons = len(set(active["worker_id"].to_pylist()))
    per_segment: dict[str, int] = {}
    for seg in c.SEGMENTS:
        sub = active.filter(pc.equal(active["segment"], seg))
        per_segment[seg] = len(set(sub["worker_id"].to_pylist()))
    per_program = {name: len(set(status.filter(status[name])["worker_id"].to_pylist())) for name in c.PROGRAMS}
    registered = len(set(status["worker_id"].to_pylist()))
    return {
        "period": str(period),
        "cutoff": (cutoff or paid_cutoff(period, tree)).isoformat(),
        "active": persons,
        "in_force": registered,
        "per_segment": per_segment,
        "per_program": per_program,
    }
