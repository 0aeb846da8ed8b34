"""Ledger rules without storage: line keys and corrections, allocation oldest-first with fines, aging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

BUCKETS: tuple[str, ...] = ("0-1", "2-3", "4-6", ">6")
ORIGINAL, REVERSAL = 0, 1


KEY_SCALE = 10_000


def line_keys(subject: Any, program: Any, payer: Any, kind: Any, seq: Any) -> I64:
    """One int64 per (subject, program, payer, kind, seq); subject is a membership id, or minus a project id."""
    return (
        np.asarray(subject, dtype=np.int64) * KEY_SCALE
        + np.asarray(program, dtype=np.int64) * 1000
        + np.asarray(payer, dtype=np.int64) * 100
        + np.asarray(kind, dtype=np.int64) * 10
        + np.asarray(seq, dtype=np.int64)
    )


def occurrence(keys: I64) -> I64:
    """0 for the first line with a key, 1 for the second, ... (in the given order)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if len(keys) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(keys)), 0))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.arange(len(keys)) - group_start
    return out


@dataclass(frozen=True)
class LineDiff:
    """Corrections that turn the billed state into the target: indices into target and existing arrays."""

    new_from_target: I64  # target lines to insert as originals
    reverse_existing: I64  # existing net amounts to reverse (insert -net)


def diff_lines(
    target_key: I64, target_amount: I64, existing_key: I64, existing_net: I64, frozen_subjects: I64
) -> LineDiff:
    """What to add so that the net billed per key equals the target.

    An unchanged key adds nothing (a re-run is idempotent); a changed key is reversed and replaced;
    a key no longer billed is reversed, unless its subject is ``frozen`` (held back by an exception).
    """
    order = np.argsort(existing_key, kind="stable")
    ek, en = existing_key[order], existing_net[order]
    pos = np.searchsorted(ek, target_key)
    pos_c = np.minimum(pos, max(len(ek) - 1, 0))
    found = (pos < len(ek)) & (ek[pos_c] == target_key) if len(ek) else np.zeros(len(target_key), dtype=bool)
    old = np.where(found, en[pos_c] if len(ek) else 0, 0)
    changed = old != target_amount
    new_from_target = np.flatnonzero(changed & (target_amount != 0))
    reverse_from_target = order[pos_c[changed & found & (old != 0)]] if len(ek) else np.array([], dtype=np.int64)
    in_target = np.isin(ek, target_key)
    subjects = ek // KEY_SCALE
    gone = ~in_target & (en != 0) & ~np.isin(subjects, frozen_subjects)
    reverse = np.concatenate([reverse_from_target, order[np.flatnonzero(gone)]]).astype(np.int64)
    return LineDiff(new_from_target.astype(np.int64), np.unique(reverse))


@dataclass(slots=True)
class BillBalance:
    """A bill's balance: what it asks and what was paid so far (derived from lines, fines and allocations).

    The one place the arithmetic of a bill lives: owed, overpaid and outstanding are read from here."""

    id: int
    account_id: int
    period: int
    segment: str
    due_date: dt.date
    fines: bool
    contribution_due: int
    contribution_paid: int = 0
    fine_due: int = 0
    fine_paid: int = 0

    @property
    def outstanding(self) -> int:
        """Contribution and fines still to pay (negative when the contribution was overpaid)."""
        return self.contribution_open + self.fine_open

    @property
    def contribution_open(self) -> int:
        return self.contribution_due - self.contribution_paid

    @property
    def fine_open(self) -> int:
        return self.fine_due - self.fine_paid

    @property
    def owed(self) -> int:
        """What the account owes on this bill; an overpaid contribution is not owed (it is ``overpaid``)."""
        return max(self.contribution_open, 0) + self.fine_open

    @property
    def overpaid(self) -> int:
        return max(-self.contribution_open, 0)


@dataclass
class OpenPayment:
    id: int
    account_id: int
    paid_on: dt.date
    remaining: int


@dataclass(frozen=True)
class Allocation:
    payment_id: int
    bill_id: int
    target: str
    amount: int
    effective_on: dt.date


@dataclass(frozen=True)
class FineCharge:
    bill_id: int
    payment_id: int
    amount: int
    late_amount: int
    months_late: int


@dataclass
class AllocationResult:
    allocations: list[Allocation] = field(default_factory=list)
    fines: list[FineCharge] = field(default_factory=list)


FineRule = Callable[[BillBalance, int, dt.date], tuple[int, int]]


def allocate(bills: Iterable[BillBalance], payments: Iterable[OpenPayment], fine_for: FineRule) -> AllocationResult:
    """Allocate each account's unallocated money to its oldest open bill first.

    Within a bill the contribution is settled first; settling it after the due date charges the
    late-payment fine on the amount settled late (``fine_for`` returns (amount, months late)),
    which the same money then pays if it can. Money left over stays on the payment as credit.
    """
    by_account: dict[int, list[BillBalance]] = {}
    for b in bills:
        by_account.setdefault(b.account_id, []).append(b)
    for lst in by_account.values():
        lst.sort(key=lambda b: (b.period, b.id))
    result = AllocationResult()
    for p in sorted(payments, key=lambda p: (p.account_id, p.paid_on, p.id)):
        queue = by_account.get(p.account_id)
        if not queue or p.remaining <= 0:
            continue
        for b in queue:
            if p.remaining <= 0:
                break
            owed = b.contribution_due - b.contribution_paid
            if owed > 0:
                x = min(p.remaining, owed)
                result.allocations.append(Allocation(p.id, b.id, "contribution", x, p.paid_on))
                b.contribution_paid += x
                p.remaining -= x
                if b.fines and p.paid_on > b.due_date:
                    amount, months = fine_for(b, x, p.paid_on)
                    if amount > 0:
                        result.fines.append(FineCharge(b.id, p.id, amount, x, months))
                        b.fine_due += amount
            fine_owed = b.fine_due - b.fine_paid
            if fine_owed > 0 and p.remaining > 0:
                y = min(p.remaining, fine_owed)
                result.allocations.append(Allocation(p.id, b.id, "fine", y, p.paid_on))
                b.fine_paid += y
                p.remaining -= y
        by_account[p.account_id] = [b for b in queue if b.outstanding > 0]
    return result


def bucket_of(months_overdue: int) -> str:
    """Arrears bucket for whole months overdue (a started month counts): 0-1, 2-3, 4-6, >6."""
    if months_overdue <= 1:
        return BUCKETS[0]
    if months_overdue <= 3:
        return BUCKETS[1]
    if months_overdue <= 6:
        return BUCKETS[2]
    return BUCKETS[3]
