"""The engine behind ``rules.formulas.compute``: per-period lookups of parameters with their citations, the
checks made before any line, the effective programs, and the lines collected from each segment's rules
(``rules.segments``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from jamsos.kernel.errors import FieldProblem
from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules import segments
from jamsos.rules.lines import (
    _MAX_LISTED,
    I32,
    I64,
    MAX_CONTRACT_VALUE,
    MAX_WAGE,
    BillLines,
    Citation,
    Computation,
    MembershipBatch,
    apply_rate,
)
from jamsos.rules.tree import ParameterMissing, ParameterTree


class Engine:
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
    def periods_of(self, rows: Any) -> Any:
        """Period indices of ``rows`` (cached per rows array; a broadcast zero when there is one period)."""
        if self.nper == 1:
            return np.broadcast_to(np.int32(0), self.pidx[rows].shape if isinstance(rows, slice) else rows.shape)
        key = id(rows)
        hit = self._pcache.get(key)
        if hit is None or hit[0] is not rows:
            hit = self._pcache[key] = (rows, self.pidx[rows])
        return hit[1]

    def present(self, rows: Any) -> list[int]:
        if self.nper == 1:
            return [0] if np.size(self.pidx[rows] if isinstance(rows, slice) else rows) else []
        counts = np.bincount(self.periods_of(rows), minlength=self.nper)
        return [int(i) for i in np.flatnonzero(counts)]

    def cite(self, path: str, period: Period, nullable: bool = False) -> tuple[Any, int]:
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
        for i in self.present(rows):
            value, cid = self.cite(path, Period.from_ordinal(self.pmin + i), nullable)
            vals[i] = -1 if value is None else convert(value)
            cites[i] = cid
        if self.nper == 1:
            shape = np.shape(rows)
            return np.broadcast_to(vals[0], shape), np.broadcast_to(cites[0], shape)
        p = self.periods_of(rows)
        return vals[p], cites[p]

    def lut_keyed(self, path: str, rows: Any, key_codes: Any, keys: tuple[str, ...], convert: Any) -> tuple[I64, I32]:
        vals = np.zeros((max(self.nper, 1), len(keys)), dtype=np.int64)
        cites = np.zeros(max(self.nper, 1), dtype=np.int32)
        for i in self.present(rows):
            value, cid = self.cite(path, Period.from_ordinal(self.pmin + i))
            vals[i] = [convert(value[k]) for k in keys]
            cites[i] = cid
        if self.nper == 1:
            return vals[0][key_codes], np.broadcast_to(cites[0], np.shape(rows))
        p = self.periods_of(rows)
        return vals[p, key_codes], cites[p]

    def combine(self, a: Any, b: Any) -> Any:
        """Citation ids for lines resting on two parameters (e.g. a rate and a cap): both references, worst status."""
        if a.size == 0:
            return a
        if a.strides == (0,) and b.strides == (0,):
            return np.broadcast_to(np.int32(self.pair(int(a[0]), int(b[0]))), a.shape)
        uniq, inverse = np.unique(a.astype(np.int64) * 65536 + b, return_inverse=True)
        ids = np.asarray([self.pair(int(k) // 65536, int(k) % 65536) for k in uniq], dtype=np.int32)
        return ids[inverse]

    def pair(self, i: int, j: int) -> int:
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
        return self.cite(path, Period.from_ordinal(self.pmin + i), nullable)

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
            segments.pu(self, np.flatnonzero(good & (seg == c.PU)), mask)
            segments.bpu(self, np.flatnonzero(good & (seg == c.BPU)), mask)
            segments.jakon(self, np.flatnonzero(good & (seg == c.JAKON)))
            segments.pmi(self, np.flatnonzero(good & (seg == c.PMI)), mask)
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
        for i in self.present(slice(None)):
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
