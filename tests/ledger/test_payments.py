"""Payments on a real store: idempotent imports, oldest-first allocation, credit, fines, arrears, reversal, status."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select
from tests.conftest import Clock
from tests.ledger.test_billing import run_and_approve
from tests.scenario import bpu, firm

from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.errors import InvalidInput
from jamsos.kernel.period import Period
from jamsos.ledger import service as led
from jamsos.ledger import tables as lt
from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import ParameterTree

pytestmark = pytest.mark.integration


def pay(
    engine: Engine, tree: ParameterTree, clock: Clock, rows: list[tuple[str, str, int, str]], name: str = "bank.csv"
) -> led.ImportSummary:
    text = "reference,va_number,amount,paid_on\n" + "".join(f"{r},{v},{a},{d}\n" for r, v, a, d in rows)
    with unit_of_work(engine) as s:
        return led.import_payments(
            s,
            scope=EVERYTHING,
            table=read_table(text.encode(), name),
            tree=tree,
            recorded_at=clock(),
            recorded_by="ops",
        )


def statement(engine: Engine, va: str) -> dict:  # type: ignore[type-arg]
    with unit_of_work(engine) as s:
        return led.statement(s, scope=EVERYTHING, va_number=va)


def test_import_twice_changes_nothing_and_conflicts_are_refused(
    engine: Engine, tree: ParameterTree, clock: Clock
) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
    run_and_approve(engine, tree, clock)
    clock.advance(days=5)
    first = pay(engine, tree, clock, [("B1", f.va, 100_000, "2025-01-10")])
    again = pay(engine, tree, clock, [("B1", f.va, 100_000, "2025-01-10")])
    assert (first.posted, again.posted, again.already_posted) == (1, 0, 1)
    with pytest.raises(InvalidInput) as bad:
        pay(
            engine,
            tree,
            clock,
            [("B2", f.va, 5, "2025-01-10"), ("B1", f.va, 999, "2025-01-10"), ("B3", "123", 5, "2025-01-40")],
        )
    assert {(p.row, p.field) for p in bad.value.problems} == {(3, "reference"), (4, "paid_on"), (4, "va_number")}
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(lt.payment)) == 1  # B2 was not half-posted
    assert statement(engine, f.va)["bills"][0]["paid"] == 100_000


def test_oldest_bill_first_then_credit(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
    run_and_approve(engine, tree, clock, Period(2024, 11))
    run_and_approve(engine, tree, clock, Period(2024, 12))
    bills = statement(engine, f.va)["bills"]
    nov, dec = bills[0]["contribution"], bills[1]["contribution"]
    pay(engine, tree, clock, [("P1", f.va, nov + 1000, "2024-12-10")])
    s1 = statement(engine, f.va)
    assert [b["paid"] for b in s1["bills"]] == [nov, 1000]
    clock.advance(days=5)
    pay(engine, tree, clock, [("P2", f.va, dec + 5000, "2025-01-10")])
    s2 = statement(engine, f.va)
    assert [b["outstanding"] for b in s2["bills"]] == [0, 0] and s2["credit"] == 6000
    run_and_approve(engine, tree, clock, Period(2025, 1))
    s3 = statement(engine, f.va)  # the credit is used on the next bill when it is approved
    assert s3["bills"][2]["paid"] == 6000 and s3["credit"] == 0
    assert s3["net_from_bills"] == s3["net_from_entries"]


def test_late_payment_fine_and_arrears_buckets(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        late = firm(s, clock(), wages=[5_000_000], first_serial=1)
        never = firm(s, clock(), wages=[4_000_000], first_serial=10)
        _, person_va, _ = bpu(s, clock(), 80)
    for month in ("2024-05", "2024-09", "2024-12"):
        run_and_approve(engine, tree, clock, Period.parse(month))
    dec_due = statement(engine, late.va)["bills"][2]
    clock.advance(days=80)
    paid_on = "2025-03-19"  # due 2025-01-15: 2 months and a few days late -> 3 months
    r = pay(engine, tree, clock, [("L1", late.va, 10_000_000, paid_on)])
    assert r.fines == 3
    bills = statement(engine, late.va)["bills"]
    assert bills[2]["fine"] == round(dec_due["contribution"] * 0.02 * 3)
    assert all(b["outstanding"] == 0 for b in bills)
    with unit_of_work(engine) as s:
        rows = {r["va_number"]: r for r in led.arrears(s, scope=EVERYTHING, as_of=dt.date(2025, 3, 20))}
    assert late.va not in rows
    owed = statement(engine, never.va)["bills"]
    assert rows[never.va]["2-3"] == owed[2]["contribution"]  # due 2025-01-15
    assert rows[never.va]["4-6"] == owed[1]["contribution"]  # due 2024-10-15
    assert rows[never.va][">6"] == owed[0]["contribution"]  # due 2024-06-17
    assert rows[person_va]["kind"] == "participant" and rows[person_va]["fines"] == 0  # BPU: no fine


def test_reversal_nets_to_zero_and_reopens_the_bill(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
    run_and_approve(engine, tree, clock)
    due = statement(engine, f.va)["bills"][0]["contribution"]
    clock.advance(days=80)
    pay(engine, tree, clock, [("R1", f.va, due * 2, "2025-03-01")])
    assert statement(engine, f.va)["bills"][0]["fine"] > 0
    with unit_of_work(engine) as s:
        led.reverse_payment(s, scope=EVERYTHING, reference="R1", reason="bank recall", tree=tree, recorded_at=clock())
    st = statement(engine, f.va)
    assert st["bills"][0]["outstanding"] == due and st["bills"][0]["fine"] == 0 and st["credit"] == 0
    assert st["net_from_bills"] == st["net_from_entries"] == due
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.sum(lt.allocation.c.amount))) == 0


def test_active_status_follows_payment_by_cutoff(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        paid_firm = firm(s, clock(), wages=[5_000_000, 6_000_000], first_serial=1)
        firm(s, clock(), wages=[5_000_000], first_serial=10)
        _, trader_va, _ = bpu(s, clock(), 90, programs=("jkk", "jkm", "jht"))
    run_and_approve(engine, tree, clock)
    clock.advance(days=60)
    with unit_of_work(engine) as s:
        due = led.statement(s, scope=EVERYTHING, va_number=paid_firm.va)["bills"][0]["contribution"]
    pay(engine, tree, clock, [("A1", paid_firm.va, due, "2025-01-14"), ("A2", trader_va, 36_800, "2025-02-20")])
    with unit_of_work(engine) as s:
        counts = led.active_counts(s, period=Period(2024, 12), tree=tree, known_at=clock())
        later = led.active_counts(s, period=Period(2024, 12), tree=tree, known_at=clock(), cutoff=dt.date(2025, 3, 1))
        before = led.active_counts(s, period=Period(2024, 12), tree=tree, known_at=clock() - dt.timedelta(days=30))
    assert counts["in_force"] == 4
    assert counts["active"] == 2 and counts["per_segment"]["pu"] == 2 and counts["per_segment"]["bpu"] == 0
    assert counts["per_program"]["jp"] == 2 and counts["per_program"]["jkp"] == 2
    assert later["active"] == 3 and later["per_program"]["jht"] == 3  # the trader paid after the default cut-off
    assert before["active"] == 0  # nothing was known paid a month earlier


def test_exit_then_active_only_in_covered_months(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
    mid = next(iter(f.workers.values()))
    with unit_of_work(engine) as s:
        reg.exit_membership(
            s,
            scope=EVERYTHING,
            membership_id=mid,
            exit_date=dt.date(2024, 12, 10),
            reason="resignation",
            recorded_at=clock(),
        )
    run_and_approve(engine, tree, clock)
    jan = run_and_approve(engine, tree, clock, Period(2025, 1))
    assert jan.memberships == 0
    pay(engine, tree, clock, [("X1", f.va, 10_000_000, "2025-01-05")])
    with unit_of_work(engine) as s:
        assert led.active_counts(s, period=Period(2024, 12), tree=tree, known_at=clock())["active"] == 1
        assert led.active_counts(s, period=Period(2025, 1), tree=tree, known_at=clock())["in_force"] == 0


def test_correction_lowering_a_paid_bill_releases_credit(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 6_000_000])
    run_and_approve(engine, tree, clock)
    due = statement(engine, f.va)["bills"][0]["contribution"]
    pay(engine, tree, clock, [("F1", f.va, due, "2025-01-06")])
    leaver = next(iter(f.workers.values()))
    with unit_of_work(engine) as s:
        reg.exit_membership(
            s,
            scope=EVERYTHING,
            membership_id=leaver,
            exit_date=dt.date(2024, 11, 30),
            reason="resignation",
            recorded_at=clock.advance(days=1),
        )
    run_and_approve(engine, tree, clock)
    st = statement(engine, f.va)
    bill = st["bills"][0]
    assert bill["contribution"] < due and bill["paid"] == bill["contribution"] and bill["outstanding"] == 0
    assert st["credit"] == due - bill["contribution"] > 0  # the excess went back to the payment as credit
    assert st["net_from_bills"] == st["net_from_entries"] == -st["credit"]
    run_and_approve(engine, tree, clock, Period(2025, 1))
    jan = statement(engine, f.va)
    assert jan["bills"][1]["paid"] == min(jan["bills"][1]["contribution"], st["credit"])
