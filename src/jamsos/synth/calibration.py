"""Calibration by behaviour: the uptake of the optional programs (JP, JHT) is set by thresholds on simulated
propensities so that the published counts follow, and the report of each target against what was achieved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jamsos.kernel.period import Period
from jamsos.synth.people import Places, Population, Traits, Uptake
from jamsos.synth.plan import (
    BPU,
    CALIBRATION,
    JAKON,
    OPEN,
    PMI,
    PU,
    PUBLISHED_SEGMENTS,
    figure,
    province_quotas,
    published,
)


@dataclass(frozen=True)
class Target:
    name: str
    target: float
    achieved: float

    @property
    def error_pct(self) -> float:
        return 0.0 if self.target == 0 else abs(self.achieved - self.target) / self.target * 100

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "expected": round(self.target, 2),
            "achieved": self.achieved,
            "error_pct": round(self.error_pct, 4),
        }


def kth(values: np.ndarray, k: int) -> float:
    """The threshold that selects exactly the ``k`` smallest ``values`` (with ``<=``)."""
    if k <= 0:
        return -1.0
    if k >= len(values):
        return 2.0
    return float(np.partition(values, k - 1)[k - 1])


def uptake_thresholds(medium: np.ndarray, small: np.ndarray, k_jp: int, k_jht: int) -> tuple[float, float, float]:
    """``(medium_jp, small_jht, medium_jht)`` for the draws of PU workers at medium-or-large and at small
    employers: ``k_jp`` medium ones get JP (and JHT); the other ``k_jht - k_jp`` JHT holders are small ones
    first, then, when those are too few (at national scale employers are larger and their small ones hold
    fewer workers), medium ones without JP."""
    medium_jp = kth(medium, k_jp)
    chosen = int((medium <= medium_jp).sum())
    jht_only = k_jht - chosen
    small_jht = kth(small, jht_only)
    medium_jht = kth(medium, chosen + jht_only - len(small)) if jht_only > len(small) else medium_jp
    return medium_jp, small_jht, medium_jht


def calibrate_uptake(
    pop: Population, places: Places, tr: Traits, rng: np.random.Generator, goals: dict[str, float]
) -> None:
    """Set the PU program thresholds (``Uptake``) and withdraw JHT from BPU/PMI members beyond the published
    share, so that at the calibration month the counts of ``goals`` (jht_pu, jp, jkp, jht_bpu) are met."""
    n = len(pop.seg)
    draw, jkp_draw, bpu_draw = rng.random(n), rng.random(n), rng.random(n)
    o = CALIBRATION.ordinal
    live = np.flatnonzero((pop.sp_start <= o) & (pop.sp_end >= o))
    person = pop.sp_person[live]
    seg = pop.seg[person]
    size = places.employer_size[np.maximum(places.spell_employer[live], 0)]
    medium = person[(seg == PU) & (size >= 2)]
    small = person[(seg == PU) & (size == 1)]
    medium_jp, small_jht, medium_jht = uptake_thresholds(
        draw[medium], draw[small], round(goals["jp"]), round(goals["jht_pu"])
    )
    chosen = medium[draw[medium] <= medium_jp]
    jkp = kth(jkp_draw[chosen], round(goals["jkp"]))
    holders = person[((seg == BPU) | (seg == PMI)) & (tr.jht_from[person] <= o)]
    keep = kth(bpu_draw[holders], round(goals["jht_bpu"]))
    tr.jht_from[(bpu_draw > keep) & ((pop.seg == BPU) | (pop.seg == PMI))] = OPEN
    tr.uptake = Uptake(draw, jkp_draw, small_jht, medium_jp, jkp, medium_jht)


def segment_goals(rows: list[dict[str, str]], scale: float, which: str) -> tuple[float, dict[str, float]]:
    """The 2023-12 active level (news or audited) and its split by segment, at ``scale``."""
    kind = "news" if which == "news" else "audited"
    level = figure(rows, "active_participants", "2023-12", kind) * 1e6 * scale
    split = {s: figure(rows, f"active_participants_{s}", "2023-12") for s in PUBLISHED_SEGMENTS}
    total = sum(split.values())
    return level, {s: level * split[s] / total for s in split}


def program_goals(rows: list[dict[str, str]], scale: float, which: str) -> dict[str, float]:
    """Program counts at 2023-12 as published shares of their segment's goal (PU: JHT, JP, JKP; BPU: JHT)."""
    _, seg = segment_goals(rows, scale, which)
    pu, bpu = (figure(rows, f"active_participants_{s}", "2023-12") for s in ("pu", "bpu"))
    return {
        "jht_pu": seg["pu"] * figure(rows, "active_participants_jht_pu", "2023-12") / pu,
        "jp": seg["pu"] * figure(rows, "active_participants_jp", "2023-12") / pu,
        "jkp": seg["pu"] * figure(rows, "active_participants_jkp", "2023-12") / pu,
        "jht_bpu": seg["bpu"] * figure(rows, "active_participants_jht_bpu", "2023-12") / bpu,
    }


