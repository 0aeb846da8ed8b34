"""Ledger use cases: wage declarations, the billing run with maker–checker, payments, allocation,
fines, arrears and active status. Set-based: rows move as Arrow/NumPy columns, never per-row ORM.

Services never commit; the caller owns the transaction, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import and_, case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from jamsos.infra.bulk import append_partition, bulk_insert, fetch_arrow, temporary_keys
from jamsos.infra.files import TableFile
from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem, InvalidInput, NotFound, Problems
from jamsos.kernel.names import person_key, same_person
from jamsos.kernel.period import Period
from jamsos.ledger import domain as ld
from jamsos.ledger import tables as lt
from jamsos.ledger.errors import FourEyes, PaymentConflict, RunNotPending
from jamsos.registry import service as registry
from jamsos.registry.domain import Scope
from jamsos.rules import codes as c
from jamsos.rules import deadlines
from jamsos.rules.formulas import NO_RATE, MembershipBatch, compute_lines
from jamsos.rules.tree import ParameterTree

UPFRONT = ("jakon", "pmi")


# ---- wage declarations -----------------------------------------------------------------------
@dataclass(frozen=True)
class DeclarationResult:
    npp: str
    period: str
    version: int
    rows: int
    unchanged: bool


def declare_wages(
    session: Session,
    *,
    npp: str,
    period: Period,
    table: TableFile,
    recorded_at: dt.datetime,
    recorded_by: str,
    scope: Scope,
) -> DeclarationResult:
    """Store the monthly wage list (columns ``nik``, ``wage``) of an employer within ``scope`` as a new version.

    The file is validated whole: every problem is returned with its row and column, and nothing
    is stored if any row is rejected. The same file uploaded again is recognised and adds nothing.
    """
    employer_id = registry.visible_employer(session, npp=npp, scope=scope, known_at=recorded_at)
    table.require(("nik", "wage"))
    latest = session.execute(
        select(lt.declaration.c.version, lt.declaration.c.sha256)
        .where(lt.declaration.c.employer_id == employer_id, lt.declaration.c.period == period.ordinal)
        .order_by(lt.declaration.c.version.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.sha256 == table.sha256:
        return DeclarationResult(npp, str(period), int(latest.version), len(table.rows), True)
    members = registry.pu_members(session, employer_id=employer_id, month=period, known_at=recorded_at)
    problems: list[FieldProblem] = Problems()
    lines: dict[int, int] = {}
    seen: dict[str, int] = {}
    for number, row in table.rows:
        nik, wage_text = row["nik"], row["wage"].replace(".", "").replace(",", "")
        if nik in seen:
            problems.append(FieldProblem("nik", f"listed twice (first on row {seen[nik]})", row=number, value=nik))
            continue
        seen[nik] = number
        worker_id = members.get(nik)
        if worker_id is None:
            problems.append(
                FieldProblem("nik", f"not a PU member of employer {npp} in {period}", row=number, value=nik)
            )
        if not limits.is_ascii_number(wage_text, 12) or not 0 < int(wage_text) <= limits.MAX_MONTHLY_AMOUNT:
            problems.append(
                FieldProblem(
                    "wage",
                    f"must be a whole number of rupiah from 1 to {limits.MAX_MONTHLY_AMOUNT:,}",
                    row=number,
                    value=row["wage"],
                )
            )
        elif worker_id is not None:
            lines[worker_id] = int(wage_text)
    if problems:
        raise InvalidInput(problems)
    version = (int(latest.version) if latest else 0) + 1
    declaration_id = session.execute(
        insert(lt.declaration)
        .values(
            employer_id=employer_id,
            period=period.ordinal,
            version=version,
            filename=table.name,
            sha256=table.sha256,
            rows=len(lines),
            recorded_at=recorded_at,
            recorded_by=recorded_by,
        )
        .returning(lt.declaration.c.id)
    ).scalar_one()
    bulk_insert(
        session,
        lt.declaration_line,
        {"declaration_id": [declaration_id] * len(lines), "worker_id": list(lines), "wage": list(lines.values())},
    )
    return DeclarationResult(npp, str(period), version, len(lines), False)


def _declared_wages(session: Session, period: Period, known_at: dt.datetime) -> pa.Table:
    d, dl = lt.declaration, lt.declaration_line
    latest = (
        select(d.c.employer_id, func.max(d.c.version).label("version"))
        .where(d.c.period == period.ordinal, d.c.recorded_at <= known_at)
        .group_by(d.c.employer_id)
        .subquery()
    )
    query = (
        select(dl.c.worker_id, d.c.employer_id, dl.c.wage.label("declared_wage"))
        .join(d, d.c.id == dl.c.declaration_id)
        .join(latest, and_(latest.c.employer_id == d.c.employer_id, latest.c.version == d.c.version))
        .where(d.c.period == period.ordinal)
    )
    return fetch_arrow(session, query)


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


def _approved_runs(period_ordinal: int | None = None, known_at: dt.datetime | None = None) -> Any:
    """Ids of approved runs (of one month; approved by ``known_at``, for as-of questions)."""
    q = select(lt.billing_run.c.id).where(lt.billing_run.c.status == "approved")
    if period_ordinal is not None:
        q = q.where(lt.billing_run.c.period == period_ordinal)
    if known_at is not None:
        q = q.where(lt.billing_run.c.decided_at <= known_at)
    return q


def _codes(column: pa.ChunkedArray, choices: tuple[str, ...]) -> Any:
    idx = pc.index_in(column.cast(pa.string()), value_set=pa.array(choices))
    return pc.fill_null(idx, c.MISSING).to_numpy(zero_copy_only=False).astype(np.int8)


def _ints(column: pa.ChunkedArray, dtype: Any = np.int64) -> Any:
    return pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).astype(dtype)


def _bools(column: pa.ChunkedArray) -> Any:
    return pc.fill_null(column.cast(pa.bool_()), False).to_numpy(zero_copy_only=False)


def _subjects_billed_elsewhere(session: Session, period: Period, column: Any) -> set[int]:
    return set(
        session.scalars(
            select(column)
            .distinct()
            .where(
                column.is_not(None),
                lt.bill_line.c.period != period.ordinal,
                lt.bill_line.c.cover_to > lt.bill_line.c.period,  # upfront lines only
                lt.bill_line.c.run_id.in_(_approved_runs()),
            )
        )
    )


def _billable(session: Session, period: Period, known_at: dt.datetime) -> pa.Table:
    """Memberships to bill in ``period`` (PU, BPU monthly; PMI once, upfront), with declared wages applied."""
    members = fetch_arrow(session, registry.memberships_in_force(period, known_at))
    if members.num_rows == 0:
        return members
    members = members.filter(pc.not_equal(members["segment"], "jakon"))
    pmi_done = _subjects_billed_elsewhere(session, period, lt.bill_line.c.membership_id)
    if pmi_done:
        keep = pc.invert(
            pc.and_(pc.equal(members["segment"], "pmi"), pc.is_in(members["membership_id"], pa.array(sorted(pmi_done))))
        )
        members = members.filter(keep)
    declared = _declared_wages(session, period, known_at)
    if declared.num_rows:
        members = members.join(declared, keys=["worker_id", "employer_id"], join_type="left outer")
        wage = pc.if_else(pc.is_valid(members["declared_wage"]), members["declared_wage"], members["wage"])
        members = members.set_column(members.schema.get_field_index("wage"), "wage", wage)
    return members.sort_by("membership_id")


def _projects(session: Session, period: Period) -> list[Any]:
    """Construction projects started by ``period`` and not billed in another period (upfront, once)."""
    done = _subjects_billed_elsewhere(session, period, lt.bill_line.c.project_id)
    rows = registry.projects_started_by(session, month=period)
    return [r for r in rows if r.id not in done]


def _exceptions(members: pa.Table, period: Period, tree: ParameterTree, minimum: dict[str, int]) -> dict[str, Any]:
    """Vectorised exception checks; returns code → boolean mask over ``members``."""
    n = members.num_rows
    seg = _codes(members["segment"], c.SEGMENTS)
    pu = seg == c.PU
    risk = _codes(members["risk_class"], c.RISK_CLASSES)
    size = _codes(members["size_class"], c.EMPLOYER_SIZES)
    wage = _ints(members["wage"])
    programs = _ints(members["programs"])
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
    mids = _ints(members["membership_id"]) if n else np.zeros(0, np.int64)
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
    lines, batch_rows, subjects, accounts, covers, segments = _compute(
        members, good, projects, period, tree, exception_rows
    )
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
        session, run_id, period, tree, lines, batch_rows, subjects, accounts, covers, segments, frozen, started_at
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


def _compute(
    members: pa.Table,
    good: np.ndarray,
    projects: list[Any],
    period: Period,
    tree: ParameterTree,
    exception_rows: list[dict[str, Any]],
) -> tuple[Any, ...]:
    """Run the rules formulas over good memberships and projects; rows the formulas reject become exceptions."""
    p_ord = period.ordinal
    n_m = len(good)
    if members.num_rows:
        m = members.take(pa.array(good, type=pa.int64()))
        seg = _codes(m["segment"], c.SEGMENTS)
        cols: dict[str, Any] = dict(
            segment=seg,
            wage=_ints(m["wage"]),
            income=_ints(m["income"]),
            risk_class=_codes(m["risk_class"], c.RISK_CLASSES),
            employer_size=_codes(m["size_class"], c.EMPLOYER_SIZES),
            programs=_ints(m["programs"], np.uint8),
            payer_source=_codes(m["payer_source"], c.PAYER_SOURCES),
            transport=_bools(m["transport"]),
            labour_intensive=_bools(m["labour_intensive"]),
            contract_value=np.zeros(n_m, np.int64),
            contract_months=_ints(m["contract_months"], np.int16),
            jht_amount=_ints(m["jht_amount"]),
        )
        subjects = _ints(m["membership_id"])
        accounts = _ints(m["account_id"])
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
    keep = np.arange(len(subjects))
    for _ in range(10):
        batch = MembershipBatch.build(
            np.asarray(cols["segment"])[keep],
            p_ord,
            n=len(keep),
            **{k: np.asarray(v)[keep] for k, v in cols.items() if k != "segment"},
        )
        try:
            lines = compute_lines(batch, tree)
            break
        except InvalidInput as exc:
            rejected: dict[int, str] = {}
            for prob in exc.problems:
                if prob.row is not None:
                    rejected.setdefault(int(keep[prob.row - 1]), f"{prob.field}: {prob.message}")
            if not rejected:
                raise
            for i, msg in rejected.items():
                s = int(subjects[i])
                exception_rows.append(
                    {
                        "membership_id": s if s > 0 else None,
                        "project_id": -s if s < 0 else None,
                        "code": "invalid_membership",
                        "message": msg,
                    }
                )
            keep = np.setdiff1d(keep, np.array(list(rejected), dtype=np.int64))
    else:  # pragma: no cover - ten rounds of rejections means the formulas keep finding new problems
        raise InvalidInput([FieldProblem("billing", "too many rejected memberships; see the exception list")])
    rows = keep[lines.row.astype(np.int64)] if len(lines) else np.zeros(0, np.int64)
    return lines, rows, subjects, accounts, cover_to, segments


def _citation_ids(session: Session, citations: list[Any]) -> np.ndarray:
    rc = lt.rule_citation
    ids = []
    for cit in citations:
        key = dict(parameter=cit.parameter, start=str(cit.start), reference=cit.reference[:400], status=cit.status)
        found = session.scalar(select(rc.c.id).where(*(rc.c[k] == v for k, v in key.items())))
        if found is None:
            found = session.execute(insert(rc).values(**key).returning(rc.c.id)).scalar_one()
        ids.append(int(found))
    return np.array(ids or [0], dtype=np.int64)


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
    run_id: int,
    period: Period,
    tree: ParameterTree,
    lines: Any,
    rows: np.ndarray,
    subjects: np.ndarray,
    accounts: np.ndarray,
    cover_to: np.ndarray,
    segments: np.ndarray,
    frozen: np.ndarray,
    recorded_at: dt.datetime,
) -> tuple[int, int, int, int]:
    """Insert the lines that bring approved billing for ``period`` to the computed target.

    Returns (lines written, of which reversals, payable amount, unverified lines).
    """
    subject = subjects[rows] if len(rows) else np.zeros(0, np.int64)
    seq = ld.occurrence(ld.line_keys(subject, lines.program, lines.payer, lines.kind, 0))
    existing = _billed_net(session, period)
    e_net = _ints(existing["net"])
    e_key = ld.line_keys(*(_ints(existing[k]) for k in ("subject", "program", "payer", "kind", "seq")))
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
            "rate": _masked(rate, rate == NO_RATE),
            "basis": pa.array(lines.basis[new].astype(np.int64)),
            "citation_id": pa.array(_citation_ids(session, lines.citations)[lines.cite[new].astype(np.int64)]),
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
    subj = _ints(out["subject"])
    columns = {
        "run_id": pa.array(np.full(n, run_id, np.int64)),
        "period": pa.array(np.full(n, period.ordinal, np.int64)),
        "cover_from": pa.array(np.full(n, period.ordinal, np.int64)),
        "membership_id": _masked(subj, subj <= 0),
        "project_id": _masked(-subj, subj >= 0),
        **{name: out[name] for name in out.column_names if name != "subject"},
    }
    append_partition(session, lt.bill_line, "run_id", run_id, columns)
    payable_amount = int(pc.sum(pc.if_else(pc.is_valid(out["bill_id"]), out["amount"], 0)).as_py() or 0)
    unverified = int(sum(1 for i in lines.cite[new] if lines.citations[int(i)].status != "verified"))
    return n, len(rev), payable_amount, unverified


def _billed_net(session: Session, period: Period) -> pa.Table:
    """What approved runs billed for ``period``, net per (subject, program, payer, kind, seq)."""
    bl = lt.bill_line
    subject = func.coalesce(bl.c.membership_id, -bl.c.project_id)
    return fetch_arrow(
        session,
        select(
            subject.label("subject"),
            bl.c.program,
            bl.c.payer,
            bl.c.kind,
            bl.c.seq,
            func.sum(bl.c.amount).label("net"),
            func.max(bl.c.bill_id).label("bill_id"),
            func.max(bl.c.cover_to).label("cover_to"),
            func.max(bl.c.rate).label("rate"),
            func.max(bl.c.basis).label("basis"),
            func.max(bl.c.citation_id).label("citation_id"),
        )
        .where(bl.c.period == period.ordinal, bl.c.run_id.in_(_approved_runs(period.ordinal)))
        .group_by(subject, bl.c.program, bl.c.payer, bl.c.kind, bl.c.seq),
    )


def _masked(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=np.asarray(mask, dtype=bool))


def _run(session: Session, run_id: int) -> Any:
    row = session.execute(select(lt.billing_run).where(lt.billing_run.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no billing run {run_id}", run_id=run_id)
    return row


def approve_run(
    session: Session, *, run_id: int, checker: str, tree: ParameterTree, decided_at: dt.datetime, scope: Scope
) -> dict[str, Any]:
    """The second person's approval (maker–checker): the run's lines become final and are allocated."""
    registry.require_everything(scope, "deciding on a billing run")
    run = _run(session, run_id)
    if run.status != "draft":
        raise RunNotPending(f"billing run {run_id} is {run.status}, not a draft awaiting approval", run_id=run_id)
    if not same_person_possible(checker) or same_person(checker, run.maker):
        raise FourEyes(f"billing run {run_id} was made by {run.maker}; another person must approve it", run_id=run_id)
    _decide(session, run_id, status="approved", checker=checker, decided_at=decided_at)
    accounts = set(
        session.scalars(
            select(lt.bill.c.account_id)
            .distinct()
            .join(lt.bill_line, lt.bill_line.c.bill_id == lt.bill.c.id)
            .where(lt.bill_line.c.run_id == run_id)
        )
    )
    allocated = allocate(session, tree=tree, recorded_at=decided_at, account_ids=accounts)
    return {"run_id": run_id, "status": "approved", "checker": checker, **allocated}


def reject_run(session: Session, *, run_id: int, checker: str, decided_at: dt.datetime, scope: Scope) -> dict[str, Any]:
    registry.require_everything(scope, "deciding on a billing run")
    run = _run(session, run_id)
    if run.status != "draft":
        raise RunNotPending(f"billing run {run_id} is {run.status}, not a draft awaiting approval", run_id=run_id)
    if not same_person_possible(checker) or same_person(checker, run.maker):
        raise FourEyes(f"billing run {run_id} was made by {run.maker}; another person must decide on it", run_id=run_id)
    _decide(session, run_id, status="rejected", checker=checker, decided_at=decided_at)
    return {"run_id": run_id, "status": "rejected", "checker": checker}


def same_person_possible(name: str) -> bool:
    """A checker must be named (and by letters a person can tell apart: see the command line's --user)."""
    return bool(person_key(name))


def _decide(session: Session, run_id: int, *, status: str, checker: str, decided_at: dt.datetime) -> None:
    """Move a draft to ``status``, atomically: of two checkers deciding at once, the second finds no draft (on
    PostgreSQL its UPDATE waits for the first to commit and then matches nothing) and is told so."""
    done = session.execute(
        update(lt.billing_run)
        .where(lt.billing_run.c.id == run_id, lt.billing_run.c.status == "draft")
        .values(status=status, checker=checker, decided_at=decided_at)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RunNotPending(f"billing run {run_id} was decided by someone else just now", run_id=run_id)


def run_report(
    session: Session, *, run_id: int, scope: Scope, limit: int = 1000, known_at: dt.datetime | None = None
) -> dict[str, Any]:
    """A run and its exception list; exceptions about memberships outside ``scope`` are left out."""
    run = _run(session, run_id)
    ex = lt.billing_exception
    rows = [
        dict(r)
        for r in session.execute(
            select(ex.c.membership_id, ex.c.project_id, ex.c.code, ex.c.message)
            .where(ex.c.run_id == run_id)
            .order_by(ex.c.id)
            .limit(limit)
        ).mappings()
    ]
    if not scope.everything:
        at = known_at or dt.datetime.max
        rows = [
            r
            for r in rows
            if r["membership_id"]
            and registry.membership_in_scope(session, membership_id=r["membership_id"], scope=scope, known_at=at)
        ]
    labels = registry.membership_labels(session, [r["membership_id"] for r in rows if r["membership_id"]])
    for r in rows:
        r |= labels.get(r["membership_id"], {"nik": None, "npp": None})
    info = dict(run._mapping)
    info["period"] = str(Period.from_ordinal(info["period"]))
    return {**info, "exception_list": rows}


def list_runs(session: Session, *, period: Period | None = None) -> list[dict[str, Any]]:
    q = select(lt.billing_run).order_by(lt.billing_run.c.id)
    if period is not None:
        q = q.where(lt.billing_run.c.period == period.ordinal)
    out = []
    for r in session.execute(q).mappings():
        row = dict(r)
        row["period"] = str(Period.from_ordinal(row["period"]))
        out.append(row)
    return out


# ---- payments and allocation -----------------------------------------------------------------
@dataclass
class ImportSummary:
    file: str
    rows: int
    posted: int
    already_posted: int
    amount: int
    allocations: int
    fines: int
    fine_amount: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


PAYMENT_COLUMNS = ("reference", "va_number", "amount", "paid_on")


def import_payments(
    session: Session,
    *,
    table: TableFile,
    tree: ParameterTree,
    recorded_at: dt.datetime,
    recorded_by: str,
    scope: Scope,
) -> ImportSummary:
    """Post a bank / virtual-account file (reference, va_number, amount, paid_on[, channel]) and allocate it.

    Validated whole; each reference is posted once, so importing a file again changes nothing;
    a known reference with a different account, amount or date is a conflict, not a silent skip.
    """
    registry.require_everything(scope, "a payment file")
    table.require(PAYMENT_COLUMNS)
    problems: list[FieldProblem] = Problems()
    refs: list[str] = []
    vas: list[str] = []
    amounts: list[int] = []
    dates: list[dt.date] = []
    channels: list[str] = []
    rownums: list[int] = []
    seen: dict[str, int] = {}
    accounts = registry.account_ids_by_va(session, sorted({row["va_number"] for _, row in table.rows}))
    for number, row in table.rows:
        ref = row["reference"]
        ok = True
        if row["va_number"] not in accounts:
            problems.append(
                FieldProblem(
                    "va_number", "no account has this virtual-account number", row=number, value=row["va_number"]
                )
            )
            ok = False
        if not ref or len(ref) > 64:
            problems.append(FieldProblem("reference", "must be 1 to 64 characters", row=number, value=ref))
            ok = False
        elif ref.upper().startswith(REVERSAL_PREFIX):
            problems.append(
                FieldProblem("reference", f"{REVERSAL_PREFIX} is reserved for reversals", row=number, value=ref)
            )
            ok = False
        elif ref in seen:
            problems.append(
                FieldProblem("reference", f"appears twice (first on row {seen[ref]})", row=number, value=ref)
            )
            ok = False
        seen.setdefault(ref, number)
        amount_text = row["amount"]
        if not limits.is_ascii_number(amount_text, 13) or not 0 < int(amount_text) <= limits.MAX_PAYMENT:
            problems.append(
                FieldProblem(
                    "amount",
                    f"must be a whole number of rupiah from 1 to {limits.MAX_PAYMENT:,}",
                    row=number,
                    value=amount_text,
                )
            )
            ok = False
        if len(row.get("channel") or "") > 40:
            problems.append(FieldProblem("channel", "at most 40 characters", row=number))
            ok = False
        try:
            paid_on = dt.date.fromisoformat(row["paid_on"])
            if paid_on > recorded_at.date():
                problems.append(FieldProblem("paid_on", "is in the future", row=number, value=row["paid_on"]))
                ok = False
            elif paid_on < limits.EARLIEST_RECORD:
                problems.append(
                    FieldProblem("paid_on", f"is before {limits.EARLIEST_RECORD}", row=number, value=row["paid_on"])
                )
                ok = False
        except ValueError:
            problems.append(FieldProblem("paid_on", "must be a date YYYY-MM-DD", row=number, value=row["paid_on"]))
            ok = False
        if ok:
            refs.append(ref)
            vas.append(row["va_number"])
            amounts.append(int(amount_text))
            dates.append(paid_on)
            channels.append(row.get("channel") or "va")
            rownums.append(number)
    account_ids = [accounts[va] for va in vas]
    known = _known_payments(session, refs)
    fresh = []
    for i, ref in enumerate(refs):
        old = known.get(ref)
        if old is None:
            fresh.append(i)
        elif (old[0], old[1], old[2]) != (account_ids[i], amounts[i], dates[i]):
            problems.append(
                FieldProblem(
                    "reference", "already posted with a different account, amount or date", row=rownums[i], value=ref
                )
            )
    if problems:
        raise InvalidInput(problems)
    import_id = session.execute(
        insert(lt.payment_import)
        .values(
            filename=table.name,
            sha256=table.sha256,
            rows=len(table.rows),
            posted=len(fresh),
            recorded_at=recorded_at,
            recorded_by=recorded_by,
        )
        .returning(lt.payment_import.c.id)
    ).scalar_one()
    if fresh:
        bulk_insert(
            session,
            lt.payment,
            {
                "reference": [refs[i] for i in fresh],
                "account_id": [account_ids[i] for i in fresh],
                "amount": [amounts[i] for i in fresh],
                "paid_on": [dates[i] for i in fresh],
                "channel": [channels[i][:40] for i in fresh],
                "import_id": [import_id] * len(fresh),
                "recorded_at": [recorded_at] * len(fresh),
            },
        )
    touched = {int(account_ids[i] or 0) for i in fresh}
    result = allocate(session, tree=tree, recorded_at=recorded_at, account_ids=touched) if touched else _empty_alloc()
    return ImportSummary(
        table.name,
        len(table.rows),
        len(fresh),
        len(refs) - len(fresh),
        sum(amounts[i] for i in fresh),
        result["allocations"],
        result["fines"],
        result["fine_amount"],
    )


def _empty_alloc() -> dict[str, int]:
    return {"allocations": 0, "fines": 0, "fine_amount": 0, "released": 0}


def _known_payments(session: Session, refs: list[str]) -> dict[str, tuple[int, int, dt.date]]:
    """Payments already posted under any of ``refs``: reference → (account, amount, paid_on)."""
    p = lt.payment
    out: dict[str, tuple[int, int, dt.date]] = {}
    if len(refs) <= 5000:
        query = select(p.c.reference, p.c.account_id, p.c.amount, p.c.paid_on).where(p.c.reference.in_(refs))
    else:  # one join against the file's references, loaded set-based into a temporary table
        incoming = temporary_keys(session, "incoming_reference", refs)
        query = select(p.c.reference, p.c.account_id, p.c.amount, p.c.paid_on).join(
            incoming, incoming.c.key == p.c.reference
        )
    for r in session.execute(query):
        out[r.reference] = (int(r.account_id), int(r.amount), r.paid_on)
    return out


def _scope(column: Any, account_ids: set[int] | None) -> Any:
    if account_ids is None or len(account_ids) > 20000:
        return literal(True)
    return column.in_(sorted(account_ids))


def _bill_balances(session: Session, account_ids: set[int] | None, known_at: dt.datetime | None = None) -> Any:
    """Per bill: contribution due (approved lines), contribution and fine paid, fines charged."""
    bl, al, fn, b = lt.bill_line, lt.allocation, lt.fine, lt.bill
    approved = _approved_runs()
    due = (
        select(bl.c.bill_id, func.sum(bl.c.amount).label("due"))
        .where(bl.c.bill_id.is_not(None), bl.c.run_id.in_(approved))
        .group_by(bl.c.bill_id)
        .subquery()
    )
    alloc_q = select(
        al.c.bill_id,
        func.sum(case((al.c.target == "contribution", al.c.amount), else_=0)).label("paid"),
        func.sum(case((al.c.target == "fine", al.c.amount), else_=0)).label("fine_paid"),
    )
    fine_q = select(fn.c.bill_id, func.sum(fn.c.amount).label("fine_due"))
    if known_at is not None:
        alloc_q = alloc_q.where(al.c.recorded_at <= known_at)
        fine_q = fine_q.where(fn.c.recorded_at <= known_at)
    paid = alloc_q.group_by(al.c.bill_id).subquery()
    fines = fine_q.group_by(fn.c.bill_id).subquery()
    return (
        select(
            b.c.id,
            b.c.account_id,
            b.c.period,
            b.c.segment,
            b.c.due_date,
            b.c.fines,
            func.coalesce(due.c.due, 0).label("due"),
            func.coalesce(paid.c.paid, 0).label("paid"),
            func.coalesce(fines.c.fine_due, 0).label("fine_due"),
            func.coalesce(paid.c.fine_paid, 0).label("fine_paid"),
        )
        .join(due, due.c.bill_id == b.c.id, isouter=True)
        .join(paid, paid.c.bill_id == b.c.id, isouter=True)
        .join(fines, fines.c.bill_id == b.c.id, isouter=True)
        .where(_scope(b.c.account_id, account_ids))
    )


def _payment_balances(session: Session, account_ids: set[int] | None) -> Any:
    p, al = lt.payment, lt.allocation
    used = select(al.c.payment_id, func.sum(al.c.amount).label("used")).group_by(al.c.payment_id).subquery()
    reversed_ = select(p.c.reverses_id).where(p.c.reverses_id.is_not(None))
    return (
        select(p.c.id, p.c.account_id, p.c.paid_on, (p.c.amount - func.coalesce(used.c.used, 0)).label("remaining"))
        .join(used, used.c.payment_id == p.c.id, isouter=True)
        .where(p.c.reverses_id.is_(None), p.c.id.not_in(reversed_), _scope(p.c.account_id, account_ids))
    )


def allocate(
    session: Session, *, tree: ParameterTree, recorded_at: dt.datetime, account_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """Allocate unallocated money of the accounts (all when None) to their oldest open bills.

    First releases money allocated beyond what a corrected bill now asks, so that it becomes credit.
    """
    scope = set(account_ids) if account_ids is not None else None
    rows = _balances_in_scope(session, scope)
    over = [(r[0], r[7] - r[6]) for r in rows if r[7] > r[6]]
    released = _release_overpaid(session, over, recorded_at)
    if released:
        rows = _balances_in_scope(session, scope)
    bills = [
        ld.OpenBill(bid, acct, period, seg, due_on, bool(fines), due, paid, fine_due, fine_paid)
        for bid, acct, period, seg, due_on, fines, due, paid, fine_due, fine_paid in rows
        if due - paid + fine_due - fine_paid > 0
    ]
    if not bills:
        return {**_empty_alloc(), "released": released}
    open_accounts = {b.account_id for b in bills}
    pays = fetch_arrow(session, _payment_balances(session, scope))
    payments = [
        ld.OpenPayment(pid, acct, paid_on, remaining)
        for pid, acct, paid_on, remaining in zip(*(pays[c].to_pylist() for c in pays.column_names), strict=True)
        if remaining > 0 and acct in open_accounts
    ]
    fine_param = tree["deadlines.fine_rate_per_month"]
    citation_cache: dict[tuple[str, str], int] = {}

    def fine_for(b: ld.OpenBill, amount: int, paid_on: dt.date) -> tuple[int, int]:
        f = deadlines.fine(b.segment, Period.from_ordinal(b.period), amount, paid_on, tree)
        return f.amount, f.months_late

    result = ld.allocate(bills, payments, fine_for)
    if result.fines:
        period_of = {b.id: b.period for b in bills}
        cites = []
        for f in result.fines:
            pv = fine_param.require(Period.from_ordinal(period_of[f.bill_id]))
            key = (pv.start.isoformat(), pv.reference)
            if key not in citation_cache:
                citation_cache[key] = int(
                    _citation_ids(session, [_Cite(fine_param.path, pv.start.isoformat(), pv.reference, pv.status)])[0]
                )
            cites.append(citation_cache[key])
        bulk_insert(
            session,
            lt.fine,
            {
                "bill_id": [f.bill_id for f in result.fines],
                "payment_id": [f.payment_id for f in result.fines],
                "amount": [f.amount for f in result.fines],
                "late_amount": [f.late_amount for f in result.fines],
                "months_late": [f.months_late for f in result.fines],
                "citation_id": cites,
                "recorded_at": [recorded_at] * len(result.fines),
            },
        )
    a = result.allocations
    if a:
        bulk_insert(
            session,
            lt.allocation,
            {
                "payment_id": [x.payment_id for x in a],
                "bill_id": [x.bill_id for x in a],
                "target": [x.target for x in a],
                "amount": [x.amount for x in a],
                "effective_on": [x.effective_on for x in a],
                "recorded_at": [recorded_at] * len(a),
            },
        )
    return {
        "allocations": len(a),
        "fines": len(result.fines),
        "fine_amount": sum(f.amount for f in result.fines),
        "released": released,
    }


@dataclass(frozen=True)
class _Cite:
    parameter: str
    start: str
    reference: str
    status: str


def _balances_in_scope(session: Session, scope: set[int] | None) -> list[tuple[Any, ...]]:
    """(id, account, period, segment, due date, fines flag, due, paid, fine due, fine paid) per bill."""
    table = fetch_arrow(session, _bill_balances(session, scope))
    rows = zip(*(table[c].to_pylist() for c in table.column_names), strict=True)
    return [r for r in rows if scope is None or r[1] in scope]


def _release_overpaid(session: Session, over: list[tuple[int, int]], recorded_at: dt.datetime) -> int:
    """Reverse the latest contribution allocations of bills paid beyond what they now ask
    (``over``: bill id and excess)."""
    if not over:
        return 0
    al = lt.allocation
    reversed_ids = select(al.c.reverses_id).where(al.c.reverses_id.is_not(None))
    rows: dict[str, list[Any]] = {
        k: [] for k in ("payment_id", "bill_id", "target", "amount", "effective_on", "reverses_id", "recorded_at")
    }
    total = 0
    for bill_id, excess in over:
        allocs = session.execute(
            select(al.c.id, al.c.payment_id, al.c.amount, al.c.effective_on)
            .where(
                al.c.bill_id == bill_id, al.c.target == "contribution", al.c.amount > 0, al.c.id.not_in(reversed_ids)
            )
            .order_by(al.c.id.desc())
        ).all()
        for a in allocs:
            if excess <= 0:
                break
            take = min(excess, int(a.amount))
            for k, v in (
                ("payment_id", a.payment_id),
                ("bill_id", bill_id),
                ("target", "contribution"),
                ("amount", -take),
                ("effective_on", a.effective_on),
                ("reverses_id", a.id),
                ("recorded_at", recorded_at),
            ):
                rows[k].append(v)
            excess -= take
            total += take
    bulk_insert(session, al, rows)
    return total


def reverse_payment(
    session: Session, *, reference: str, reason: str, tree: ParameterTree, recorded_at: dt.datetime, scope: Scope
) -> dict[str, Any]:
    """Reverse a posted payment (a bank recall): the payment, its allocations and the fines it caused
    are each negated by a new entry; the account is then re-allocated."""
    registry.require_everything(scope, "a payment reversal")
    p, al, fn = lt.payment, lt.allocation, lt.fine
    # The payment's row is locked first: a second reversal of it waits here, then finds the first one.
    row = session.execute(select(p).where(p.c.reference == reference).with_for_update()).first()
    if row is None:
        raise NotFound(f"no payment with reference {reference}", reference=reference)
    if row.reverses_id is not None or session.scalar(select(p.c.id).where(p.c.reverses_id == row.id)) is not None:
        raise PaymentConflict(f"payment {reference} is a reversal or already reversed", reference=reference)
    rev_id = session.execute(
        insert(p)
        .values(
            reference=reversal_reference(int(row.id)),
            account_id=row.account_id,
            amount=-row.amount,
            paid_on=recorded_at.date(),
            channel=f"reversal: {reason}"[:40],
            reverses_id=row.id,
            recorded_at=recorded_at,
        )
        .returning(p.c.id)
    ).scalar_one()
    reversed_allocs = select(al.c.reverses_id).where(al.c.reverses_id.is_not(None))
    allocs = session.execute(
        select(al).where(al.c.payment_id == row.id, al.c.amount > 0, al.c.id.not_in(reversed_allocs))
    ).all()
    partial = {
        r.reverses_id: -int(r.amount)
        for r in session.execute(
            select(al.c.reverses_id, al.c.amount).where(al.c.payment_id == row.id, al.c.amount < 0)
        )
    }
    for a in allocs:
        left = int(a.amount) - partial.get(a.id, 0)
        if left > 0:
            session.execute(
                insert(al).values(
                    payment_id=row.id,
                    bill_id=a.bill_id,
                    target=a.target,
                    amount=-left,
                    effective_on=recorded_at.date(),
                    reverses_id=a.id,
                    recorded_at=recorded_at,
                )
            )
    for f in session.execute(select(fn).where(fn.c.payment_id == row.id, fn.c.reverses_id.is_(None))).all():
        session.execute(
            insert(fn).values(
                bill_id=f.bill_id,
                payment_id=rev_id,
                amount=-f.amount,
                late_amount=-f.late_amount,
                months_late=f.months_late,
                citation_id=f.citation_id,
                reverses_id=f.id,
                recorded_at=recorded_at,
            )
        )
    result = allocate(session, tree=tree, recorded_at=recorded_at, account_ids={int(row.account_id)})
    return {"reference": reference, "reversal": reversal_reference(int(row.id)), "amount": -int(row.amount), **result}


REVERSAL_PREFIX = "REV:"


def reversal_reference(payment_id: int) -> str:
    """A reversal's own reference, from the payment it reverses (each is reversed at most once); bank files may
    not use the prefix, so it never collides with a posted reference, however long or odd that one is."""
    return f"{REVERSAL_PREFIX}{payment_id}"


# ---- balances, arrears, statements -----------------------------------------------------------
def account_balance(session: Session, *, account_id: int) -> dict[str, int]:
    """Owed and credit of one account, derived two ways: from bills and from raw entries."""
    bills = session.execute(_bill_balances(session, {account_id})).all()
    owed = sum(max(int(b.due) - int(b.paid), 0) + int(b.fine_due) - int(b.fine_paid) for b in bills)
    over = sum(max(int(b.paid) - int(b.due), 0) for b in bills)
    pays = session.execute(_payment_balances(session, {account_id})).all()
    credit = sum(int(r.remaining) for r in pays)
    bl, fn, p = lt.bill_line, lt.fine, lt.payment
    billed = session.scalar(
        select(func.coalesce(func.sum(bl.c.amount), 0))
        .join(lt.bill, lt.bill.c.id == bl.c.bill_id)
        .where(lt.bill.c.account_id == account_id, bl.c.run_id.in_(_approved_runs()))
    )
    fined = session.scalar(
        select(func.coalesce(func.sum(fn.c.amount), 0))
        .join(lt.bill, lt.bill.c.id == fn.c.bill_id)
        .where(lt.bill.c.account_id == account_id)
    )
    paid = session.scalar(select(func.coalesce(func.sum(p.c.amount), 0)).where(p.c.account_id == account_id))
    return {
        "owed": owed,
        "credit": credit + over,
        "net_from_bills": owed - credit - over,
        "net_from_entries": int(billed or 0) + int(fined or 0) - int(paid or 0),
    }


def arrears(
    session: Session, *, as_of: dt.date, scope: Scope, known_at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Unpaid contributions and fines past their due date, per account, aged in buckets of months overdue.

    One row per employer, BPU participant or sponsor in arrears: 0-1, 2-3, 4-6 and >6 months; only the
    accounts whose holders are within ``scope``.
    """
    rows = session.execute(_bill_balances(session, None, known_at).where(lt.bill.c.due_date < as_of)).all()
    per: dict[int, dict[str, Any]] = {}
    for r in rows:
        owed = int(r.due) - int(r.paid) + int(r.fine_due) - int(r.fine_paid)
        if owed <= 0:
            continue
        months = deadlines.months_late(r.due_date, as_of)
        entry = per.setdefault(
            int(r.account_id), {**dict.fromkeys(ld.BUCKETS, 0), "fines": 0, "total": 0, "bills": 0, "oldest": r.period}
        )
        entry[ld.bucket_of(months)] += owed
        entry["fines"] += int(r.fine_due) - int(r.fine_paid)
        entry["total"] += owed
        entry["bills"] += 1
        entry["oldest"] = min(entry["oldest"], r.period)
    if not scope.everything:
        at = known_at or dt.datetime.combine(as_of, dt.time.max)
        per = {
            k: v for k, v in per.items() if registry.account_in_scope(session, account_id=k, scope=scope, known_at=at)
        }
    if not per:
        return []
    who = registry.account_holders(session, set(per))
    out = []
    for account_id, entry in sorted(per.items(), key=lambda kv: -kv[1]["total"]):
        entry["oldest"] = str(Period.from_ordinal(entry["oldest"]))
        out.append({**who[account_id], **entry})
    return out


def statement(session: Session, *, va_number: str, scope: Scope, known_at: dt.datetime | None = None) -> dict[str, Any]:
    """An account's bills with what each asks and has received, its payments and its balance. An account
    whose holder is outside ``scope`` is not found (as if absent)."""
    account_id = registry.account_of_va(session, va_number)
    if not scope.everything and not registry.account_in_scope(
        session, account_id=account_id, scope=scope, known_at=known_at or dt.datetime.max
    ):
        raise NotFound(f"no account with virtual-account number {va_number}", va_number=va_number)
    bills = [
        {
            "bill_id": int(r.id),
            "period": str(Period.from_ordinal(r.period)),
            "segment": r.segment,
            "due_date": r.due_date.isoformat(),
            "contribution": int(r.due),
            "paid": int(r.paid),
            "fine": int(r.fine_due),
            "fine_paid": int(r.fine_paid),
            "outstanding": int(r.due) - int(r.paid) + int(r.fine_due) - int(r.fine_paid),
        }
        for r in session.execute(_bill_balances(session, {account_id}).order_by(lt.bill.c.period))
    ]
    p = lt.payment
    payments = [
        {"reference": r.reference, "amount": int(r.amount), "paid_on": r.paid_on.isoformat(), "channel": r.channel}
        for r in session.execute(select(p).where(p.c.account_id == account_id).order_by(p.c.paid_on, p.c.id))
    ]
    return {
        "va_number": va_number,
        "bills": bills,
        "payments": payments,
        **account_balance(session, account_id=account_id),
    }


# ---- active status ---------------------------------------------------------------------------
def paid_cutoff(period: Period, tree: ParameterTree) -> dt.date:
    """The day by which a month's contribution must be settled for the month to count (a parameter)."""
    return (period + int(tree.value("coverage.paid_by_months_after", period))).last_day


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
    approved = _approved_runs(known_at=known_at)
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
    members = fetch_arrow(session, registry.memberships_in_force(period, known_at))
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
        .where(bl.c.run_id.in_(_approved_runs(known_at=known_at)), bl.c.bill_id.is_not(None))
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
        .where(_scope(lt.bill.c.id, bill_ids))
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


# ---- warehouse facts -------------------------------------------------------------------------
def fact_queries() -> dict[str, tuple[Any, Any]]:
    """Warehouse facts of the ledger: name → (id column for the watermark, select)."""
    p, a, f, b = lt.payment, lt.allocation, lt.fine, lt.bill
    return {
        "bills": (
            b.c.id,
            select(b.c.id.label("bill_id"), b.c.account_id, b.c.period, b.c.segment, b.c.due_date, b.c.recorded_at),
        ),
        "payments": (
            p.c.id,
            select(
                p.c.id.label("payment_id"), p.c.reference, p.c.account_id, p.c.amount, p.c.paid_on, p.c.channel,
                p.c.reverses_id, p.c.recorded_at,
            ),
        ),
        "allocations": (
            a.c.id,
            select(
                a.c.id.label("allocation_id"), a.c.payment_id, a.c.bill_id, a.c.target, a.c.amount, a.c.effective_on,
                a.c.reverses_id, a.c.recorded_at,
            ),
        ),
        "fines": (
            f.c.id,
            select(
                f.c.id.label("fine_id"), f.c.bill_id, f.c.payment_id, f.c.amount, f.c.late_amount, f.c.months_late,
                f.c.reverses_id, f.c.recorded_at,
            ),
        ),
    }  # fmt: skip


def approved_runs(session: Session) -> list[tuple[int, int]]:
    """(run id, period ordinal) of approved billing runs, oldest first."""
    run = lt.billing_run
    rows = session.execute(select(run.c.id, run.c.period).where(run.c.status == "approved").order_by(run.c.id))
    return [(int(r.id), int(r.period)) for r in rows]


def run_lines(session: Session, run_id: int) -> pa.Table:
    """The contribution lines of one run, as Arrow (codes as integers; see rules.codes)."""
    bl = lt.bill_line
    return fetch_arrow(
        session,
        select(
            bl.c.id.label("line_id"), bl.c.run_id, bl.c.bill_id, bl.c.period, bl.c.cover_from, bl.c.cover_to,
            bl.c.membership_id, bl.c.project_id, lt.bill.c.account_id, bl.c.program, bl.c.payer, bl.c.kind,
            bl.c.seq, bl.c.entry, bl.c.amount, bl.c.rate, bl.c.basis, bl.c.citation_id,
        )
        .outerjoin(lt.bill, lt.bill.c.id == bl.c.bill_id)
        .where(bl.c.run_id == run_id)
        .order_by(bl.c.id),
    )  # fmt: skip


def bills_for_period(session: Session, *, period: Period) -> list[dict[str, Any]]:
    """Every unpaid bill of a month: virtual account, what it still asks, due date, and what the
    account owes in all (this and older bills, fines included) — what a statement would ask."""
    rows = session.execute(_bill_balances(session, None)).all()
    account_owed: dict[int, int] = {}
    for r in rows:
        owed = int(r.due) - int(r.paid) + int(r.fine_due) - int(r.fine_paid)
        account_owed[int(r.account_id)] = account_owed.get(int(r.account_id), 0) + max(owed, 0)
    current = [r for r in rows if r.period == period.ordinal and int(r.due) - int(r.paid) > 0]
    holders = registry.account_holders(session, {int(r.account_id) for r in current}) if current else {}
    return [
        {
            "bill_id": int(r.id),
            "va_number": holders[int(r.account_id)]["va_number"],
            "owed": int(r.due) - int(r.paid) + int(r.fine_due) - int(r.fine_paid),
            "account_owed": account_owed[int(r.account_id)],
            "due": r.due_date,
        }
        for r in current
    ]


def month_contributions(
    session: Session, *, period: Period, known_at: dt.datetime
) -> dict[int, tuple[int, dt.date | None]]:
    """Per membership: the net contribution billed for ``period`` (lines covering it, approved runs),
    and the last day money was allocated to the bills carrying it."""
    bl, al = lt.bill_line, lt.allocation
    p_ord = period.ordinal
    approved = _approved_runs(known_at=known_at)
    nets = session.execute(
        select(bl.c.membership_id, func.sum(bl.c.amount).label("net"), func.max(bl.c.bill_id).label("bill_id"))
        .where(
            bl.c.run_id.in_(approved),
            bl.c.membership_id.is_not(None),
            bl.c.kind == c.CONTRIBUTION,
            bl.c.cover_from <= p_ord,
            bl.c.cover_to >= p_ord,
        )
        .group_by(bl.c.membership_id)
    ).all()
    bills = {int(r.bill_id) for r in nets if r.bill_id is not None}
    paid_on = (
        dict(
            session.execute(
                select(al.c.bill_id, func.max(al.c.effective_on))
                .where(al.c.target == "contribution", al.c.recorded_at <= known_at, _scope(al.c.bill_id, bills))
                .group_by(al.c.bill_id)
            ).all()
        )
        if bills
        else {}
    )
    return {
        int(r.membership_id): (max(int(r.net), 0), paid_on.get(int(r.bill_id)) if r.bill_id is not None else None)
        for r in nets
    }
