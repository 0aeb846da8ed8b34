"""Registry rules without storage: NIK checks, KPJ/NPP/virtual-account numbers, name keys, duplicates, and the
checks of an employer's and a membership's fields (made before any lookup)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.id import nik as stdnum_nik

from jamsos.kernel import limits
from jamsos.kernel.errors import FieldProblem
from jamsos.rules import codes as c

SEXES = ("M", "F")
LEGAL_FORMS = ("pt", "cv", "firma", "koperasi", "yayasan", "perorangan", "bumn", "bumd", "instansi", "lainnya")


def nik_problems(
    nik: str, birth_date: dt.date | None, sex: str | None, known_provinces: Iterable[str] = ()
) -> list[FieldProblem]:
    """Problems with a NIK, checked with python-stdnum, and with the birth date and sex it encodes.

    python-stdnum also checks the province and regency against its list; a NIK whose region is
    missing there is still accepted when its province is in ``known_provinces`` (NIKs keep the
    codes they were issued with; DOMAIN §7).
    """
    problems: list[FieldProblem] = []
    if not re.fullmatch(r"\d{16}", nik):
        return [FieldProblem("nik", "must be 16 digits", value=nik)]
    try:
        stdnum_nik.validate(nik)
    except ValidationError as exc:
        try:
            stdnum_nik.get_birth_date(nik)
        except ValidationError:
            return [
                FieldProblem("nik", "digits 7-12 are not a valid birth date (DDMMYY, day + 40 for women)", value=nik)
            ]
        if nik[:2] not in set(known_provinces):
            problems.append(FieldProblem("nik", f"unknown province/regency code {nik[:4]} ({exc})", value=nik))
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if birth_date is not None and (birth_date.day, birth_date.month, birth_date.year % 100) != (day % 40, month, year):
        problems.append(
            FieldProblem("birth_date", f"does not agree with the NIK ({nik[6:12]})", value=birth_date.isoformat())
        )
    if sex is not None:
        expected = "F" if day > 40 else "M"
        if sex not in SEXES:
            problems.append(FieldProblem("sex", "must be M or F", value=sex))
        elif sex != expected:
            problems.append(
                FieldProblem("sex", f"does not agree with the NIK (day {nik[6:8]} means {expected})", value=sex)
            )
    return problems


def birth_date_from_nik(nik: str, today: dt.date) -> dt.date:
    """The birth date a NIK encodes, taking the century that puts it in the past."""
    day, month, yy = int(nik[6:8]) % 40, int(nik[8:10]), int(nik[10:12])
    year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    return dt.date(year, month, day)


def sex_from_nik(nik: str) -> str:
    return "F" if int(nik[6:8]) > 40 else "M"


KPJ_OFFSET = 1_000_000_000


def make_kpj(sequence: int) -> str:
    """The 11-digit participant number: a 10-digit serial (from 1000000001) and a Luhn check digit."""
    body = f"{KPJ_OFFSET + sequence:010d}"
    if len(body) != 10:
        raise ValueError("KPJ sequence exhausted")
    return body + luhn.calc_check_digit(body)


def kpj_is_valid(kpj: str) -> bool:
    return len(kpj) == 11 and kpj.isdigit() and luhn.is_valid(kpj)


def make_npp(sequence: int) -> str:
    """A generated employer number (NPP is opaque at the agency; jamsos makes 'JS' + 8 digits)."""
    return f"JS{sequence:08d}"


def make_va(kind: str, sequence: int) -> str:
    """A 14-digit virtual-account number: '88', a kind digit, 10 digits and a Luhn check digit."""
    body = "88" + {"employer": "1", "participant": "2", "sponsor": "3"}[kind] + f"{sequence:010d}"
    return body + luhn.calc_check_digit(body)


def name_key(name: str) -> str:
    """Name folded for duplicate search: no accents, titles or punctuation, single spaces, upper case."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z ]+", " ", text.replace(".", "")).upper()
    words = [w for w in text.split() if w not in {"H", "HJ", "IR", "DR", "DRS", "SH", "SE", "ST"}]
    return " ".join(words)


