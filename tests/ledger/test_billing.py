"""The billing run on a real store: lines from the rules formulas, corrections, exceptions, maker–checker."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select
from tests.conftest import Clock
from tests.scenario import bpu, firm, nik

from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.errors import InvalidInput
from jamsos.kernel.period import Period
from jamsos.ledger import service as led
from jamsos.ledger import tables as lt
from jamsos.ledger.errors import FourEyes, RunNotPending
from jamsos.registry import service as reg
from jamsos.registry.domain import EVERYTHING
from jamsos.rules import codes as c
from jamsos.rules.calculator import Membership, calculate
from jamsos.rules.tree import ParameterTree

pytestmark = pytest.mark.integration
DEC = Period(2024, 12)


def billed(engine: Engine, account_va: str) -> int:
    with unit_of_work(engine) as s:
        return sum(b["contribution"] for b in led.statement(s, scope=EVERYTHING, va_number=account_va)["bills"])


def run_and_approve(engine: Engine, tree: ParameterTree, clock: Clock, period: Period = DEC) -> led.RunSummary:
    with unit_of_work(engine) as s:
        r = led.run_billing(
            s, scope=EVERYTHING, period=period, maker="ani", tree=tree, started_at=clock.advance(minutes=1)
        )
    if r.status == "draft":
        with unit_of_work(engine) as s:
            led.approve_run(
                s, scope=EVERYTHING, run_id=r.run_id, checker="budi", tree=tree, decided_at=clock.advance(minutes=1)
            )
    return r


def test_run_bills_what_the_calculator_says_and_counts_after_approval(
    engine: Engine, tree: ParameterTree, clock: Clock
) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 12_000_000], size="menengah", sector="C")
        _, bpu_va, _ = bpu(s, clock(), 50, income=2_000_000, programs=("jkk", "jkm", "jht"))
    with unit_of_work(engine) as s:
        r = led.run_billing(s, scope=EVERYTHING, period=DEC, maker="ani", tree=tree, started_at=clock())
    assert r.status == "draft" and r.memberships == 3 and r.exceptions == 0
    assert billed(engine, f.va) == 0  # nothing counts before the checker approves
    with pytest.raises(FourEyes), unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=r.run_id, checker="ANI", tree=tree, decided_at=clock())
    with unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=r.run_id, checker="budi", tree=tree, decided_at=clock())
    expected = 0
    for wage in (5_000_000, 12_000_000):
        bill = calculate(Membership("pu", DEC, wage=wage, risk_class="sedang", employer_size="menengah"), tree)
        expected += sum(v for k, v in bill.totals_by_payer.items() if k in ("employer", "worker"))
    assert billed(engine, f.va) == expected
    bpu_bill = calculate(Membership("bpu", DEC, income=2_000_000, programs=("jkk", "jkm", "jht")), tree)
    assert billed(engine, bpu_va) == bpu_bill.totals_by_payer.get("worker", 0) == 66_800
    with pytest.raises(RunNotPending), unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=r.run_id, checker="citra", tree=tree, decided_at=clock())


def test_rerun_is_idempotent_and_changes_become_reversal_plus_replacement(
    engine: Engine, tree: ParameterTree, clock: Clock
) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 6_000_000])
    first = run_and_approve(engine, tree, clock)
    again = run_and_approve(engine, tree, clock)
    assert again.status == "empty" and again.lines == 0
    before = billed(engine, f.va)
    mid = next(iter(f.workers.values()))
    with unit_of_work(engine) as s:
        reg.correct_membership(
            s,
            scope=EVERYTHING,
            membership_id=mid,
            valid_from=dt.date(2024, 10, 1),
            wage=5_500_000,
            recorded_at=clock.advance(days=1),
        )
    corrected = run_and_approve(engine, tree, clock)
    assert corrected.reversals > 0 and corrected.lines == 2 * corrected.reversals
    with unit_of_work(engine) as s:
        lines = s.execute(select(lt.bill_line).where(lt.bill_line.c.run_id == corrected.run_id)).all()
        assert {ln.membership_id for ln in lines} == {mid}
        assert sum(ln.amount for ln in lines if ln.entry == 1) == -sum(
            ln.amount
            for ln in s.execute(select(lt.bill_line).where(lt.bill_line.c.run_id == first.run_id)).all()
            if ln.membership_id == mid
            and ln.amount
            and any((ln.program, ln.payer, ln.kind, ln.seq) == (x.program, x.payer, x.kind, x.seq) for x in lines)
        )
    delta = calculate(Membership("pu", DEC, wage=5_500_000, risk_class="sedang", employer_size="menengah"), tree)
    old = calculate(Membership("pu", DEC, wage=5_000_000, risk_class="sedang", employer_size="menengah"), tree)
    payable = ("employer", "worker")
    assert billed(engine, f.va) - before == sum(
        delta.totals_by_payer.get(k, 0) - old.totals_by_payer.get(k, 0) for k in payable
    )
    assert run_and_approve(engine, tree, clock).lines == 0


def test_back_dated_exit_reverses_the_month(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000])
    run_and_approve(engine, tree, clock)
    mid = next(iter(f.workers.values()))
    with unit_of_work(engine) as s:
        reg.exit_membership(
            s,
            scope=EVERYTHING,
            membership_id=mid,
            exit_date=dt.date(2024, 11, 30),
            reason="dismissal",
            recorded_at=clock.advance(days=1),
        )
    r = run_and_approve(engine, tree, clock)
    assert r.reversals == r.lines > 0
    assert billed(engine, f.va) == 0


def test_exception_list_holds_back_problem_memberships(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        no_class = firm(s, clock(), wages=[5_000_000], sector="T", first_serial=1)  # no risk class for households
        low = firm(s, clock(), wages=[1_500_000], sector="C", first_serial=10)  # below Maluku Utara's minimum
        ok = firm(s, clock(), wages=[5_000_000], sector="C", first_serial=20, size="kecil")
        n = nik(30)
        reg.register_worker(
            s, scope=EVERYTHING, nik=n, name="Tanpa JHT", valid_from=dt.date(2024, 1, 1), recorded_at=clock()
        )
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=n,
            segment="pu",
            npp=ok.npp,
            wage=5_000_000,
            programs=["jkk", "jkm"],
            valid_from=dt.date(2024, 1, 1),
            recorded_at=clock(),
        )
    with unit_of_work(engine) as s:
        r = led.run_billing(s, scope=EVERYTHING, period=DEC, maker="ani", tree=tree, started_at=clock())
        report = led.run_report(s, scope=EVERYTHING, run_id=r.run_id)
    codes = {(e["nik"], e["code"]) for e in report["exception_list"]}
    assert codes == {
        (next(iter(no_class.workers)), "missing_risk_class"),
        (next(iter(low.workers)), "wage_below_minimum"),
        (n, "program_required_by_size"),
    }
    assert r.memberships == 1 and r.exception_counts["wage_below_minimum"] == 1
    with unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=r.run_id, checker="budi", tree=tree, decided_at=clock())
        reg.change_employer(
            s,
            scope=EVERYTHING,
            npp=no_class.npp,
            valid_from=dt.date(2024, 1, 1),
            risk_class="rendah",
            recorded_at=clock.advance(hours=1),
        )
    fixed = run_and_approve(engine, tree, clock)
    assert fixed.memberships == 2 and fixed.exceptions == 2 and billed(engine, no_class.va) > 0


def test_declarations_validated_whole_versioned_and_followed(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000, 6_000_000])
    a, b = list(f.workers)
    bad = f"nik,wage\n{a},5.000.000\n{a},1\n{nik(99)},abc\n".encode()
    with pytest.raises(InvalidInput) as exc, unit_of_work(engine) as s:
        led.declare_wages(
            s,
            scope=EVERYTHING,
            npp=f.npp,
            period=DEC,
            table=read_table(bad, "dec.csv"),
            recorded_at=clock(),
            recorded_by="hr",
        )
    assert {(p.row, p.field) for p in exc.value.problems} == {(3, "nik"), (4, "nik"), (4, "wage")}
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(lt.declaration)) == 0
    run_and_approve(engine, tree, clock)
    before = billed(engine, f.va)
    good = f"nik,wage\n{a},5000000\n{b},7000000\n".encode()
    for expected_version in (1, 1):
        with unit_of_work(engine) as s:
            d = led.declare_wages(
                s,
                scope=EVERYTHING,
                npp=f.npp,
                period=DEC,
                table=read_table(good, "dec.csv"),
                recorded_at=clock.advance(minutes=1),
                recorded_by="hr",
            )
        assert d.version == expected_version
    r = run_and_approve(engine, tree, clock)
    assert r.reversals > 0
    six = calculate(Membership("pu", DEC, wage=6_000_000, risk_class="sedang", employer_size="menengah"), tree)
    seven = calculate(Membership("pu", DEC, wage=7_000_000, risk_class="sedang", employer_size="menengah"), tree)
    diff = sum(seven.totals_by_payer.get(k, 0) - six.totals_by_payer.get(k, 0) for k in ("employer", "worker"))
    assert billed(engine, f.va) - before == diff
    xlsx = _xlsx([["nik", "wage"], [a, 5000000], [b, 8000000]])
    with unit_of_work(engine) as s:
        d = led.declare_wages(
            s,
            scope=EVERYTHING,
            npp=f.npp,
            period=DEC,
            table=read_table(xlsx, "dec.xlsx"),
            recorded_at=clock.advance(minutes=1),
            recorded_by="hr",
        )
    assert d.version == 2 and d.rows == 2


def _xlsx(rows: list[list[object]]) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_upfront_segments_and_sponsors(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[5_000_000], sector="F")
        reg.register_project(
            s,
            scope=EVERYTHING,
            code="JLN-1",
            npp=f.npp,
            name="Jalan desa",
            contract_value=750_000_000,
            spk_date=dt.date(2024, 11, 20),
            start_date=dt.date(2024, 12, 1),
            end_date=dt.date(2025, 5, 31),
            regency_code="8271",
            recorded_at=clock(),
        )
        builder = nik(40)
        reg.register_worker(
            s, scope=EVERYTHING, nik=builder, name="Tukang", valid_from=dt.date(2024, 12, 1), recorded_at=clock()
        )
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=builder,
            segment="jakon",
            project_code="JLN-1",
            valid_from=dt.date(2024, 12, 1),
            recorded_at=clock(),
        )
        sponsor = reg.register_sponsor(
            s, scope=EVERYTHING, code="APBD-8271", name="Pemkot Ternate", payer_source="apbd", recorded_at=clock()
        )
        bpu(s, clock(), 60, sponsor_code="APBD-8271", ecosystem="pekerja_rentan")
        migrant = nik(70, female=True)
        reg.register_worker(
            s, scope=EVERYTHING, nik=migrant, name="PMI", valid_from=dt.date(2024, 12, 1), recorded_at=clock()
        )
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=migrant,
            segment="pmi",
            contract_months=24,
            valid_from=dt.date(2024, 12, 1),
            recorded_at=clock(),
        )
    first = run_and_approve(engine, tree, clock)
    assert first.projects == 1
    jakon = calculate(Membership("jakon", DEC, contract_value=750_000_000), tree).totals_by_payer.get("employer", 0)
    pu = calculate(Membership("pu", DEC, wage=5_000_000, risk_class="sangat_tinggi", employer_size="menengah"), tree)
    assert billed(engine, f.va) == jakon + pu.totals_by_payer.get("employer", 0) + pu.totals_by_payer.get("worker", 0)
    assert billed(engine, sponsor.va_number) == 16_800
    with unit_of_work(engine) as s:
        migrant_va = reg.worker_profile(s, scope=EVERYTHING, nik=migrant, known_at=clock())["va_number"]
    assert billed(engine, migrant_va) == calculate(
        Membership("pmi", DEC, contract_months=24), tree
    ).totals_by_payer.get("worker", 0)
    jan = run_and_approve(engine, tree, clock, Period(2025, 1))
    assert jan.projects == 0  # upfront bills are not repeated
    assert billed(engine, migrant_va) == calculate(
        Membership("pmi", DEC, contract_months=24), tree
    ).totals_by_payer.get("worker", 0)
    assert billed(engine, sponsor.va_number) == 2 * 16_800
    with unit_of_work(engine) as s:
        lines = s.execute(select(lt.bill_line).where(lt.bill_line.c.project_id.is_not(None))).all()
        assert {(ln.cover_from, ln.cover_to) for ln in lines} == {(DEC.ordinal, Period(2025, 5).ordinal)}
        assert all(ln.program in (c.JKK, c.JKM) for ln in lines)


def test_superseded_draft_cannot_be_approved(engine: Engine, tree: ParameterTree, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        firm(s, clock(), wages=[5_000_000])
    with unit_of_work(engine) as s:
        old = led.run_billing(s, scope=EVERYTHING, period=DEC, maker="ani", tree=tree, started_at=clock())
        new = led.run_billing(
            s, scope=EVERYTHING, period=DEC, maker="ani", tree=tree, started_at=clock.advance(minutes=1)
        )
    with pytest.raises(RunNotPending), unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=old.run_id, checker="budi", tree=tree, decided_at=clock())
    with unit_of_work(engine) as s:
        led.approve_run(s, scope=EVERYTHING, run_id=new.run_id, checker="budi", tree=tree, decided_at=clock())
        assert [r["status"] for r in led.list_runs(s, period=DEC)] == ["superseded", "approved"]