def calibration_report(pop: Population, places: Places, tr: Traits, scale: float, which: str) -> list[Target]:
    rows = published()
    out: list[Target] = []

    def active_at(period: Period) -> np.ndarray:
        o = period.ordinal
        live = (pop.sp_start <= o) & (pop.sp_end >= o)
        return pop.sp_person[live]  # a person has at most one live spell

    a22, a23 = active_at(Period(2022, 12)), active_at(CALIBRATION)
    out.append(Target("active 2022-12", figure(rows, "active_participants", "2022-12") * 1e6 * scale, len(a22)))
    level, goals = segment_goals(rows, scale, which)
    out.append(Target("active 2023-12", level, len(a23)))
    seg = pop.seg[a23]
    achieved = {"pu": (seg == PU).sum(), "bpu": ((seg == BPU) | (seg == PMI)).sum(), "jakon": (seg == JAKON).sum()}
    for s in PUBLISHED_SEGMENTS:
        out.append(Target(f"active {s} 2023-12", goals[s], int(achieved[s])))
    out.extend(program_targets(pop, places, tr, program_goals(rows, scale, which)))
    out.append(
        Target(
            "registered 2023-12",
            figure(rows, "registered_participants", "2023-12") * 1e6 * scale,
            int((pop.since <= CALIBRATION.ordinal).sum()),
        )
    )
    o = CALIBRATION.ordinal
    live = (pop.sp_start <= o) & (pop.sp_end >= o) & (places.spell_employer >= 0)
    out.append(
        Target(
            "active employers 2023-12",
            figure(rows, "active_employers", "2023-12") * scale,
            int((np.bincount(places.spell_employer[live], minlength=1) > 0).sum()),
        )
    )
    active_share, _, groups = province_quotas()
    per_regency = np.bincount(places.person_regency[a23], minlength=len(places.offices))
    prov = np.array([o["province_code"] for o in places.offices])
    for codes in groups:
        key = "|".join(codes)
        achieved_p = int(per_regency[np.isin(prov, codes)].sum())
        out.append(Target(f"active 2023-12 province {key}", level * active_share[key], achieved_p))
    return out


def program_targets(pop: Population, places: Places, tr: Traits, goals: dict[str, float]) -> list[Target]:
    """Achieved program counts at the calibration month, by the same rule the monthly files use."""
    up = tr.uptake
    assert up is not None
    o = CALIBRATION.ordinal
    live = np.flatnonzero((pop.sp_start <= o) & (pop.sp_end >= o))
    person = pop.sp_person[live]
    seg = pop.seg[person]
    size = places.employer_size[np.maximum(places.spell_employer[live], 0)]
    medium = (seg == PU) & (size >= 2) & (up.draw[person] <= up.medium_jp)
    medium_jht = (seg == PU) & (size >= 2) & (up.draw[person] <= up.medium_jht)
    small = (seg == PU) & (size == 1) & (up.draw[person] <= up.small_jht)
    jkp = medium & (up.jkp_draw[person] <= up.jkp)
    bpu_jht = ((seg == BPU) | (seg == PMI)) & (tr.jht_from[person] <= o)
    achieved = {"jht_pu": small | medium_jht, "jp": medium, "jkp": jkp, "jht_bpu": bpu_jht}
    names = {"jht_pu": "active JHT pu", "jp": "active JP", "jkp": "active JKP", "jht_bpu": "active JHT bpu"}
    return [Target(f"{names[k]} 2023-12", goals[k], int(achieved[k].sum())) for k in names]
