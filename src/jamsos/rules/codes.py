"""Codes of the contribution domain (segments, programs, payers, classes) and their integer forms in arrays."""

from __future__ import annotations

from collections.abc import Iterable

from jamsos.kernel.errors import FieldProblem, InvalidInput

SEGMENTS: tuple[str, ...] = ("pu", "bpu", "jakon", "pmi")
PU, BPU, JAKON, PMI = range(4)

# Program bits; JKK_JKM is the PMI package that covers both (Permenaker 4/2023 does not split it).
PROGRAMS: tuple[str, ...] = ("jkk", "jkm", "jht", "jp", "jkp")
PROGRAM_LABELS: tuple[str, ...] = ("JKK", "JKM", "JHT", "JP", "JKP", "JKK+JKM")
JKK, JKM, JHT, JP, JKP, JKK_JKM = range(6)
BIT = {code: 1 << i for i, code in enumerate(PROGRAMS)}

RISK_CLASSES: tuple[str, ...] = ("sangat_rendah", "rendah", "sedang", "tinggi", "sangat_tinggi")
EMPLOYER_SIZES: tuple[str, ...] = ("mikro", "kecil", "menengah", "besar")

# The outreach ecosystems a membership was acquired through (none for most); the agency's steering splits.
ECOSYSTEMS: tuple[str, ...] = ("desa", "pasar", "e_commerce", "ukm", "pekerja_rentan")

# Why a membership ended.
EXIT_REASONS: tuple[str, ...] = ("resignation", "dismissal", "death", "end_of_project", "end_of_placement")

# Who pays a line. A BPU or PMI paying for themselves is the "worker".
PAYERS: tuple[str, ...] = ("employer", "worker", "government", "third_party")
EMPLOYER, WORKER, GOVERNMENT, THIRD_PARTY = range(4)

# Where the money of a membership comes from; mapped to a payer.
PAYER_SOURCES: tuple[str, ...] = ("self", "employer", "apbn", "apbd", "apbdes", "csr", "donor")
SOURCE_PAYER: tuple[int, ...] = (WORKER, EMPLOYER, GOVERNMENT, THIRD_PARTY, THIRD_PARTY, THIRD_PARTY, THIRD_PARTY)
SOURCE_SELF, SOURCE_EMPLOYER = 0, 1
# The sources that are a sponsor (a local budget, a village fund, CSR, a donor): a membership they pay names it.
SPONSOR_SOURCES: tuple[str, ...] = ("apbd", "apbdes", "csr", "donor")

LINE_KINDS: tuple[str, ...] = ("contribution", "recomposition_out", "recomposition_in", "relief", "deferral")
CONTRIBUTION, RECOMPOSITION_OUT, RECOMPOSITION_IN, RELIEF, DEFERRAL = range(5)

MISSING = -1


def _normalise(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def code_of(field: str, text: str, choices: tuple[str, ...]) -> int:
    """Index of ``text`` in ``choices`` (hyphens and case tolerated); a clear error otherwise."""
    norm = _normalise(text)
    try:
        return choices.index(norm)
    except ValueError:
        shown = ", ".join(c.replace("_", "-") for c in choices)
        raise InvalidInput([FieldProblem(field, f"unknown value; expected one of {shown}", value=text)]) from None


def program_mask(field: str, codes: Iterable[str]) -> int:
    """Bit mask of program codes such as ``["jkk", "jkm", "jht"]``."""
    mask = 0
    for code in codes:
        mask |= 1 << code_of(field, code, PROGRAMS)
    return mask


def programs_of(mask: int) -> list[str]:
    return [p for i, p in enumerate(PROGRAMS) if mask & (1 << i)]
