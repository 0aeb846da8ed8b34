"""A calibrated synthetic national population written as the warehouse's steering datasets.

The generator first plans, per segment and month, how many participants lapse, return and join so
that the active totals follow the published path (``data/published_figures.csv``) and the registered
total at the calibration month is met; then it draws persons, spells of paid coverage, employers and
places that realise the plan exactly. Provinces are dealt by quota at the calibration month from the
published distribution. Everything is drawn from one seeded generator, so a seed gives the same files.
Behaviour (lapse, return, ecosystems, wages) is an assumption kept in ``data/behaviour.yaml``.

This module is the entrance (``generate``); the steps live in ``plan``, ``people``, ``calibration``,
``identities``, ``records``, ``write`` and ``parts``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jamsos.kernel.period import Period
from jamsos.kernel.pseudonym import key_id
from jamsos.rules.tree import ParameterTree
from jamsos.synth.calibration import Target, calibrate_uptake, calibration_report, program_goals, uptake_thresholds
from jamsos.synth.identities import make_niks
from jamsos.synth.people import place, simulate, traits
from jamsos.synth.plan import MARKER, Progress, SynthError, behaviour, make_plan, published
from jamsos.synth.write import write_all
from jamsos.warehouse.schema import STEERING


@dataclass(frozen=True)
class SynthReport:
    directory: str
    scale: float
    seed: int
    first: str
    last: str
    calibration: str
    lapse_factor: float
    idle_factor: float
    rows: dict[str, int]
    targets: list[Target]
    pseudonym_key_id: str = ""

    @property
    def worst_error_pct(self) -> float:
        return max((t.error_pct for t in self.targets), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "scale": self.scale,
            "seed": self.seed,
            "from": self.first,
            "to": self.last,
            "calibration": self.calibration,
            "lapse_factor": round(self.lapse_factor, 4),
            "lapsed_stock_factor": round(self.idle_factor, 4),
            "rows": self.rows,
            "pseudonym_key_id": self.pseudonym_key_id,
            "worst_error_pct": round(self.worst_error_pct, 4),
            "targets": [t.to_json() for t in self.targets],
        }


def generate(
    out: Path,
    *,
    tree: ParameterTree,
    scale: float,
    first: Period,
    last: Period,
    seed: int = 1,
    calibration_target: str = "news",
    progress: Progress | None = None,
    pseudonym_key: bytes,
    identities: Path | None = None,
) -> SynthReport:
    """Write a calibrated synthetic warehouse to ``out`` (replacing an earlier synthetic one). Persons are
    keyed, as in an export, by the keyed hash of their (invented) NIK under ``pseudonym_key``; the NIKs,
    names and KPJs themselves go only to ``identities`` when it is given (for tests: never a warehouse)."""
    beh = behaviour()
    start = Period.parse(beh["calibration"]["start"])
    if not 0 < scale <= 2:
        raise SynthError("scale must be above 0 and at most 2 (1.0 is the national population)")
    if first < start or last < first:
        raise SynthError(f"months must run forward from {start} at the earliest")
    if calibration_target not in ("news", "audited"):
        raise SynthError("calibration target must be 'news' (41.46 m) or 'audited' (41.56 m)")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SynthError(f"{out} is not empty and was not written by jamsos synth; choose an empty directory")
    rng = np.random.default_rng(seed)
    plan = make_plan(scale=scale, last=last, calibration_target=calibration_target, beh=beh)
    pop = simulate(plan, rng, progress)
    places = place(pop, rng, beh, scale)
    tr = traits(pop, rng, beh)
    calibrate_uptake(pop, places, tr, rng, program_goals(published(), scale, calibration_target))
    staging = out / ".synth-staging"
    if staging.exists():
        shutil.rmtree(staging)
    rows = write_all(staging, pop, places, tr, tree, first, last, scale, progress, pseudonym_key, identities)
    for name in [*STEERING, "persons", "employers", "memberships"]:
        if (out / name).exists():
            shutil.rmtree(out / name)
        if (staging / name).exists():
            (staging / name).rename(out / name)
    shutil.rmtree(staging)
    report = SynthReport(
        str(out),
        scale,
        seed,
        str(first),
        str(last),
        calibration_target,
        plan.factor,
        plan.idle_factor,
        rows,
        calibration_report(pop, places, tr, scale, calibration_target),
        key_id(pseudonym_key),
    )
    (out / MARKER).write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
    return report


__all__ = ["MARKER", "Progress", "SynthError", "SynthReport", "generate", "make_niks", "uptake_thresholds"]
