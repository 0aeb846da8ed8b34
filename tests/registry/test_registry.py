"""Registry on a real store (SQLite and PostgreSQL): registration, conflicts, two time axes, imports."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, func, select
from tests.conftest import Clock
from tests.scenario import firm, nik

from jamsos.infra.db import unit_of_work
from jamsos.infra.files import read_table
from jamsos.kernel.errors import InvalidInput, NotFound
from jamsos.kernel.period import Period
from jamsos.registry import imports, reference
from jamsos.registry import service as reg
from jamsos.registry import tables as t
from jamsos.registry.domain import EVERYTHING
from jamsos.registry.errors import DuplicateMembership, DuplicateNik

pytestmark = pytest.mark.integration


def test_employer_gets_npp_account_branch_and_sector_risk_class(engine: Engine, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        ternate = reg.register_employer(
            s, scope=EVERYTHING, name="PT Pala", legal_form="pt", sector="G", size_class="kecil", regency_code="8271",
            valid_from=dt.date(2024, 1, 1), recorded_at=clock(),
        )  # fmt: skip
        labuha = reg.register_employer(
            s,
            scope=EVERYTHING,
            name="CV Tambang",
            legal_form="cv",
            sector="B",
            size_class="besar",
            regency_code="8204",
            valid_from=dt.date(2024, 1, 1),
            recorded_at=clock(),
        )
    assert ternate.branch_code == "KC-TERNATE" and labuha.branch_code == "KC-HALMAHERA-SELATAN"
    assert ternate.number != labuha.number and ternate.va_number != labuha.va_number
    with unit_of_work(engine) as s:
        assert (
            reg.employer_state(s, scope=EVERYTHING, npp=ternate.number, on=dt.date(2024, 6, 1), known_at=clock())[
                "risk_class"
            ]
            == "rendah"
        )
        assert reg.employer_state(s, scope=EVERYTHING, npp=labuha.number, on=dt.date(2024, 6, 1), known_at=clock())[
            "risk_class"
        ] == ("sangat_tinggi")


def test_worker_registration_checks_nik_and_gives_kpj(engine: Engine, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        w = reg.register_worker(
            s, scope=EVERYTHING, nik=nik(1), name="Budi", valid_from=dt.date(2024, 1, 1), recorded_at=clock()
        )
        assert len(w.number) == 11
        profile = reg.worker_profile(s, scope=EVERYTHING, nik=nik(1), known_at=clock())
        assert (
            profile["birth_date"] == dt.date(1985, 8, 17)
            and profile["sex"] == "M"
            and profile["regency_code"] == "8271"
        )
    with pytest.raises(InvalidInput) as bad, unit_of_work(engine) as s:
        reg.register_worker(
            s,
            scope=EVERYTHING,
            nik=nik(2),
            name="X",
            valid_from=dt.date(2024, 1, 1),
            recorded_at=clock(),
            birth_date=dt.date(1985, 8, 18),
            sex="F",
        )
    assert {p.field for p in bad.value.problems} == {"birth_date", "sex"}


def test_second_registration_of_a_nik_is_a_conflict(engine: Engine, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        reg.register_worker(
            s, scope=EVERYTHING, nik=nik(1), name="Budi", valid_from=dt.date(2024, 1, 1), recorded_at=clock()
        )
    with pytest.raises(DuplicateNik), unit_of_work(engine) as s:
        reg.register_worker(
            s, scope=EVERYTHING, nik=nik(1), name="Budi S", valid_from=dt.date(2024, 1, 1), recorded_at=clock()
        )
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(t.worker)) == 1


def test_concurrent_registrations_of_one_nik_exactly_one_wins(engine: Engine, clock: Clock) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            with unit_of_work(engine) as s:
                reg.register_worker(
                    s,
                    scope=EVERYTHING,
                    nik=nik(7),
                    name=f"Same person {i}",
                    valid_from=dt.date(2024, 1, 1),
                    recorded_at=clock(),
                )
            outcomes.append("ok")
        except DuplicateNik:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(t.worker).where(t.worker.c.nik == nik(7))) == 1


def test_retroactive_wage_and_what_was_known_when(engine: Engine, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[4_000_000])
    mid = next(iter(f.workers.values()))
    before = clock()
    later = clock.advance(days=40)
    with unit_of_work(engine) as s:
        reg.correct_membership(
            s, scope=EVERYTHING, membership_id=mid, valid_from=dt.date(2024, 10, 1), wage=4_500_000, recorded_at=later
        )
    with unit_of_work(engine) as s:

        def wage(month: str, known_at: dt.datetime) -> int:
            state = reg.membership_state(
                s, scope=EVERYTHING, membership_id=mid, month=Period.parse(month), known_at=known_at
            )
            assert state is not None
            return int(state["wage"])

        assert wage("2024-11", before) == 4_000_000  # what we knew on day X about November
        assert wage("2024-11", later) == 4_500_000  # what we know now
        assert wage("2024-09", later) == 4_000_000  # before the correction's valid period
        assert len(reg.membership_history(s, scope=EVERYTHING, membership_id=mid, known_at=clock())) == 2


def test_back_dated_exit_keeps_the_exit_month_and_ends_the_next(engine: Engine, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[4_000_000])
    mid = next(iter(f.workers.values()))
    with unit_of_work(engine) as s:
        reg.exit_membership(
            s,
            scope=EVERYTHING,
            membership_id=mid,
            exit_date=dt.date(2024, 11, 20),
            reason="resignation",
            recorded_at=clock.advance(hours=1),
        )
    with unit_of_work(engine) as s:
        assert (
            reg.membership_state(s, scope=EVERYTHING, membership_id=mid, month=Period(2024, 11), known_at=clock())
            is not None
        )
        assert (
            reg.membership_state(s, scope=EVERYTHING, membership_id=mid, month=Period(2024, 12), known_at=clock())
            is None
        )
        assert reg.membership_state(
            s, scope=EVERYTHING, membership_id=mid, month=Period(2024, 12), known_at=clock() - dt.timedelta(minutes=30)
        )
    with pytest.raises(InvalidInput), unit_of_work(engine) as s:
        reg.exit_membership(
            s,
            scope=EVERYTHING,
            membership_id=mid,
            exit_date=dt.date(2024, 12, 1),
            reason="retired",
            recorded_at=clock(),
        )


def test_enrolment_rules_and_duplicates(engine: Engine, clock: Clock) -> None:
    with unit_of_work(engine) as s:
        f = firm(s, clock(), wages=[4_000_000])
    n = next(iter(f.workers))
    with pytest.raises(DuplicateMembership), unit_of_work(engine) as s:
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=n,
            segment="pu",
            npp=f.npp,
            wage=5_000_000,
            valid_from=dt.date(2024, 2, 1),
            recorded_at=clock(),
        )
    with pytest.raises(InvalidInput) as bad, unit_of_work(engine) as s:
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=n,
            segment="bpu",
            valid_from=dt.date(2024, 2, 1),
            recorded_at=clock(),
            payer_source="apbd",
        )
    assert {p.field for p in bad.value.problems} >= {"income", "sponsor_code"}
    with pytest.raises(NotFound), unit_of_work(engine) as s:
        reg.enrol(
            s,
            scope=EVERYTHING,
            nik=nik(999),
            segment="bpu",
            income=1,
            valid_from=dt.date(2024, 2, 1),
            recorded_at=clock(),
        )


def test_likely_duplicates_same_name_birth_and_transposed_nik(engine: Engine, clock: Clock) -> None:
    born = dt.date(1985, 8, 17)
    with unit_of_work(engine) as s:
        reg.register_worker(s, scope=EVERYTHING, nik=nik(1), name="Siti Aminah", valid_from=born, recorded_at=clock())
        reg.register_worker(
            s, scope=EVERYTHING, nik="8271021708850009", name="SITI AMINAH", valid_from=born, recorded_at=clock()
        )
        reg.register_worker(
            s, scope=EVERYTHING, nik="8271011708850010", name="Agus", valid_from=born, recorded_at=clock()
        )
        reg.register_worker(
            s, scope=EVERYTHING, nik="8271011708850100", name="Agus Salim", valid_from=born, recorded_at=clock()
        )
        reg.register_worker(s, scope=EVERYTHING, nik=nik(55), name="Rina", valid_from=born, recorded_at=clock())
        found = reg.likely_duplicates(s, scope=EVERYTHING, known_at=clock())
    pairs = {(d.reason, frozenset((d.nik_a, d.nik_b))) for d in found}
    assert ("same name and birth date", frozenset((nik(1), "8271021708850009"))) in pairs
    assert ("NIK digits transposed", frozenset(("8271011708850010", "8271011708850100"))) in pairs
    assert not any(nik(55) in p for _, p in pairs)


def _csv(text: str, name: str = "f.csv") -> object:
    return read_table(text.encode(), name)


def test_bulk_import_is_all_or_nothing_with_row_and_column(engine: Engine, clock: Clock) -> None:
    good = nik(1)
    workers = f"nik,name,valid_from\n{good},Budi,2024-01-01\n8271011708850002,Ani,2024-13-01\n12345,X,2024-01-01\n"
    with pytest.raises(InvalidInput) as bad, unit_of_work(engine) as s:
        imports.import_workers(
            s, scope=EVERYTHING, table=read_table(workers.encode(), "w.csv"), recorded_at=clock(), recorded_by="t"
        )
    where = {(p.row, p.field) for p in bad.value.problems}
    assert (3, "valid_from") in where and (4, "nik") in where
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(t.worker)) == 0
    ok = f"nik,name,valid_from\n{good},Budi,2024-01-01\n"
    for _ in range(2):  # importing again registers nothing twice
        with unit_of_work(engine) as s:
            imports.import_workers(
                s, scope=EVERYTHING, table=read_table(ok.encode(), "w.csv"), recorded_at=clock(), recorded_by="t"
            )
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(t.worker)) == 1
        # single registrations after a bulk import continue the id sequences
        reg.register_worker(
            s, scope=EVERYTHING, nik=nik(2), name="Ani", valid_from=dt.date(2024, 1, 1), recorded_at=clock()
        )


def test_reference_reload_validates_and_protects_codes_in_use(engine: Engine, clock: Clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "branches.csv").write_text("code,name,kanwil_code\nKC-X,KC X,nowhere\n")
    with pytest.raises(InvalidInput) as bad, unit_of_work(engine) as s:
        reference.load_reference(s, tmp_path)
    assert any(p.field == "kanwil_code" and p.row == 2 for p in bad.value.problems)
    with unit_of_work(engine) as s:
        firm(s, clock(), wages=[4_000_000])
        assert reference.office_of_regency(s, "8271") == ("KC-TERNATE", "sulama")
        counts = reference.load_reference(s)  # reloading the defaults changes nothing in use
    assert counts["branches"] >= 100 and counts["kanwil"] == 11


def test_search_text_is_matched_literally(engine: Engine, clock: Clock) -> None:
    """A user's % and _ are not wildcards (they matched every name before)."""
    with unit_of_work(engine) as s:
        for i, name in enumerate(("Siti 100% Aminah", "Budi Santoso", "Ani_Wati")):
            reg.register_worker(
                s, nik=nik(60 + i), name=name, valid_from=dt.date(2024, 1, 1), recorded_at=clock(), scope=EVERYTHING
            )

        def names(q: str) -> list[str]:
            return [r["name"] for r in reg.search(s, text=q, known_at=clock(), scope=EVERYTHING)]

        assert names("%") == ["Siti 100% Aminah"]
        assert names("_") == ["Ani_Wati"]
        assert names("i_w") == ["Ani_Wati"] and names("a_w") == []
        assert names("budi") == ["Budi Santoso"]
