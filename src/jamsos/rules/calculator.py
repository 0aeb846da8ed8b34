"""The contribution calculator for one membership: a batch of one through the same formulas."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.kernel.period import Period
from jamsos.rules import codes as c
from jamsos.rules.formulas import MembershipBatch, compute_lines
from jamsos.rules.tree import ParameterTree


@dataclass(frozen=True)
class Membership:
    """One membership in one month, in the words a user types (codes as text)."""

    segment: str
    period: Period
    wage: int | None = None
    income: int | None = None
    risk_class: str | None = None
    employer_size: str | None = None
    programs: tuple[str, ...] | None = None
    payer: str | None = None
    transport: bool = False
    labour_intensive: bool = False
    contract_value: int | None = None
    contract_months: int | None = None
    jht_amount: int | None = None

    def to_batch(self) -> MembershipBatch:
        problems: list[FieldProblem] = []

        def code(fld: str, text: str | None, choices: tuple[str, ...]) -> int:
            if text is None:
                return c.MISSING
            try:
                return c.code_of(fld, text, choices)
            except InvalidInput as exc:
                problems.extend(exc.problems)
                return c.MISSING

        segment = code("segment", self.segment, c.SEGMENTS)
        mask = 0
        if self.programs:
            try:
                mask = c.program_mask("programs", self.programs)
            except InvalidInput as exc:
                problems.extend(exc.problems)
        for name in ("wage", "income", "contract_value", "contract_months", "jht_amount"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(FieldProblem(name, "must be a whole number", value=value))
        batch_kwargs: dict[str, Any] = dict(
            risk_class=code("risk_class", self.risk_class, c.RISK_CLASSES),
            employer_size=code("employer_size", self.employer_size, c.EMPLOYER_SIZES),
            payer_source=code("payer", self.payer, c.PAYER_SOURCES),
        )
        if problems:
            raise InvalidInput(problems)
        return MembershipBatch.build(
            [segment],
            [self.period.ordinal],
            wage=self.wage or 0,
            income=self.income or 0,
            programs=mask,
            transport=self.transport,
            labour_intensive=self.labour_intensive,
            contract_value=self.contract_value or 0,
            contract_months=self.contract_months or 0,
            jht_amount=self.jht_amount or 0,
            **batch_kwargs,
        )


@dataclass(frozen=True)
class Bill:
    """The breakdown of one membership's contribution for one month."""

    period: Period
    segment: str
    lines: list[dict[str, Any]]
    totals_by_payer: dict[str, int]
    total: int

    @property
    def has_unverified(self) -> bool:
        return any(line["status"] != "verified" for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of ``jamsos iuran --json``."""
        return {
            "period": str(self.period),
            "segment": self.segment,
            "lines": [{k: v for k, v in line.items() if k != "row"} for line in self.lines],
            "totals_by_payer": self.totals_by_payer,
            "total": self.total,
        }


def calculate(membership: Membership, tree: ParameterTree) -> Bill:
    """What is owed for ``membership``, line by line, with the legal basis of every rupiah."""
    try:
        lines = compute_lines(membership.to_batch(), tree)
    except InvalidInput as exc:  # one membership: "row 1" says nothing to the user
        raise InvalidInput([FieldProblem(p.field, p.message, value=p.value) for p in exc.problems]) from None
    totals = {payer: amount for payer, amount in lines.totals_by_payer().items() if amount > 0}
    return Bill(
        period=membership.period,
        segment=c.SEGMENTS[c.code_of("segment", membership.segment, c.SEGMENTS)],
        lines=lines.records(),
        totals_by_payer=totals,
        total=int(lines.amount.sum()),
    )


def parse_programs(text: str | None) -> tuple[str, ...] | None:
    """``"jkk,jkm,jht"`` -> ``("jkk", "jkm", "jht")``; empty -> None (the default package)."""
    if not text:
        return None
    items: Iterable[str] = (p.strip() for p in text.split(","))
    return tuple(p for p in items if p)
