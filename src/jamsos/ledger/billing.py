"""The billing run with maker–checker: what is billable in a month, the bill lines the rules compute for it, the
exceptions a checker must see, corrections of earlier runs, and the decision."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from jamsos.infra.bulk import append_partition, bulk_insert
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.ledger import domain as ld
from jamsos.ledger import tables as lt
from jamsos.ledger.declarations import declared_wages
from jamsos.ledger.repository import (
    billed_net,
    bools_of,
    citation_ids,
    codes_of,
    ints_of,
    masked_ints,
    subjects_billed_elsewhere,
)
from jamsos.registry import service as registry
from jamsos.registry.domain import Scope
from jamsos.rules import codes as c
from jamsos.rules import deadlines
from jamsos.rules.formulas import NO_RATE, BillLines, MembershipBatch, compute
from jamsos.rules.tree import ParameterTree

UPFRONT = ("jakon", "pmi")


# ---- billing run -----------------------------------------------------------------------------
@dataclass
class RunSummary:
    """What a billing run did."""

    run_id: int
    period: str
    status: str
    memberships: int
    projects: int
    lines: int
    reversals: int
    exceptions: int
    amount: int
    exception_counts: dict[str, int] = field(default_factory=dict)
    unverified_lines: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _billable(session: Session, period: Period, known_at: dt.datetime) -> pa.Table:
    """Memberships to bill in ``period`` (PU, BPU monthly; PMI once, upfront), with declared wages applied."""
    members = registry.memberships_in_force(session, month=period, known_at=known_at)
    if members.num_rows == 0:
        return members
    members = members.filter(pc.not_equal(members["segment"], "jakon"))
    pmi_done = subjects_billed_elsewhere(session, period, lt.bill_line.c.membership_id)
    if pmi_done:
        keep = pc.invert(
            pc.and_(pc.equal(members["segment"], "pmi"), pc.is_in(members["membership_id"], pa.array(sorted(pmi_done))))
        )
        members = members.filter(keep)
    declared = declared_wages(session, period, known_at)
    if declared.num_rows:
        members = members.join(declared, keys=["worker_id", "employer_id"], join_type="left outer")
        wage = pc.if_else(pc.is_valid(members["declared_wage"]), members["declared_wage"], members["wage"])
        members = members.set_column(members.schema.get_field_index("wage"), "wage", wage)
    return members.sort_by("membership_id")


def _projects(session: Session, period: Period) -> list[Any]:
    """Construction projects started by ``period`` and not billed in another period (upfront, once)."""
    done = subjects_billed_elsewhere(session, period, lt.bill_line.c.project_id)
    rows = registry.projects_started_by(session, month=period)
    return [r for r in rows if r.id not in done]


def _exceptions(members: pa.Table, period: Period, tree: ParameterTree, minimum: dict[str, int]) -> dict[str, Any]:
    """Vectorised exception checks; returns code → boolean mask over ``members``."""
    n = members.num_rows
    seg = codes_of(members["segment"], c.SEGMENTS)
    pu = seg == c.PU
    risk = codes_of(members["risk_class"], c.RISK_CLASSES)
    size = codes_of(members["size_class"], c.EMPLOYER_SIZES)
    wage = ints_of(members["wage"])
    programs = ints_of(members["programs"])
    out: dict[str, Any] = {}
    out["missing_risk_class"] = pu & (risk == c.MISSING)
    out["missing_wage"] = pu & (wage <= 0)
    provinces = members["province_code"].to_pylist()
    floor = np.array([minimum.get(p, 0) if p else 0 for p in provinces], dtype=np.int64) if n else np.zeros(0, np.int64)
    out["wage_below_minimum"] = pu & (wage > 0) & (floor > 0) & (wage < floor)
    required = tree.value("programs.required_by_employer_size", period)
    need = np.zeros(n, dtype=np.int64)
    for i, name in enumerate(c.EMPLOYER_SIZES):
        need[size == i] = c.program_mask("programs", required[name])
    out["program_required_by_size"] = pu & (programs != 0) & ((programs & need) != need)
    out["_unchecked_minimum_wage"] = pu & (floor == 0)
    return out


EXCEPTION_TEXT = {
    "missing_risk_class": "the employer has no JKK risk class (set it, or the business sector)",
    "missing_wage": "no wage for the month (declare it or correct the membership)",
    "wage_below_minimum": "the wage is below the provincial minimum wage",
    "program_required_by_size": "the membership lacks a program the employer's size requires",
}


def run_billing(
    session: Session, *, period: Period, maker: str, tree: ParameterTree, started_at: dt.datetime, scope: Scope
) -> RunSummary:
    """Bill every membership in force in ``period`` through the rules formulas, as a draft run.

    The run computes what should be billed and adds only the difference with what approved runs
    already billed: an unchanged month adds nothing; a changed input adds a reversal and a
    replacement line. Memberships with problems go to the exception list, untouched. A newer run
    supersedes an older draft of the same period. Lines count only after ``approve_run``.
    """
    registry.require_everything(scope, "a billing run")
    if not maker.strip():
        raise InvalidInput([FieldProblem("maker", "who runs the billing must be named")])
    members = _billable(session, period, started_at)
    projects = _projects(session, period)
    n = members.num_rows
    exc_masks = _exceptions(members, period, tree, registry.minimum_wages(session, month=period)) if n else {}
    bad = np.zeros(n, dtype=bool)
    exception_rows: list[dict[str, Any]] = []
    mids = ints_of(members["membership_id"]) if n else np.zeros(0, np.int64)
    for code, mask in exc_masks.items():
        if code.startswith("_"):
            continue
        fresh = mask & ~bad
        exception_rows += [
            {"membership_id": int(m), "project_id": None, "code": code, "message": EXCEPTION_TEXT[code]}
            for m in mids[fresh]
        ]
        bad |= mask
    good = np.flatnonzero(~bad)
    target = _compute(members, good, projects, period, tree, exception_rows)
    run_id = session.execute(
        insert(lt.billing_run)
        .values(
            period=period.ordinal,
            status="draft",
            maker=maker,
            started_at=started_at,
            rules_fingerprint=tree.fingerprint,
            memberships=len(good),
            lines=0,
            exceptions=len(exception_rows),
            amount=0,
        )
        .returning(lt.billing_run.c.id)
    ).scalar_one()
    session.execute(
        update(lt.billing_run)
        .where(
            lt.billing_run.c.period == period.ordinal, lt.billing_run.c.status == "draft", lt.billing_run.c.id != run_id
        )
        .values(status="superseded", decided_at=started_at)
    )
    if exception_rows:
        bulk_insert(
            session,
            lt.billing_exception,
            {
                "run_id": [run_id] * len(exception_rows),
                "membership_id": [r["membership_id"] for r in exception_rows],
                "project_id": [r["project_id"] for r in exception_rows],
                "code": [r["code"] for r in exception_rows],
                "message": [r["message"][:300] for r in exception_rows],
            },
        )
    frozen = np.array(
        [r["membership_id"] for r in exception_rows if r["membership_id"]]
        + [-r["project_id"] for r in exception_rows if r["project_id"]],
        dtype=np.int64,
    )
    written, reversals, amount, unverified = _write_corrections(
        session, run_id=run_id, period=period, tree=tree, target=target, frozen=frozen, recorded_at=started_at
    )
    status = "draft" if written else "empty"
    session.execute(
        update(lt.billing_run).where(lt.billing_run.c.id == run_id).values(lines=written, amount=amount, status=status)
    )
    counts: dict[str, int] = {}
    for r in exception_rows:
        counts[r["code"]] = counts.get(r["code"], 0) + 1
    if n and exc_masks["_unchecked_minimum_wage"].any():
        counts["minimum_wage_not_on_file"] = int(exc_masks["_unchecked_minimum_wage"].sum())
    return RunSummary(
        run_id,
        str(period),
        status,
        len(good),
        len(projects),
        written,
        reversals,
        len(exception_rows),
        amount,
        counts,
        unverified,
    )


@dataclass(frozen=True)
class BillingTarget:
    """What the rules ask for a month: the bill lines and, per row of the batch they were computed from, the
    subject billed (a membership id, or minus a project id), its account, the last month a line covers and the
    segment. ``rows`` maps each line to its batch row."""

    lines: BillLines
    rows: np.ndarray
    subjects: np.ndarray
    accounts: np.ndarray
    cover_to: np.ndarray
    segments: np.ndarray


def _compute(
    members: pa.Table,
    good: np.ndarray,
    projects: list[Any],
    period: Period,
    tree: ParameterTree,
    exception_rows: list[dict[str, Any]],
) -> BillingTarget:
    """Run the rules formulas over good memberships and projects; rows the formulas reject become exceptions."""
    p_ord = period.ordinal
    n_m = len(good)
    if members.num_rows:
        m = members.take(pa.array(good, type=pa.int64()))
        seg = codes_of(m["segment"], c.SEGMENTS)
        cols: dict[str, Any] = dict(
            segment=seg,
            wage=ints_of(m["wage"]),
            income=ints_of(m["income"]),
            risk_class=codes_of(m["risk_class"], c.RISK_CLASSES),
            employer_size=codes_of(m["size_class"], c.EMPLOYER_SIZES),
            programs=ints_of(m["programs"], np.uint8),
            payer_source=codes_of(m["payer_source"], c.PAYER_SOURCES),
            transport=bools_of(m["transport"]),
            labour_intensive=bools_of(m["labour_intensive"]),
            contract_value=np.zeros(n_m, np.int64),
            contract_months=ints_of(m["contract_months"], np.int16),
            jht_amount=ints_of(m["jht_amount"]),
        )
        subjects = ints_of(m["membership_id"])
        accounts = ints_of(m["account_id"])
        segments = seg.astype(np.int8)
        cover_to = np.where(seg == c.PMI, p_ord + cols["contract_months"].astype(np.int64), p_ord)
    else:
        cols = {k: np.zeros(0, np.int64) for k in ("segment", "wage")}
        subjects = accounts = cover_to = np.zeros(0, np.int64)
        segments = np.zeros(0, np.int8)
    if projects:
        k = len(projects)
        proj = dict(
            segment=np.full(k, c.JAKON, np.int8),
            wage=np.zeros(k, np.int64),
            income=np.zeros(k, np.int64),
            risk_class=np.full(k, c.MISSING, np.int8),
            employer_size=np.full(k, c.MISSING, np.int8),
            programs=np.zeros(k, np.uint8),
            payer_source=np.full(k, c.SOURCE_EMPLOYER, np.int8),
            transport=np.zeros(k, bool),
            labour_intensive=np.zeros(k, bool),
            contract_value=np.array([r.contract_value for r in projects], np.int64),
            contract_months=np.zeros(k, np.int16),
            jht_amount=np.zeros(k, np.int64),
        )
        cols = {name: np.concatenate([cols[name], proj[name]]) if name in cols else proj[name] for name in proj}
        subjects = np.concatenate([subjects, -np.array([r.id for r in projects], np.int64)])
        accounts = np.concatenate([accounts, np.array([r.account_id for r in projects], np.int64)])
        cover_to = np.concatenate(
            [cover_to, np.array([max(Period.of(r.end_date).ordinal, p_ord) for r in projects], np.int64)]
        )
        segments = np.concatenate([segments, np.full(k, c.JAKON, np.int8)])
    batch = MembershipBatch.build(
        np.asarray(cols["segment"]),
        p_ord,
        n=len(subjects),
        **{k: np.asarray(v) for k, v in cols.items() if k != "segment"},
    )
    done = compute(batch, tree)
    for i in np.flatnonzero(done.rejected):
        s = int(subjects[i])
        exception_rows.append(
            {
                "membership_id": s if s > 0 else None,
                "project_id": -s if s < 0 else None,
                "code": "invalid_membership",
                "message": done.reason(int(i)),
            }
        )
    lines = done.lines
    return BillingTarget(lines, lines.row.astype(np.int64), subjects, accounts, cover_to, segments)


def _due_date(segment: str, period: Period, tree: ParameterTree) -> dt.date:
    if segment in UPFRONT:
        day = period.day(int(tree.value("coverage.upfront_due_day", period)))
        return deadlines.next_working_day(day) if tree.value("deadlines.next_working_day", period) else day
    return deadlines.due_date(segment, period, tree)


def _bill_ids(
    session: Session, period: Period, tree: ParameterTree, pairs: set[tuple[int, str]], recorded_at: dt.datetime
) -> dict[tuple[int, str], int]:
    """Bill ids for (account, segment) in ``period``, creating the missing bills."""
    b = lt.bill
    existing = {
        (r.account_id, r.segment): int(r.id)
        for r in session.execute(select(b.c.id, b.c.account_id, b.c.segment).where(b.c.period == period.ordinal))
    }
    missing = sorted(pairs - set(existing))
    if missing:
        fine_segments = set(tree.value("deadlines.fine_segments", period))
        due = {s: _due_date(s, period, tree) for s in {seg for _, seg in missing}}
        bulk_insert(
            session,
            b,
            {
                "account_id": [a for a, _ in missing],
                "period": [period.ordinal] * len(missing),
                "segment": [s for _, s in missing],
                "due_date": [due[s] for _, s in missing],
                "fines": [1 if s in fine_segments else 0 for _, s in missing],
                "recorded_at": [recorded_at] * len(missing),
            },
        )
        existing = {
            (r.account_id, r.segment): int(r.id)
            for r in session.execute(select(b.c.id, b.c.account_id, b.c.segment).where(b.c.period == period.ordinal))
        }
    return existing


def _write_corrections(
    session: Session,
    *,
    run_id: int,
    period: Period,
    tree: ParameterTree,
    target: BillingTarget,
    frozen: np.ndarray,
    recorded_at: dt.datetime,
) -> tuple[int, int, int, int]:
    """Insert the lines that bring approved billing for ``period`` to the computed target; the subjects in
    ``frozen`` (held by an exception) keep what they were billed.

    Returns (lines written, of which reversals, payable amount, unverified lines).
    """
    lines, rows, accounts, cover_to, segments = (
        target.lines,
        target.rows,
        target.accounts,
        target.cover_to,
        target.segments,
    )
    subjects = target.subjects
    subject = subjects[rows] if len(rows) else np.zeros(0, np.int64)
    seq = ld.occurrence(ld.line_keys(subject, lines.program, lines.payer, lines.kind, 0))
    existing = billed_net(session, period)
    e_net = ints_of(existing["net"])
    e_key = ld.line_keys(*(ints_of(existing[k]) for k in ("subject", "program", "payer", "kind", "seq")))
    t_key = ld.line_keys(subject, lines.program, lines.payer, lines.kind, seq)
    diff = ld.diff_lines(t_key, lines.amount.astype(np.int64), e_key, e_net, frozen)
    new, rev = diff.new_from_target, diff.reverse_existing
    if len(new) + len(rev) == 0:
        return 0, 0, 0, 0
    # originals: one bill per (account, segment) for lines someone other than the government pays
    payable = lines.payer[new] != c.GOVERNMENT
    owner = rows[new]
    account = accounts[owner]
    segment = np.array(c.SEGMENTS, dtype=object)[segments[owner]]
    pairs = {(int(a), str(s)) for a, s, ok in zip(account, segment, payable, strict=True) if ok}
    bills = _bill_ids(session, period, tree, pairs, recorded_at) if pairs else {}
    bill = [bills[(int(a), str(s))] if ok else None for a, s, ok in zip(account, segment, payable, strict=True)]
    rate = lines.rate[new].astype(np.int64)
    originals = pa.table(
        {
            "bill_id": pa.array(bill, pa.int64()),
            "cover_to": pa.array(cover_to[owner].astype(np.int64)),
            "subject": pa.array(subject[new]),
            "program": pa.array(lines.program[new].astype(np.int64)),
            "payer": pa.array(lines.payer[new].astype(np.int64)),
            "kind": pa.array(lines.kind[new].astype(np.int64)),
            "seq": pa.array(seq[new]),
            "entry": pa.array(np.full(len(new), ld.ORIGINAL, np.int64)),
            "amount": pa.array(lines.amount[new].astype(np.int64)),
            "rate": masked_ints(rate, rate == NO_RATE),
            "basis": pa.array(lines.basis[new].astype(np.int64)),
            "citation_id": pa.array(citation_ids(session, lines.citations)[lines.cite[new].astype(np.int64)]),
        }
    )
    # reversals: the negation of each changed key's billed net, on the bill that carried it
    old = existing.take(pa.array(rev, pa.int64()))
    reversals = pa.table(
        {
            name: old[name].cast(pa.int64())
            for name in ("bill_id", "cover_to", "subject", "program", "payer", "kind", "seq")
        }
        | {
            "entry": pa.array(np.full(len(rev), ld.REVERSAL, np.int64)),
            "amount": pa.array(-e_net[rev]),
            "rate": old["rate"].cast(pa.int64()),
            "basis": old["basis"].cast(pa.int64()),
            "citation_id": old["citation_id"].cast(pa.int64()),
        }
    )
    out = pa.concat_tables([originals, reversals]).combine_chunks()
    n = out.num_rows
    subj = ints_of(out["subject"])
    columns = {
        "run_id": pa.array(np.full(n, run_id, np.int64)),
        "period": pa.array(np.full(n, period.ordinal, np.int64)),
        "cover_from": pa.array(np.full(n, period.ordinal, np.int64)),
        "membership_id": masked_ints(subj, subj <= 0),
        "project_id": masked_ints(-subj, subj >= 0),
        **{name: out[name] for name in out.column_names if name != "subject"},
    }
    append_partition(session, lt.bill_line, "run_id", run_id, columns)
    payable_amount = int(pc.sum(pc.if_else(pc.is_valid(out["bill_id"]), out["amount"], 0)).as_py() or 0)
    unverified = int(sum(1 for i in lines.cite[new] if lines.citations[int(i)].status != "verified"))
    return n, len(rev), payable_amount, unverified
