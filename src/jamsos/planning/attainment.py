"""Attainment of a target: the actual figure against it, the months left, the recent monthly pace (run rate) and the
chance of reaching it, and the rank among peers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from jamsos.kernel.period import Period
from jamsos.planning.target import Target


@dataclass(frozen=True)
class Attainment:
    target: Target
    office_name: str
    as_of: Period
    actual: int
    months_left: int
    run_rate: float | None
    run_rate_months: int
    rank: int = 0
    peers: int = 0
    p_reach: float | None = None

    @property
    def goal(self) -> int:
        return round(self.target.value)

    @property
    def gap(self) -> int:
        return self.goal - self.actual

    @property
    def attainment_pct(self) -> float:
        return round(self.actual / self.goal * 100, 2)

    @property
    def required_per_month(self) -> float | None:
        """Net additions needed in each remaining month; None once the target month is reached."""
        if self.months_left <= 0:
            return None
        return round(max(self.gap, 0) / self.months_left, 1)

    @property
    def on_track(self) -> bool:
        if self.gap <= 0:
            return True
        need = self.required_per_month
        return need is not None and self.run_rate is not None and self.run_rate >= need

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "period": str(t.period),
            "level": t.level,
            "office": t.office,
            "office_name": self.office_name,
            "segment": t.segment,
            "ecosystem": t.ecosystem,
            "target": self.goal,
            "as_of": str(self.as_of),
            "actual": self.actual,
            "attainment_pct": self.attainment_pct,
            "gap": self.gap,
            "months_left": self.months_left,
            "required_per_month": self.required_per_month,
            "run_rate_per_month": None if self.run_rate is None else round(self.run_rate, 1),
            "run_rate_months": self.run_rate_months,
            "on_track": self.on_track,
            "rank": self.rank,
            "peers": self.peers,
            "p_reach_target": None if self.p_reach is None else round(self.p_reach, 4),
            "source": t.source,
        }


def attain(
    target: Target, history: Mapping[Period, int], *, as_of: Period, office_name: str = "", window: int = 12
) -> Attainment:
    """Attainment of one target from its group's active participants per month (``history``): the level in
    ``as_of`` (the last month held at or before the target month), the gap, the net additions needed per
    remaining month, and the run-rate — the average monthly net addition over the last ``window`` months held."""
    actual = int(history.get(as_of, 0))
    earlier = [p for p in history if as_of + (-window) <= p < as_of]
    start = min(earlier) if earlier else None
    run_rate = (actual - history[start]) / (as_of - start) if start is not None else None
    return Attainment(
        target,
        office_name,
        as_of,
        actual,
        max(target.period - as_of, 0),
        run_rate,
        0 if start is None else as_of - start,
    )


def rank(rows: Sequence[Attainment]) -> list[Attainment]:
    """Rank by attainment, best first, among peers: offices against offices of the same level, month, segment
    and ecosystem; national ecosystem targets against each other (a ranking of ecosystems)."""
    groups: dict[tuple[str, ...], list[Attainment]] = {}
    for a in rows:
        t = a.target
        eco = t.ecosystem if t.level != "national" else ("by ecosystem" if t.ecosystem else "")
        groups.setdefault((str(t.period), t.level, t.segment, eco), []).append(a)
    out: list[Attainment] = []
    for peers in groups.values():
        ordered = sorted(peers, key=lambda a: (-a.actual / max(a.goal, 1), a.target.office, a.target.ecosystem))
        out.extend(replace(a, rank=i, peers=len(ordered)) for i, a in enumerate(ordered, start=1))
    return sorted(out, key=lambda a: (a.target.key[:2], a.rank, a.target.key))