def transpositions(nik: str) -> set[str]:
    """NIKs that differ from ``nik`` by swapping two adjacent digits."""
    out = set()
    for i in range(len(nik) - 1):
        if nik[i] != nik[i + 1]:
            out.add(nik[:i] + nik[i + 1] + nik[i] + nik[i + 2 :])
    return out


@dataclass(frozen=True)
class LikelyDuplicate:
    """Two registered workers who may be the same person, and why."""

    reason: str
    nik_a: str
    nik_b: str
    name_a: str
    name_b: str
    birth_date_a: dt.date
    birth_date_b: dt.date


def month_covered_on(exit_date: dt.date) -> dt.date:
    """An exit takes effect after the month in which it happens: the first day of the next month."""
    return (exit_date.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Scope:
    """The records one may see: everything, the records of some branches (a branch officer's branch or a
    Kanwil's branches), one employer's (its NPP: itself, its workers), or one worker's own (their NIK)."""

    branches: frozenset[str] | None = None
    npp: str | None = None
    nik: str | None = None

    @property
    def everything(self) -> bool:
        return self.branches is None and self.npp is None and self.nik is None


EVERYTHING = Scope()


# ---- field checks made before any lookup -------------------------------------------------------
def choice_problems(field: str, value: Any, choices: tuple[str, ...], *, optional: bool = False) -> list[FieldProblem]:
    """A problem when ``value`` is not one of ``choices`` (None is fine when ``optional``)."""
    if (optional and value is None) or value in choices:
        return []
    return [FieldProblem(field, f"expected one of {', '.join(choices)}", value=value)]


MEMBERSHIP_AMOUNTS = {
    "wage": limits.MAX_MONTHLY_AMOUNT,
    "income": limits.MAX_MONTHLY_AMOUNT,
    "jht_amount": limits.MAX_MONTHLY_AMOUNT,
    "contract_months": limits.MAX_CONTRACT_MONTHS,
}


def employer_problems(fields: dict[str, Any]) -> list[FieldProblem]:
    problems = []
    if not str(fields.get("name") or "").strip():
        problems.append(FieldProblem("name", "must not be empty"))
    problems += choice_problems("legal_form", fields.get("legal_form"), LEGAL_FORMS)
    problems += choice_problems("size_class", fields.get("size_class"), c.EMPLOYER_SIZES)
    problems += choice_problems("risk_class", fields.get("risk_class"), c.RISK_CLASSES, optional=True)
    for eco in fields.get("ecosystems") or ():
        problems += choice_problems("ecosystems", eco, c.ECOSYSTEMS)
    return problems


# ---- memberships -----------------------------------------------------------------------------
MEMBERSHIP_FIELDS = (
    "wage",
    "income",
    "programs",
    "payer_source",
    "sponsor_id",
    "ecosystem",
    "channel",
    "agent",
    "transport",
    "contract_months",
    "jht_amount",
)


def membership_problems(segment: str, fields: dict[str, Any]) -> list[FieldProblem]:
    source = fields["payer_source"]
    problems = choice_problems("payer_source", source, c.PAYER_SOURCES)
    for name in ("wage", "income", "contract_months", "jht_amount"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            problems.append(FieldProblem(name, "must be a whole number, not negative", value=value))
    if segment == "pu":
        if not fields.get("wage"):
            problems.append(FieldProblem("wage", "a PU membership needs the monthly wage"))
        if source != "employer":
            problems.append(
                FieldProblem("payer_source", "PU contributions are paid through the employer", value=source)
            )
    elif segment == "bpu":
        if not fields.get("income"):
            problems.append(FieldProblem("income", "a BPU membership needs the declared monthly income"))
        if source == "employer":
            problems.append(FieldProblem("payer_source", "a BPU participant has no employer", value=source))
    elif segment == "pmi" and not fields.get("contract_months"):
        problems.append(FieldProblem("contract_months", "a PMI membership needs the placement contract length"))
    return problems + choice_problems("ecosystem", fields.get("ecosystem"), c.ECOSYSTEMS, optional=True)
