"""Registry rules without a database: NIK checks, KPJ and account numbers, name keys, transpositions."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.id import nik as stdnum_nik

from jamsos.registry import domain as d
from jamsos.synth.operations import make_niks


def test_valid_nik_with_matching_birth_date_and_sex() -> None:
    assert d.nik_problems("8271011708850001", dt.date(1985, 8, 17), "M") == []
    assert d.nik_problems("8271015708850001", dt.date(1985, 8, 17), "F") == []


def test_nik_problems_name_the_field() -> None:
    assert [p.field for p in d.nik_problems("82710117088500", None, None)] == ["nik"]
    assert [p.field for p in d.nik_problems("8271011708850001", dt.date(1985, 8, 18), None)] == ["birth_date"]
    assert [p.field for p in d.nik_problems("8271011708850001", None, "F")] == ["sex"]
    assert "birth date" in d.nik_problems("8271013208850001", None, None)[0].message  # day 32: no such date


def test_region_unknown_to_stdnum_is_accepted_when_the_province_is_known() -> None:
    unknown_regency = "9301011708850001"
    assert not stdnum_nik.is_valid(unknown_regency)
    assert d.nik_problems(unknown_regency, None, None, known_provinces={"93"}) == []
    assert [p.field for p in d.nik_problems(unknown_regency, None, None, known_provinces=set())] == ["nik"]


def test_birth_date_and_sex_from_nik() -> None:
    assert d.birth_date_from_nik("8271015708050001", dt.date(2025, 1, 1)) == dt.date(2005, 8, 17)
    assert d.birth_date_from_nik("8271015708850001", dt.date(2025, 1, 1)) == dt.date(1985, 8, 17)
    assert d.sex_from_nik("8271015708850001") == "F"


@given(st.integers(min_value=1, max_value=8_999_999_999))
def test_kpj_has_11_digits_and_a_luhn_check(seq: int) -> None:
    kpj = d.make_kpj(seq)
    assert len(kpj) == 11 and kpj.isdigit() and d.kpj_is_valid(kpj)
    assert not d.kpj_is_valid(kpj[:-1] + str((int(kpj[-1]) + 1) % 10))


def test_virtual_accounts_differ_by_kind_and_check_out() -> None:
    vas = {d.make_va(kind, 7) for kind in ("employer", "participant", "sponsor")}
    assert len(vas) == 3 and all(luhn.is_valid(v) and len(v) == 14 for v in vas)


def test_name_key_folds_case_accents_titles() -> None:
    assert d.name_key("Hj. Siti  Aminah, S.E.") == d.name_key("SITI AMINAH") == "SITI AMINAH"


def test_transpositions() -> None:
    assert {"2134", "1324", "1243"} == d.transpositions("1234")
    assert "1234" not in d.transpositions("1234")
    assert d.transpositions("1111") == set()


def test_exit_takes_effect_the_next_month() -> None:
    assert d.month_covered_on(dt.date(2024, 12, 20)) == dt.date(2025, 1, 1)
    assert d.month_covered_on(dt.date(2024, 1, 31)) == dt.date(2024, 2, 1)


def test_synthetic_niks_are_valid_for_stdnum_and_agree_with_birth_and_sex() -> None:
    import numpy as np

    niks, births, sexes = make_niks(np.random.default_rng(1), ["8271", "3171", "1101"], 500, dt.date(2025, 1, 1))
    assert len(set(niks)) == 500
    for n, b, s in zip(niks, births, sexes, strict=True):
        assert stdnum_nik.is_valid(n)
        assert d.nik_problems(n, b, s) == []
