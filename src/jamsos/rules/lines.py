"""Bill lines and the batch they are computed from: the columns of memberships, the lines with their legal basis
(citations), a computation's problems, and exact rate arithmetic (a rate is an integer over 10^8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from jamsos.kernel.errors import FieldProblem
from jamsos.rules import codes as c

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]

RATE_SCALE = 10**8
NO_RATE = np.iinfo(np.int32).min
NO_BASIS = -1
MAX_WAGE = 10**11  # int64 safety bound (Rp100 billion a month), not a rule
MAX_CONTRACT_VALUE = 10**13  # int64 safety bound (Rp10 trillion), not a rule
_MAX_LISTED = 1000


def rate_units(rate: Decimal) -> int:
    """A rate as an exact integer numerator over RATE_SCALE."""
    units = rate * RATE_SCALE
    if units != units.to_integral_value():
        raise ValueError(f"rate {rate} has more than 8 decimals")
    return int(units)


def apply_rate(basis: Any, units: Any) -> Any:
    """round_half_up(basis x rate) in whole rupiah for non-negative inputs, exact in int64 (general.rounding)."""
    b, u = np.asarray(basis, dtype=np.int64), np.asarray(units, dtype=np.int64)
    if b.size and u.size and int(b.max()) * int(u.max()) > np.iinfo(np.int64).max - RATE_SCALE:
        raise OverflowError("basis x rate exceeds int64; inputs exceed the supported bounds")
    return (b * u + RATE_SCALE // 2) // RATE_SCALE


def rate_text(units: int) -> str | None:
    """The decimal text of a rate numerator (``5400`` -> ``"0.0054"``); None for flat amounts."""
    if units == NO_RATE:
        return None
    text = format((Decimal(units) / RATE_SCALE).normalize(), "f")
    return text


def _col(n: int, value: Any, dtype: Any) -> Any:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"column length {arr.shape} differs from {n}")
    return arr


@dataclass
class MembershipBatch:
    """Memberships to bill, one per row, as integer-coded arrays (see ``rules.codes``).

    ``programs`` is a bit mask of elected programs; 0 means the default for the segment
    (PU: what the employer size requires; others: the minimum package). JKP is never elected:
    it is added for PU where the prerequisites are held. Zero wage/income/contract means "not given".
    """

    segment: I8
    period: I32
    wage: I64
    income: I64
    risk_class: I8
    employer_size: I8
    programs: npt.NDArray[np.uint8]
    payer_source: I8
    transport: B
    labour_intensive: B
    contract_value: I64
    contract_months: npt.NDArray[np.int16]
    jht_amount: I64

    @classmethod
    def build(
        cls,
        segment: Any,
        period: Any,
        *,
        n: int | None = None,
        wage: Any = 0,
        income: Any = 0,
        risk_class: Any = c.MISSING,
        employer_size: Any = c.MISSING,
        programs: Any = 0,
        payer_source: Any = c.MISSING,
        transport: Any = False,
        labour_intensive: Any = False,
        contract_value: Any = 0,
        contract_months: Any = 0,
        jht_amount: Any = 0,
    ) -> MembershipBatch:
        """Build from arrays or scalars (scalars are broadcast). Periods are ``Period.ordinal`` ints."""
        if n is None:
            n = int(np.asarray(segment).size if np.asarray(segment).ndim else np.asarray(period).size)
        seg = _col(n, segment, np.int8)
        src = _col(n, payer_source, np.int8)
        if (src == c.MISSING).any():
            default = np.where((seg == c.PU) | (seg == c.JAKON), c.SOURCE_EMPLOYER, c.SOURCE_SELF).astype(np.int8)
            src = np.where(src == c.MISSING, default, src).astype(np.int8)
        return cls(
            segment=seg,
            period=_col(n, period, np.int32),
            wage=_col(n, wage, np.int64),
            income=_col(n, income, np.int64),
            risk_class=_col(n, risk_class, np.int8),
            employer_size=_col(n, employer_size, np.int8),
            programs=_col(n, programs, np.uint8),
            payer_source=src,
            transport=_col(n, transport, np.bool_),
            labour_intensive=_col(n, labour_intensive, np.bool_),
            contract_value=_col(n, contract_value, np.int64),
            contract_months=_col(n, contract_months, np.int16),
            jht_amount=_col(n, jht_amount, np.int64),
        )

    def __len__(self) -> int:
        return int(self.segment.shape[0])


@dataclass(frozen=True)
class Citation:
    """The parameter value a line was computed from."""

    parameter: str
    start: str
    reference: str
    status: str


@dataclass
class BillLines:
    """Bill lines as columns; ``row`` points into the MembershipBatch (0-based)."""

    row: I32
    program: I8
    payer: I8
    kind: I8
    amount: I64
    rate: I32
    basis: I64
    cite: npt.NDArray[np.int16]
    citations: list[Citation] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.row.shape[0])

    def totals_by_payer(self) -> dict[str, int]:
        """Net amount each payer pays over all lines (payers with a non-zero total only)."""
        sums = np.zeros(len(c.PAYERS), dtype=np.int64)
        np.add.at(sums, self.payer.astype(np.intp), self.amount)
        return {c.PAYERS[i]: int(v) for i, v in enumerate(sums) if v != 0}

    def row_totals(self, n_rows: int) -> I64:
        order = np.argsort(self.row, kind="stable")
        rows, amounts = self.row[order], self.amount[order]
        out = np.zeros(n_rows, dtype=np.int64)
        if rows.size:
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            out[rows[starts]] = np.add.reduceat(amounts, starts)
        return out

    def unverified(self) -> B:
        flags = np.array([ct.status != "verified" for ct in self.citations], dtype=np.bool_)
        return flags[self.cite] if len(flags) else np.zeros(len(self), dtype=np.bool_)

    def to_arrow(self) -> pa.Table:
        """Lines as an Arrow table with dictionary-encoded labels and citations."""

        def dictionary(indices: Any, labels: list[str]) -> pa.DictionaryArray:
            return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(labels, pa.string()))

        rate = pa.array(self.rate, mask=self.rate == NO_RATE)
        basis = pa.array(self.basis, mask=self.basis == NO_BASIS)
        return pa.table(
            {
                "row": self.row,
                "program": dictionary(self.program.astype(np.int32), list(c.PROGRAM_LABELS)),
                "payer": dictionary(self.payer.astype(np.int32), list(c.PAYERS)),
                "kind": dictionary(self.kind.astype(np.int32), list(c.LINE_KINDS)),
                "amount": self.amount,
                "rate_units": rate,
                "basis": basis,
                "parameter": dictionary(self.cite, [ct.parameter for ct in self.citations]),
                "reference": dictionary(self.cite, [ct.reference for ct in self.citations]),
                "status": dictionary(self.cite, [ct.status for ct in self.citations]),
            }
        )

    def records(self) -> list[dict[str, Any]]:
        """Lines as plain dicts (for one membership or a small batch)."""
        out = []
        for i in range(len(self)):
            ct = self.citations[int(self.cite[i])]
            out.append(
                {
                    "row": int(self.row[i]),
                    "program": c.PROGRAM_LABELS[int(self.program[i])],
                    "payer": c.PAYERS[int(self.payer[i])],
                    "kind": c.LINE_KINDS[int(self.kind[i])],
                    "amount": int(self.amount[i]),
                    "rate": rate_text(int(self.rate[i])),
                    "basis": None if int(self.basis[i]) == NO_BASIS else int(self.basis[i]),
                    "reference": ct.reference,
                    "status": ct.status,
                    "parameter": ct.parameter,
                }
            )
        return out


@dataclass
class Computation:
    """Bill lines for the good rows of a batch, and the problems of the rejected ones (which make no lines).

    ``rejected`` marks every row with a problem; ``problems`` lists the first of them (bounded), and
    ``reason(row)`` gives a rejected row's first problem as ``"field: message"``."""

    lines: BillLines
    problems: list[FieldProblem]
    rejected: B
    _first: npt.NDArray[np.int32]
    _kinds: list[tuple[str, str]]

    def reason(self, row: int) -> str:
        fld, message = self._kinds[int(self._first[row])]
        return f"{fld}: {message}"
