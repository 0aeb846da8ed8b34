"""The plan of the synthetic nation: the agency's published figures and the behaviour file it is calibrated by,
interpolated to months, and the flows (new, lapsed, back) each segment needs to follow them."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import yaml

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period
from jamsos.rules import codes as vocab
from jamsos.warehouse.schema import SYNTH_MARKER

PU, BPU, JAKON, PMI = vocab.PU, vocab.BPU, vocab.JAKON, vocab.PMI


# The agency publishes active participants of three segments; PMI is counted within BPU.
PUBLISHED_SEGMENTS = tuple(vocab.SEGMENTS[i] for i in (PU, BPU, JAKON))


OPEN = 1 << 30


CALIBRATION = Period(2023, 12)


EXIT_REASON = {PU: "resignation", JAKON: "end_of_project", PMI: "end_of_placement"}


MARKER = SYNTH_MARKER


Progress = Callable[[str, int, int], None]


class SynthError(DomainError):
    code = "synth_invalid"


# ---- inputs ----------------------------------------------------------------------------------------
def data_text(name: str) -> str:
    return resources.files("jamsos.synth").joinpath("data", name).read_text(encoding="utf-8")


def behaviour() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(data_text("behaviour.yaml"))
    return loaded


def published() -> list[dict[str, str]]:
    return list(csv.DictReader(data_text("published_figures.csv").splitlines()))


def figure(rows: list[dict[str, str]], metric: str, period: str, kind: str | None = None) -> float:
    for r in rows:
        if r["metric"] == metric and r["period"] == period and (kind is None or kind in r["kind"]):
            return float(r["value"])
    raise SynthError(f"published figure {metric} {period} is missing")


def anchors_of(rows: list[dict[str, str]], metric: str, exclude_kind: str) -> dict[int, float]:
    return {
        Period.parse(r["period"]).ordinal: float(r["value"])
        for r in rows
        if r["metric"] == metric and exclude_kind not in r["kind"]
    }


def interpolate(anchors: dict[int, float], months: np.ndarray) -> np.ndarray:
    xs = np.array(sorted(anchors), dtype=np.float64)
    ys = np.array([anchors[int(x)] for x in xs])
    out = np.interp(months, xs, ys)
    if len(xs) >= 2:
        lo_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
        hi_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        out = np.where(months < xs[0], ys[0] + (months - xs[0]) * lo_slope, out)
        out = np.where(months > xs[-1], ys[-1] + (months - xs[-1]) * hi_slope, out)
    return np.asarray(out, dtype=np.float64)


def province_quotas() -> tuple[dict[str, float], dict[str, float], list[tuple[str, ...]]]:
    """Active and non-active shares per province group at 2023-12; Kalimantan Utara is counted with
    Kalimantan Timur (its NIK regencies are Kaltim codes in stdnum), and the source's last row is a group."""
    rows = list(csv.DictReader(data_text("active_by_province_2023-12.csv").splitlines()))
    groups: list[tuple[str, ...]] = []
    active: dict[str, float] = {}
    inactive: dict[str, float] = {}
    for r in rows:
        codes = tuple(r["province_code"].split("|"))
        codes = tuple("94" if c == "92" else c for c in codes)  # stdnum's Papua is 94
        key = "64" if codes == ("65",) else "|".join(codes)
        if key not in active:
            groups.append(codes if key != "64" else ("64",))
            active[key], inactive[key] = 0.0, 0.0
        active[key] += float(r["active"])
        inactive[key] += float(r["non_active"])
    groups = [g for g in groups if "|".join(g) in active]
    ta, ti = sum(active.values()), sum(inactive.values())
    return {k: v / ta for k, v in active.items()}, {k: v / ti for k, v in inactive.items()}, groups


