"""Contribution formulas: vectorised bill lines for any number of memberships, with the legal basis of each line.

One implementation serves the single-worker calculator (a batch of one), the monthly billing run
for millions, and what-if reforms (the same batch against an edited parameter tree).
Rates are exact: a rate with at most 8 decimals is held as an integer numerator over 10^8 and every
line is ``round_half_up(basis * rate)`` in int64 arithmetic (general.rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.tree import ParameterMissing, ParameterTree

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


def compute(batch: MembershipBatch, tree: ParameterTree) -> Computation:
    """Bill lines for every membership in ``batch`` under the rules in force in each row's period; a row that
    breaks a rule is rejected with its problem and makes no line (the others are computed all the same).

    Raises ParameterMissing naming the parameter and month when a rule has no value for a period (a fault of
    the parameter tree, not of a row).
    """
    return _Engine(batch, tree).run()


def compute_lines(batch: MembershipBatch, tree: ParameterTree) -> BillLines:
    """Bill lines for a batch that must be good as a whole: InvalidInput naming every bad row and field
    otherwise (the calculator and the checks); ParameterMissing as in ``compute``."""
    done = compute(batch, tree)
    if done.problems:
        raise InvalidInput(done.problems)
    return done.lines


class _Engine:
    def __init__(self, batch: MembershipBatch, tree: ParameterTree) -> None:
        self.b = batch
        self.t = tree
        self.n = len(batch)
        self.parts: list[tuple[Any, ...]] = []
        self.cite_ids: dict[tuple[str, str], int] = {}
        self.citations: list[Citation] = []
        if self.n:
            self.pmin = int(batch.period.min())
            self.pidx = (batch.period - self.pmin).astype(np.int32)
            self.nper = int(batch.period.max()) - self.pmin + 1
        else:
            self.pmin, self.pidx, self.nper = 0, np.zeros(0, np.int32), 0
        self.problems: list[FieldProblem] = []
        self.first = np.full(self.n, -1, dtype=np.int32)  # per row: index of its first problem in ``kinds``
        self.kinds: list[tuple[str, str]] = []
        self._pcache: dict[int, tuple[Any, Any]] = {}

    # ---- parameters as per-period lookup tables --------------------------------------------
    def _periods_of(self, rows: Any) -> Any:
        """Period indices of ``rows`` (cached per rows array; a broadcast zero when there is one period)."""
        if self.nper == 1:
            return np.broadcast_to(np.int32(0), self.pidx[rows].shape if isinstance(rows, slice) else rows.shape)
        key = id(rows)
        hit = self._pcache.get(key)
        if hit is None or hit[0] is not rows:
            hit = self._pcache[key] = (rows, self.pidx[rows])
        return hit[1]

    def _present(self, rows: Any) -> list[int]:
        if self.nper == 1:
            return [0] if np.size(self.pidx[rows] if isinstance(rows, slice) else rows) else []
        counts = np.bincount(self._periods_of(rows), minlength=self.nper)
        return [int(i) for i in np.flatnonzero(counts)]

    def _cite(self, path: str, period: Period, nullable: bool = False) -> tuple[Any, int]:
        param = self.t[path]
        pv = param.for_period(period) if nullable else param.require(period)
        key = (path, pv.start.isoformat())
        cid = self.cite_ids.get(key)
        if cid is None:
            cid = self.cite_ids[key] = len(self.citations)
            self.citations.append(Citation(path, pv.start.isoformat(), pv.reference, pv.status))
        return pv.value, cid

    def lut(self, path: str, rows: Any, convert: Any = int, nullable: bool = False) -> tuple[Any, Any]:
        """Per-period values (converted to int64; -1 where null) and citation ids, for rows' periods."""
        vals = np.zeros(max(self.nper, 1), dtype=np.int64)
        cites = np.zeros(max(self.nper, 1), dtype=np.int32)
        for i in self._present(rows):
            value, cid = self._cite(path, Period.from_ordinal(self.pmin + i), nullable)
            vals[i] = -1 if value is None else convert(value)
            cites[i] = cid
        if self.nper == 1:
            shape = np.shape(rows)
            return np.broadcast_to(vals[0], shape), np.broadcast_to(cites[0], shape)
        p = self._periods_of(rows)
        return vals[p], cites[p]

    def lut_keyed(self, path: str, rows: Any, key_codes: Any, keys: tuple[str, ...], convert: Any) -> tuple[I64, I32]:
        vals = np.zeros((max(self.nper, 1), len(keys)), dtype=np.int64)
        cites = np.zeros(max(self.nper, 1), dtype=np.int32)
        for i in self._present(rows):
            value, cid = self._cite(path, Period.from_ordinal(self.pmin + i))
            vals[i] = [convert(value[k]) for k in keys]
            cites[i] = cid
        if self.nper == 1:
            return vals[0][key_codes], np.broadcast_to(cites[0], np.shape(rows))
        p = self._periods_of(rows)
        return vals[p, key_codes], cites[p]

    def combine(self, a: Any, b: Any) -> Any:
        """Citation ids for lines resting on two parameters (e.g. a rate and a cap): both references, worst status."""
        if a.size == 0:
            return a
        if a.strides == (0,) and b.strides == (0,):
            return np.broadcast_to(np.int32(self._pair(int(a[0]), int(b[0]))), a.shape)
        uniq, inverse = np.unique(a.astype(np.int64) * 65536 + b, return_inverse=True)
        ids = np.asarray([self._pair(int(k) // 65536, int(k) % 65536) for k in uniq], dtype=np.int32)
        return ids[inverse]

    def _pair(self, i: int, j: int) -> int:
        key = (f"#{i}", f"#{j}")
        cid = self.cite_ids.get(key)
        if cid is None:
            ci, cj = self.citations[i], self.citations[j]
            status = "verified" if ci.status == cj.status == "verified" else "unverified"
            cid = self.cite_ids[key] = len(self.citations)
            reference = ci.reference if ci.reference == cj.reference else f"{ci.reference}; {cj.reference}"
            start = max(ci.start, cj.start)
            self.citations.append(Citation(f"{ci.parameter} + {cj.parameter}", start, reference, status))
        return cid

    def period_value(self, path: str, i: int, nullable: bool = False) -> tuple[Any, int]:
        return self._cite(path, Period.from_ordinal(self.pmin + i), nullable)

    # ---- output ------------------------------------------------------------------------------
    def add(
        self, rows: Any, program: Any, payer: Any, kind: int, amount: Any, rate: Any, basis: Any, cite: Any
    ) -> None:
        """Queue lines; scalar columns stay scalars until the single final copy."""
        if np.size(rows) == 0:
            return
        self.parts.append((rows, program, payer, kind, amount, rate, basis, cite))

    def _build(self) -> BillLines:
        lengths = [int(np.size(part[0])) for part in self.parts]
        dtypes = (np.int32, np.int8, np.int8, np.int8, np.int64, np.int32, np.int64, np.int16)
        cols = [np.empty(sum(lengths), dtype=dt) for dt in dtypes]
        start = 0
        for part, k in zip(self.parts, lengths, strict=True):
            for col, value in zip(cols, part, strict=True):
                col[start : start + k] = value
            start += k
        if self.n and (self.first >= 0).any():  # a rejected row makes no line, even one computed before its problem
            keep = self.first[cols[0]] < 0
            cols = [col[keep] for col in cols]
        row, program, payer, kind, amount, rate, basis, cite = cols
        return BillLines(row, program, payer, kind, amount, rate, basis, cite, citations=self.citations)  # type: ignore[arg-type]

    def problem(self, mask: Any, fld: str, message: str, values: Any = None) -> None:
        bad = np.flatnonzero(mask)
        if not bad.size:
            return
        fresh = bad[self.first[bad] < 0]
        if fresh.size:
            self.first[fresh] = len(self.kinds)
            self.kinds.append((fld, message))
        for r in bad[:_MAX_LISTED]:
            shown = None if values is None else values[r].item()
            self.problems.append(FieldProblem(fld, message, row=int(r) + 1, value=shown))

    # ---- arithmetic --------------------------------------------------------------------------
    @staticmethod
    def mul(basis: I64, rate: I64) -> I64:
        return apply_rate(basis, rate)  # type: ignore[no-any-return]

    # ---- pipeline ----------------------------------------------------------------------------
    def run(self) -> Computation:
        if self.n:
            self._validate()
            self._check_rounding()
            mask = self._effective_programs()
            seg, good = self.b.segment, self.first < 0
            self._pu(np.flatnonzero(good & (seg == c.PU)), mask)
            self._bpu(np.flatnonzero(good & (seg == c.BPU)), mask)
            self._jakon(np.flatnonzero(good & (seg == c.JAKON)))
            self._pmi(np.flatnonzero(good & (seg == c.PMI)), mask)
        return Computation(self._build(), self.problems, self.first >= 0, self.first, self.kinds)

    def _validate(self) -> None:
        b, seg = self.b, self.b.segment
        self.problem((seg < 0) | (seg >= len(c.SEGMENTS)), "segment", "unknown segment code", seg)
        for name, arr, bound in (
            ("wage", b.wage, MAX_WAGE),
            ("income", b.income, MAX_WAGE),
            ("contract_value", b.contract_value, MAX_CONTRACT_VALUE),
            ("jht_amount", b.jht_amount, MAX_WAGE),
        ):
            self.problem(arr < 0, name, "must not be negative", arr)
            self.problem(arr > bound, name, f"exceeds the supported maximum of {bound}", arr)
        self.problem(b.contract_months < 0, "contract_months", "must not be negative", b.contract_months)
        self.problem(
            (b.risk_class < c.MISSING) | (b.risk_class >= len(c.RISK_CLASSES)),
            "risk_class",
            "unknown code",
            b.risk_class,
        )
        self.problem(
            (b.employer_size < c.MISSING) | (b.employer_size >= len(c.EMPLOYER_SIZES)),
            "employer_size",
            "unknown code",
            b.employer_size,
        )
        self.problem(
            (b.payer_source < 0) | (b.payer_source >= len(c.PAYER_SOURCES)), "payer", "unknown code", b.payer_source
        )
        pu, jakon = seg == c.PU, seg == c.JAKON
        self.problem(pu & (b.wage <= 0), "wage", "a PU membership needs a positive monthly wage", b.wage)
        self.problem(
            pu & (b.risk_class == c.MISSING), "risk_class", "a PU membership needs the employer's JKK risk class"
        )
        self.problem(
            pu & (b.employer_size == c.MISSING),
            "employer_size",
            "a PU membership needs the employer size (mikro, kecil, menengah, besar)",
        )
        self.problem(
            pu & (b.payer_source != c.SOURCE_EMPLOYER),
            "payer",
            "PU contributions are paid by the employer and the worker",
            b.payer_source,
        )
        self.problem(
            jakon & (b.payer_source != c.SOURCE_EMPLOYER), "payer", "Jakon contributions are paid by the contractor"
        )
        by_wage = jakon & (b.contract_value == 0)
        self.problem(
            by_wage & (b.wage <= 0),
            "contract_value",
            "a Jakon project needs a contract value, or a wage with a risk class",
        )
        self.problem(
            by_wage & (b.wage > 0) & (b.risk_class == c.MISSING),
            "risk_class",
            "a Jakon project billed on wages needs the contractor's JKK risk class",
        )
        self.problem(
            (seg == c.PMI) & (b.contract_months <= 0),
            "contract_months",
            "a PMI membership needs the placement contract length in months",
            b.contract_months,
        )
        self.problem(
            (seg != c.PU) & (b.payer_source == c.SOURCE_EMPLOYER) & (seg != c.JAKON),
            "payer",
            "only PU and Jakon contributions are paid by an employer",
            b.payer_source,
        )

    def _check_rounding(self) -> None:
        for i in self._present(slice(None)):
            rule, _ = self.period_value("general.rounding", i)
            if rule != "half_up":
                raise ParameterMissing(
                    "general.rounding", Period.from_ordinal(self.pmin + i), f"rule {rule!r} is not implemented"
                )

    def _effective_programs(self) -> npt.NDArray[np.uint8]:
        b, seg = self.b, self.b.segment
        mask = b.programs.astype(np.int64)
        explicit = mask.copy()
        all_rows = np.arange(self.n)
        pu = seg == c.PU
        seg_codes = np.clip(seg, 0, len(c.SEGMENTS) - 1)
        size_codes = np.clip(b.employer_size, 0, len(c.EMPLOYER_SIZES) - 1)

        def as_mask(codes_: Any) -> int:
            return c.program_mask("programs", codes_)

        pu_rows = np.flatnonzero(pu)
        if pu_rows.size:
            required, _ = self.lut_keyed(
                "programs.required_by_employer_size", pu_rows, size_codes[pu_rows], c.EMPLOYER_SIZES, as_mask
            )
            mask[pu_rows] = np.where(mask[pu_rows] == 0, required, mask[pu_rows])
        other = np.flatnonzero(~pu & (mask == 0))
        if other.size:
            keys = ("bpu", "jakon", "pmi")
            default, _ = self.lut_keyed("programs.default_programs", other, seg_codes[other] - 1, keys, as_mask)
            mask[other] = default
        allowed, _ = self.lut_keyed("programs.allowed_programs", all_rows, seg_codes, c.SEGMENTS, as_mask)
        for bit_index, program in enumerate(c.PROGRAMS):
            bit = 1 << bit_index
            bad = (mask & bit).astype(bool) & ~(allowed & bit).astype(bool)
            if bad.any():
                for s in np.unique(seg[bad]):
                    self.problem(
                        bad & (seg == s),
                        "programs",
                        f"program {program.upper()} is not available to segment {c.SEGMENTS[s].upper()}",
                    )
        in_force = {}
        for bit_index, program in enumerate(c.PROGRAMS):
            flags, _ = self.lut("programs.in_force", all_rows, convert=lambda v, p=program: int(v[p]))
            in_force[program] = flags.astype(bool)
            bit = 1 << bit_index
            asked = explicit if program == "jkp" else mask
            late = (asked & bit).astype(bool) & ~in_force[program]
            self.problem(late, "programs", f"program {program.upper()} is not in force in this period", self.b.period)
        jkp_bit = c.BIT["jkp"]
        candidates = np.flatnonzero(pu & in_force["jkp"])
        if candidates.size:
            prereq, _ = self.lut_keyed(
                "programs.jkp_prerequisites", candidates, size_codes[candidates], c.EMPLOYER_SIZES, as_mask
            )
            held = mask[candidates] & ~jkp_bit
            eligible = (held & prereq) == prereq
            asked = (explicit[candidates] & jkp_bit).astype(bool)
            bad = np.zeros(self.n, dtype=bool)
            bad[candidates[asked & ~eligible]] = True
            self.problem(bad, "programs", "JKP needs JKK, JKM, JHT (and JP at medium and large employers)")
            mask[candidates] = np.where(eligible, held | jkp_bit, held)
        return mask.astype(np.uint8)

    # ---- segments ----------------------------------------------------------------------------
    def _jkk_jkm_on_wage(self, rows: Any) -> tuple[I64, I64]:
        wage = self.b.wage[rows]
        rate, cite = self.lut_keyed(
            "pu.jkk.rate_by_risk_class", rows, self.b.risk_class[rows], c.RISK_CLASSES, rate_units
        )
        jkk = self.mul(wage, rate)
        self.add(rows, c.JKK, c.EMPLOYER, c.CONTRIBUTION, jkk, rate, wage, cite)
        rate, cite = self.lut("pu.jkm.rate", rows, rate_units)
        jkm = self.mul(wage, rate)
        self.add(rows, c.JKM, c.EMPLOYER, c.CONTRIBUTION, jkm, rate, wage, cite)
        return jkk, jkm

    def _pu(self, rows: Any, mask: Any) -> None:
        if not rows.size:
            return
        wage = self.b.wage[rows]
        m = mask[rows]
        jkk, jkm = self._jkk_jkm_on_wage(rows)
        for program, bit in ((c.JHT, c.BIT["jht"]), (c.JP, c.BIT["jp"])):
            sel = np.flatnonzero(m & bit)
            if not sel.size:
                continue
            r = rows[sel]
            prefix = "pu.jht" if program == c.JHT else "pu.jp"
            basis = wage[sel]
            cap_cite = None
            if program == c.JP:
                cap, cap_cite = self.lut("pu.jp.wage_cap", r)
                basis = np.minimum(basis, cap)
            amounts = []
            for payer, name in ((c.EMPLOYER, "employer_rate"), (c.WORKER, "worker_rate")):
                rate, cite = self.lut(f"{prefix}.{name}", r, rate_units)
                if cap_cite is not None:
                    cite = self.combine(cite, cap_cite)
                amount = self.mul(basis, rate)
                self.add(r, program, payer, c.CONTRIBUTION, amount, rate, basis, cite)
                amounts.append((payer, amount))
            if program == c.JP:
                for payer, amount in amounts:
                    self._relief(r, c.JP, payer, amount, "reliefs.pp49_2020.jp_deferral", c.DEFERRAL)
        jkk_net, jkm_net = jkk.copy(), jkm.copy()
        sel = np.flatnonzero(m & c.BIT["jkp"])
        if sel.size:
            r = rows[sel]
            cap, cap_cite = self.lut("jkp.wage_cap", r)
            basis = np.minimum(wage[sel], cap)
            rate, cite = self.lut("jkp.government_rate", r, rate_units)
            cite = self.combine(cite, cap_cite)
            self.add(r, c.JKP, c.GOVERNMENT, c.CONTRIBUTION, self.mul(basis, rate), rate, basis, cite)
            for source, net, path in (
                (c.JKK, jkk_net, "jkp.recomposition_from_jkk_rate"),
                (c.JKM, jkm_net, "jkp.recomposition_from_jkm_rate"),
            ):
                rate, cite = self.lut(path, r, rate_units)
                cite = self.combine(cite, cap_cite)
                moved = np.minimum(self.mul(basis, rate), net[sel])
                keep = np.flatnonzero(moved > 0)
                self.add(
                    r[keep], source, c.EMPLOYER, c.RECOMPOSITION_OUT, -moved[keep], -rate[keep], basis[keep], cite[keep]
                )
                self.add(
                    r[keep], c.JKP, c.EMPLOYER, c.RECOMPOSITION_IN, moved[keep], rate[keep], basis[keep], cite[keep]
                )
                net[sel] -= moved
        self._jkk_jkm_reliefs(rows, c.PU, c.EMPLOYER, jkk_net, jkm_net)
        li = np.flatnonzero(self.b.labour_intensive[rows])
        if li.size:
            net_first, _ = self.lut("reliefs.pp7_2025.applies_net_of_recomposition", rows[li], int)
            base = np.where(net_first == 1, jkk_net[li], jkk[li])
            self._relief(rows[li], c.JKK, c.EMPLOYER, base, "reliefs.pp7_2025.labour_intensive_jkk_discount", c.RELIEF)

    def _bpu(self, rows: Any, mask: Any) -> None:
        if not rows.size:
            return
        income = self.b.income[rows]
        lowest, _ = self.lut("bpu.income_tier", rows, lambda v: v["lowest"])
        step, tier_cite = self.lut("bpu.income_tier", rows, lambda v: v["step"])
        tier = np.where(income <= lowest, lowest, lowest + (income - lowest) // np.maximum(step, 1) * step)
        payer = np.asarray(c.SOURCE_PAYER, dtype=np.int8)[self.b.payer_source[rows]]
        rate, cite = self.lut("bpu.jkk_rate", rows, rate_units)
        cite = self.combine(cite, tier_cite)
        jkk = self.mul(tier, rate)
        self.add(rows, c.JKK, payer, c.CONTRIBUTION, jkk, rate, tier, cite)
        flat, cite = self.lut("bpu.jkm_amount", rows)
        self.add(rows, c.JKM, payer, c.CONTRIBUTION, flat, NO_RATE, NO_BASIS, cite)
        sel = np.flatnonzero(mask[rows] & c.BIT["jht"])
        if sel.size:
            r = rows[sel]
            rate, cite = self.lut("bpu.jht_rate", r, rate_units)
            cite = self.combine(cite, tier_cite[sel])
            self.add(r, c.JHT, payer[sel], c.CONTRIBUTION, self.mul(tier[sel], rate), rate, tier[sel], cite)
        self._jkk_jkm_reliefs(rows, c.BPU, payer, jkk, flat)
        excluded = np.zeros(len(c.PAYER_SOURCES), dtype=bool)
        for i in self._present(rows):
            codes_, _ = self.period_value("reliefs.pp50_2025.excluded_payers", i)
            excluded[:] = False
            excluded[[c.PAYER_SOURCES.index(s) for s in codes_]] = True
            in_period = self._periods_of(rows) == i
            for transport, path in (
                (True, "reliefs.pp50_2025.bpu_transport_discount"),
                (False, "reliefs.pp50_2025.bpu_other_discount"),
            ):
                sel = np.flatnonzero(
                    in_period & (self.b.transport[rows] == transport) & ~excluded[self.b.payer_source[rows]]
                )
                for program, base in ((c.JKK, jkk), (c.JKM, flat)):
                    self._relief(rows[sel], program, payer[sel], base[sel], path, c.RELIEF)

    def _jakon(self, rows: Any) -> None:
        if not rows.size:
            return
        cv = self.b.contract_value[rows]
        by_wage = rows[cv == 0]
        if by_wage.size:
            jkk, jkm = self._jkk_jkm_on_wage(by_wage)
            self._jkk_jkm_reliefs(by_wage, c.JAKON, c.EMPLOYER, jkk, jkm)
        by_value = rows[cv > 0]
        if not by_value.size:
            return
        value = self.b.contract_value[by_value]
        jkk_total = np.zeros(by_value.size, dtype=np.int64)
        jkm_total = np.zeros(by_value.size, dtype=np.int64)
        pidx = self._periods_of(by_value)
        for i in self._present(by_value):
            brackets, cid = self.period_value("jakon.contract_value_brackets", i)
            in_period = np.flatnonzero(pidx == i)
            lower = 0
            for k, bracket in enumerate(brackets):
                upper = bracket["up_to"]
                if upper is None and k != len(brackets) - 1:
                    raise ParameterMissing(
                        "jakon.contract_value_brackets",
                        Period.from_ordinal(self.pmin + i),
                        "only the last bracket may be open",
                    )
                top = value[in_period] if upper is None else np.minimum(value[in_period], upper)
                slice_ = np.maximum(top - lower, 0)
                has = np.flatnonzero(slice_ > 0)
                r, s = by_value[in_period[has]], slice_[has]
                for program, total, key in ((c.JKK, jkk_total, "jkk"), (c.JKM, jkm_total, "jkm")):
                    rate = np.full(s.size, rate_units(bracket[key]), dtype=np.int64)
                    amount = self.mul(s, rate)
                    self.add(r, program, c.EMPLOYER, c.CONTRIBUTION, amount, rate, s, cid)
                    total[in_period[has]] += amount
                if upper is None:
                    break
                lower = upper
        self._jkk_jkm_reliefs(by_value, c.JAKON, c.EMPLOYER, jkk_total, jkm_total)

    def _pmi(self, rows: Any, mask: Any) -> None:
        if not rows.size:
            return
        payer = np.asarray(c.SOURCE_PAYER, dtype=np.int8)[self.b.payer_source[rows]]
        amount, cite = self.lut("pmi.pre_departure_amount", rows)
        self.add(rows, c.JKK_JKM, payer, c.CONTRIBUTION, amount, NO_RATE, NO_BASIS, cite)
        months = self.b.contract_months[rows].astype(np.int64)
        pidx = self._periods_of(rows)
        for i in self._present(rows):
            rule, _ = self.period_value("pmi.package_choice", i)
            if rule != "longest_not_exceeding_plus_extra_months":
                raise ParameterMissing(
                    "pmi.package_choice", Period.from_ordinal(self.pmin + i), f"rule {rule!r} is not implemented"
                )
            packages, pcid = self.period_value("pmi.placement_packages", i)
            extra_amount, ecid = self.period_value("pmi.extra_month_amount", i)
            packages = sorted(packages, key=lambda p: p["months"])
            in_period = np.flatnonzero(pidx == i)
            m = months[in_period]
            chosen = np.zeros(m.size, dtype=np.int64)
            for k, package in enumerate(packages):
                chosen = np.where(m >= package["months"], k, chosen)
            pmonths = np.asarray([p["months"] for p in packages], dtype=np.int64)[chosen]
            pamount = np.asarray([p["amount"] for p in packages], dtype=np.int64)[chosen]
            r = rows[in_period]
            self.add(r, c.JKK_JKM, payer[in_period], c.CONTRIBUTION, pamount, NO_RATE, NO_BASIS, pcid)
            extra = np.maximum(m - pmonths, 0)
            has = np.flatnonzero(extra > 0)
            self.add(
                r[has],
                c.JKK_JKM,
                payer[in_period][has],
                c.CONTRIBUTION,
                extra[has] * extra_amount,
                NO_RATE,
                NO_BASIS,
                ecid,
            )
        sel = np.flatnonzero(mask[rows] & c.BIT["jht"])
        if sel.size:
            r = rows[sel]
            low, cite = self.lut("pmi.jht_monthly_range", r, lambda v: v["min"])
            high, _ = self.lut("pmi.jht_monthly_range", r, lambda v: v["max"])
            amount = self.b.jht_amount[r]
            bad = np.zeros(self.n, dtype=bool)
            bad[r[(amount < low) | (amount > high)]] = True
            self.problem(
                bad, "jht_amount", "optional PMI JHT must be within the allowed monthly range", self.b.jht_amount
            )
            self.add(r, c.JHT, payer[sel], c.CONTRIBUTION, amount, NO_RATE, NO_BASIS, cite)  # dropped if rejected

    # ---- reliefs -----------------------------------------------------------------------------
    def _jkk_jkm_reliefs(self, rows: Any, segment: int, payer: Any, jkk: I64, jkm: I64) -> None:
        for i in self._present(rows):
            segments, _ = self.period_value("reliefs.pp49_2020.segments", i)
            if c.SEGMENTS[segment] not in segments:
                continue
            sel = np.flatnonzero(self._periods_of(rows) == i)
            pay = np.broadcast_to(np.asarray(payer, dtype=np.int8), rows.shape)[sel]
            for program, base in ((c.JKK, jkk), (c.JKM, jkm)):
                self._relief(rows[sel], program, pay, base[sel], "reliefs.pp49_2020.jkk_jkm_discount", c.RELIEF)

    def _relief(self, rows: Any, program: int, payer: Any, base: I64, path: str, kind: int) -> None:
        """A negative line taking ``share`` of ``base`` off, where the relief is in force."""
        if not np.size(rows):
            return
        share, cite = self.lut(path, rows, rate_units, nullable=True)
        sel = np.flatnonzero((share > 0) & (base > 0))
        if not sel.size:
            return
        pay = np.broadcast_to(np.asarray(payer, dtype=np.int8), np.shape(rows))[sel]
        off = self.mul(base[sel], share[sel])
        self.add(rows[sel], program, pay, kind, -off, -share[sel], base[sel], cite[sel])
