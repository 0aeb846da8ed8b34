"""Whole-tree checks beyond the schema: codes agree with the formulas, tables are ordered, packages add up."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.formulas import MembershipBatch, apply_rate, compute_lines, rate_units
from jamsos.rules.tree import InvalidParameters, ParameterMissing, ParameterTree

_KEYED = {
    "pu.jkk.rate_by_risk_class": c.RISK_CLASSES,
    "programs.required_by_employer_size": c.EMPLOYER_SIZES,
    "programs.jkp_prerequisites": c.EMPLOYER_SIZES,
    "programs.allowed_programs": c.SEGMENTS,
}


@dataclass(frozen=True)
class CheckReport:
    parameters: int
    values: int
    unverified: int
    months_checked: int
    first_month: Period
    last_month: Period
    first_computable: dict[str, Period | None] = field(default_factory=dict)


def _typical(period: Period) -> MembershipBatch:
    """One typical membership per segment, to prove every path resolves."""
    return MembershipBatch.build(
        [c.PU, c.BPU, c.JAKON, c.PMI],
        period.ordinal,
        n=4,
        wage=[8_000_000, 0, 0, 0],
        income=[0, 2_000_000, 0, 0],
        risk_class=[1, c.MISSING, c.MISSING, c.MISSING],
        employer_size=[3, c.MISSING, c.MISSING, c.MISSING],
        contract_value=[0, 0, 2_000_000_000, 0],
        contract_months=[0, 0, 0, 24],
    )


def check_tree(tree: ParameterTree, until: Period | None = None) -> CheckReport:
    """Raise InvalidParameters listing every inconsistency; return coverage facts otherwise."""
    problems: list[str] = []
    for path, keys in _KEYED.items():
        if path in tree and set(tree[path].keys) != set(keys):
            problems.append(f"{path}: keys {sorted(tree[path].keys)} must be exactly {sorted(keys)}")
    starts = [v.start for p in tree for v in p.values]
    first = Period.of(min(starts))
    last = until or Period.of(max(starts)) + 12
    for param in tree:
        for v in param.values:
            if param.path == "jakon.contract_value_brackets":
                uppers = [row["up_to"] for row in v.value]
                if uppers[-1] is not None or any(u is None for u in uppers[:-1]):
                    problems.append(f"{param.path} from {v.start}: only the last bracket may be open (up_to: null)")
                closed = [u for u in uppers if u is not None]
                if closed != sorted(set(closed)):
                    problems.append(f"{param.path} from {v.start}: brackets must ascend")
            if param.path.endswith("replacement_rates") or param.path.endswith("temporary_incapacity"):
                expected = 1
                for row in v.value:
                    if row["from_month"] != expected:
                        problems.append(f"{param.path} from {v.start}: months must run on from {expected}")
                    expected = (row["to_month"] or 0) + 1
    first_computable: dict[str, Period | None] = dict.fromkeys(c.SEGMENTS)
    months = 0
    p = first
    while p <= last:
        months += 1
        batch = _typical(p)
        for s, name in enumerate(c.SEGMENTS):
            if first_computable[name] is not None:
                continue
            try:
                compute_lines(_select(batch, s), tree)
                first_computable[name] = p
            except ParameterMissing:
                pass
        if "bpu.minimum_package" in tree:
            with contextlib.suppress(ParameterMissing):
                _check_minimum_package(tree, p, problems)
        p = p + 1
    if problems:
        raise InvalidParameters(problems)
    values = sum(len(param.values) for param in tree)
    unverified = sum(1 for param in tree for v in param.values if not v.verified)
    return CheckReport(len(tree), values, unverified, months, first, last, first_computable)


def _select(batch: MembershipBatch, row: int) -> MembershipBatch:
    return MembershipBatch(**{name: getattr(batch, name)[row : row + 1] for name in batch.__dataclass_fields__})


def _check_minimum_package(tree: ParameterTree, p: Period, problems: list[str]) -> None:
    package = tree.value("bpu.minimum_package", p)
    lowest = tree.value("bpu.income_tier", p)["lowest"]
    jkk = int(apply_rate(lowest, rate_units(tree.value("bpu.jkk_rate", p))))
    jkm = int(tree.value("bpu.jkm_amount", p))
    jht = int(apply_rate(lowest, rate_units(tree.value("bpu.jht_rate", p))))
    if jkk + jkm != package["jkk_jkm"]:
        problems.append(
            f"bpu.minimum_package in {p}: jkk_jkm {package['jkk_jkm']} != JKK {jkk} + JKM {jkm} at the lowest tier"
        )
    if jkk + jkm + jht != package["jkk_jkm_jht"]:
        problems.append(f"bpu.minimum_package in {p}: jkk_jkm_jht {package['jkk_jkm_jht']} != {jkk + jkm + jht}")