def quota(total: int, shares: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``total`` by ``shares``."""
    raw = shares / shares.sum() * total
    base = np.floor(raw).astype(np.int64)
    rest = total - int(base.sum())
    if rest > 0:
        base[np.argsort(-(raw - base), kind="stable")[:rest]] += 1
    return np.asarray(base, dtype=np.int64)


# ---- the plan ------------------------------------------------------------------------------------
@dataclass
class Plan:
    t0: int
    months: int
    target: np.ndarray  # [segment, month] active
    lapse: np.ndarray
    back: np.ndarray
    new: np.ndarray
    inactive0: np.ndarray
    factor: float
    idle_factor: float


def segment_flows(
    target: np.ndarray, inactive0: np.ndarray, lapse: np.ndarray, back: np.ndarray
) -> tuple[np.ndarray, ...]:
    segs, months = target.shape
    out_l = np.zeros_like(target)
    out_b = np.zeros_like(target)
    out_n = np.zeros_like(target)
    for s in range(segs):
        active, idle = int(target[s, 0]), int(inactive0[s])
        for m in range(1, months):
            lapsed = round(active * lapse[s])
            returned = round(idle * back[s])
            joined = int(target[s, m]) - (active - lapsed + returned)
            if joined < 0:
                lapsed = min(active, lapsed - joined)
                joined = int(target[s, m]) - (active - lapsed + returned)
                if joined < 0:
                    returned += joined
                    joined = 0
            out_l[s, m], out_b[s, m], out_n[s, m] = lapsed, returned, joined
            active = int(target[s, m])
            idle = idle + lapsed - returned
    return out_l, out_b, out_n


def make_plan(*, scale: float, last: Period, calibration_target: str, beh: dict[str, Any]) -> Plan:
    rows = published()
    start = Period.parse(beh["calibration"]["start"])
    end = max(last, CALIBRATION)
    months = np.arange(start.ordinal, end.ordinal + 1, dtype=np.float64)
    drop = "audited" if calibration_target == "news" else "news"
    national = interpolate(anchors_of(rows, "active_participants", drop), months)
    shares = np.vstack(
        [interpolate(anchors_of(rows, f"active_participants_{s}", "-"), months) for s in PUBLISHED_SEGMENTS]
    )
    shares = shares / shares.sum(axis=0)
    pmi = float(beh["calibration"]["pmi_share_of_bpu"])
    seg_share = np.vstack([shares[0], shares[1] * (1 - pmi), shares[2], shares[1] * pmi])
    target = np.rint(national * 1e6 * scale * seg_share).astype(np.int64)
    # the calibration month is dealt exactly by quota so that segments add up to the national level
    c = CALIBRATION.ordinal - start.ordinal
    target[:, c] = quota(round(national[c] * 1e6 * scale), seg_share[:, c])
    inactive0 = np.rint(target[:, 0] * np.array([beh["inactive_at_start"][s] for s in vocab.SEGMENTS])).astype(np.int64)
    lapse = np.array([beh["lapse_per_month"][s] for s in vocab.SEGMENTS], dtype=np.float64)
    back = np.array([beh["reactivation_per_month"][s] for s in vocab.SEGMENTS], dtype=np.float64)
    registered = figure(rows, "registered_participants", str(CALIBRATION)) * 1e6 * scale

    def registered_with(factor: float, idle: float) -> tuple[float, tuple[np.ndarray, ...], np.ndarray]:
        start_idle = np.rint(inactive0 * idle).astype(np.int64)
        flows = segment_flows(target, start_idle, np.minimum(lapse * factor, 0.95), back)
        return float(target[:, 0].sum() + start_idle.sum() + flows[2][:, 1 : c + 1].sum()), flows, start_idle

    def solve(fn: Callable[[float], tuple[float, Any, Any]], lo: float, hi: float) -> float:
        for _ in range(50):
            mid = (lo + hi) / 2
            if fn(mid)[0] < registered:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    # the registered total is met by the stock of lapsed participants at the start; if even none is
    # too many, churn is scaled down instead (the report prints both factors)
    factor, idle = 1.0, 1.0
    if registered_with(1.0, 0.0)[0] <= registered:
        idle = solve(lambda m: registered_with(1.0, m), 0.0, 20.0)
    else:
        idle = 0.0
        factor = solve(lambda f: registered_with(f, 0.0), 0.0, 1.0)
    _, flows, inactive0 = registered_with(factor, idle)
    return Plan(start.ordinal, len(months), target, flows[0], flows[1], flows[2], inactive0, factor, idle)


def risk_classes() -> dict[str, str]:
    text = resources.files("jamsos.registry").joinpath("data", "sector_risk_class.csv").read_text(encoding="utf-8")
    return {r["sector"]: r["risk_class"] for r in csv.DictReader(text.splitlines())}
