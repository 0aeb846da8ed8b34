"""Ledger invariants (Hypothesis): allocation neither creates nor destroys money; reversals net to zero;
balances rebuilt from raw entries equal the derived ones."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import Clock
from tests.scenario import firm

from jamsos.infra.db import make_engine, unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.period import Period
from jamsos.ledger import domain as ld
from jamsos.ledger import service as led
from jamsos.ledger import tables as lt
from jamsos.registry.domain import EVERYTHING
from jamsos.rules.tree import ParameterTree

D0 = dt.date(2025, 1, 1)

bills_st = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 2_000_000), st.booleans()), min_size=0, max_size=12
)
payments_st = st.lists(st.tuples(st.integers(0, 2), st.integers(-40, 200), st.integers(1, 3_000_000)), max_size=12)


def fixed_fine(b: ld.BillBalance, amount: int, paid_on: dt.date) -> tuple[int, int]:
    months = max(1, (paid_on - b.due_date).days // 30)
    return amount * 2 * months // 100, months


@given(bills_st, payments_st)
def test_allocation_neither_creates_nor_destroys_money(bills: list, payments: list) -> None:  # type: ignore[type-arg]
    open_bills = [
        ld.BillBalance(i, acct, period, "pu", D0 + dt.timedelta(days=30 * period), fines, due)
        for i, (acct, period, due, fines) in enumerate(bills)
    ]
    open_pays = [
        ld.OpenPayment(i, acct, D0 + dt.timedelta(days=d), amount) for i, (acct, d, amount) in enumerate(payments)
    ]
    money_in = sum(p.remaining for p in open_pays)
    charged_before = sum(b.contribution_due for b in open_bills)
    result = ld.allocate(open_bills, open_pays, fixed_fine)
    allocated = sum(a.amount for a in result.allocations)
    assert allocated + sum(p.remaining for p in open_pays) == money_in
    assert all(a.amount > 0 for a in result.allocations) and all(p.remaining >= 0 for p in open_pays)
    by_bill: dict[int, int] = {}
    for a in result.allocations:
        by_bill[a.bill_id] = by_bill.get(a.bill_id, 0) + a.amount
    fines = {}
    for f in result.fines:
        fines[f.bill_id] = fines.get(f.bill_id, 0) + f.amount
    for b in open_bills:  # never more than a bill asks (contribution + its fines)
        assert by_bill.get(b.id, 0) <= b.contribution_due + fines.get(b.id, 0)
    assert sum(b.contribution_due for b in open_bills) == charged_before
    for a in result.allocations:  # money only goes to bills of the payer's own account
        assert open_bills[a.bill_id].account_id == open_pays[a.payment_id].account_id
    # whatever stays unallocated, its account has nothing left open
    for p in open_pays:
        if p.remaining > 0:
            assert all(b.outstanding == 0 for b in open_bills if b.account_id == p.account_id)


@given(st.lists(st.integers(-(10**9), 10**9), max_size=30), st.lists(st.integers(0, 10**6), max_size=30))
def test_line_diff_reaches_the_target(amounts: list[int], existing: list[int]) -> None:
    n = len(amounts)
    t_key = np.arange(n, dtype=np.int64) * ld.KEY_SCALE
    e_key = np.arange(len(existing), dtype=np.int64) * ld.KEY_SCALE
    t_amt, e_net = np.array(amounts, dtype=np.int64), np.array(existing, dtype=np.int64)
    diff = ld.diff_lines(t_key, t_amt, e_key, e_net, np.zeros(0, np.int64))
    net = dict(zip(e_key.tolist(), e_net.tolist(), strict=True))
    for i in diff.reverse_existing:
        net[int(e_key[i])] -= int(e_net[i])
    for i in diff.new_from_target:
        net[int(t_key[i])] = net.get(int(t_key[i]), 0) + int(t_amt[i])
    for k, a in zip(t_key.tolist(), amounts, strict=True):
        assert net.get(k, 0) == a
    for k in e_key.tolist():
        if k not in set(t_key.tolist()):
            assert net[k] == 0
    again = ld.diff_lines(
        t_key, t_amt, np.array(list(net), np.int64), np.array(list(net.values()), np.int64), np.zeros(0, np.int64)
    )
    assert len(again.new_from_target) == len(again.reverse_existing) == 0  # idempotent


events_st = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(0, 1), st.integers(1, 900_000), st.integers(0, 120)),
        st.tuples(st.just("reverse"), st.integers(0, 20), st.just(0), st.just(0)),
        st.tuples(st.just("bill"), st.integers(0, 2), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=10,
)


@pytest.mark.integration
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_st)
def test_store_balances_from_entries_equal_derived(events: list, tree: ParameterTree, sqlite_template) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Random payments, reversals and billing months on a real store: every account balances both ways."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/t.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        clock = Clock(dt.datetime(2024, 12, 1, 9))
        with unit_of_work(engine) as s:
            firms = [
                firm(s, clock(), wages=[5_000_000], first_serial=1),
                firm(s, clock(), wages=[3_500_000], first_serial=5),
            ]
        months = [Period(2024, 10), Period(2024, 11), Period(2024, 12)]
        refs: list[str] = []
        for i, (kind, a, b, c) in enumerate(events):
            clock.advance(days=3)
            with unit_of_work(engine) as s:
                if kind == "pay":
                    paid = (clock() - dt.timedelta(days=c % 60)).date()
                    text = f"reference,va_number,amount,paid_on\nH{i},{firms[a].va},{b},{paid}\n"
                    led.import_payments(
                        s,
                        scope=EVERYTHING,
                        table=read_table(text.encode(), "h.csv"),
                        tree=tree,
                        recorded_at=clock(),
                        recorded_by="h",
                    )
                    refs.append(f"H{i}")
                elif kind == "reverse" and refs:
                    ref = refs.pop(a % len(refs))
                    led.reverse_payment(
                        s, scope=EVERYTHING, reference=ref, reason="test", tree=tree, recorded_at=clock()
                    )
                elif kind == "bill":
                    r = led.run_billing(s, scope=EVERYTHING, period=months[a], maker="m", tree=tree, started_at=clock())
                    if r.status == "draft":
                        led.approve_run(
                            s, scope=EVERYTHING, run_id=r.run_id, checker="c", tree=tree, decided_at=clock()
                        )
        with unit_of_work(engine) as s:
            for f in firms:
                st_ = led.statement(s, scope=EVERYTHING, va_number=f.va)
                assert st_["net_from_bills"] == st_["net_from_entries"]
                assert all(b["paid"] <= b["contribution"] and b["fine_paid"] <= b["fine"] for b in st_["bills"])
            allocated = s.scalar(select(func.coalesce(func.sum(lt.allocation.c.amount), 0)))
            received = s.scalar(select(func.coalesce(func.sum(lt.payment.c.amount), 0)))
            assert 0 <= allocated <= received
            for p in s.execute(select(lt.payment).where(lt.payment.c.reverses_id.is_not(None))).all():
                original = s.execute(select(lt.payment.c.amount).where(lt.payment.c.id == p.reverses_id)).scalar_one()
                assert original + p.amount == 0  # a reversal and its original net to zero
                assert (
                    s.scalar(
                        select(func.coalesce(func.sum(lt.allocation.c.amount), 0)).where(
                            lt.allocation.c.payment_id == p.reverses_id
                        )
                    )
                    == 0
                )
        engine.dispose()
