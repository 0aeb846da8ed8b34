"""Forecasts of a monthly series with prediction intervals, from state-space models that accept gaps
(statsmodels' unobserved-components models, estimated through the Kalman filter), chosen by a
rolling-origin back-test whose error metrics are reported with the choice."""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from jamsos.kernel.errors import DomainError
from jamsos.kernel.period import Period

MODELS = {
    "local_linear_trend": {"level": "local linear trend"},
    "random_walk_with_drift": {"level": "random walk with drift"},
    "smooth_trend": {"level": "smooth trend"},
}
Z80, Z95 = 1.2815515655446004, 1.959963984540054


class ForecastError(DomainError):
    code = "forecast_invalid"


@dataclass(frozen=True)
class Point:
    period: Period
    mean: float
    sd: float

    def to_json(self) -> dict[str, Any]:
        return {
            "period": str(self.period),
            "mean": round(self.mean, 4),
            "lo80": round(self.mean - Z80 * self.sd, 4),
            "hi80": round(self.mean + Z80 * self.sd, 4),
            "lo95": round(self.mean - Z95 * self.sd, 4),
            "hi95": round(self.mean + Z95 * self.sd, 4),
        }


@dataclass(frozen=True)
class Backtest:
    model: str
    origins: int
    mape_pct: float | None
    mae: float | None
    coverage80: float | None
    coverage95: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "origins": self.origins,
            "mape_pct": self.mape_pct,
            "mae": self.mae,
            "coverage80": self.coverage80,
            "coverage95": self.coverage95,
        }


@dataclass(frozen=True)
class Forecast:
    until: Period
    model: str
    points: list[Point]
    backtests: list[Backtest]
    target: float | None
    p_reach_target: float | None
    assumptions: str

    def to_json(self) -> dict[str, Any]:
        return {
            "until": str(self.until),
            "model": self.model,
            "points": [p.to_json() for p in self.points],
            "target": self.target,
            "p_reach_target": None if self.p_reach_target is None else round(self.p_reach_target, 4),
            "backtests": [b.to_json() for b in self.backtests],
            "assumptions": self.assumptions,
        }


def _monthly(observations: list[tuple[Period, float]]) -> tuple[Period, np.ndarray]:
    if len(observations) < 3:
        raise ForecastError("at least three observations are needed")
    ordered = sorted(observations)
    periods = [p for p, _ in ordered]
    if len(set(periods)) != len(periods):
        raise ForecastError("a month appears more than once")
    first = periods[0]
    values = np.full(periods[-1] - first + 1, np.nan)
    for p, v in ordered:
        values[p - first] = v
    return first, values


def _fit(values: np.ndarray, model: str) -> Any:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return UnobservedComponents(values, **MODELS[model]).fit(disp=False)


def _predict(values: np.ndarray, model: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    result = _fit(values, model)
    fc = result.get_forecast(steps)
    mean = np.asarray(fc.predicted_mean, dtype=np.float64)
    sd = np.sqrt(np.maximum(np.asarray(fc.var_pred_mean, dtype=np.float64), 0.0))
    return mean, sd


def backtest(values: np.ndarray, model: str, horizon: int, origins: int = 6) -> Backtest:
    """Rolling origin: fit on the data up to each origin, forecast ``horizon`` months, compare."""
    observed = np.flatnonzero(~np.isnan(values))
    candidates = [int(i) for i in observed if i >= 12 and i + horizon < len(values)]
    ends = candidates[-origins:] if origins > 0 else []
    errors, pct, in80, in95 = [], [], [], []
    for end in ends:
        mean, sd = _predict(values[: end + 1], model, horizon)
        for step in range(horizon):
            actual = values[end + 1 + step]
            if np.isnan(actual):
                continue
            e = actual - mean[step]
            errors.append(abs(e))
            if actual:
                pct.append(abs(e) / abs(actual) * 100)
            in80.append(abs(e) <= Z80 * sd[step])
            in95.append(abs(e) <= Z95 * sd[step])

    def avg(xs: list[Any]) -> float | None:
        return round(float(np.mean(xs)), 4) if xs else None

    return Backtest(model, len(ends), avg(pct), avg(errors), avg(in80), avg(in95))


def forecast(
    observations: list[tuple[Period, float]],
    *,
    until: Period,
    target: float | None = None,
    model: str | None = None,
    origins: int = 6,
) -> Forecast:
    """Forecast to ``until`` with 80 % and 95 % intervals; the model is the one with the lowest
    back-test error (MAPE) unless given; ``p_reach_target`` is the probability that the value at
    ``until`` is at least ``target`` under the model's Gaussian forecast distribution."""
    first, values = _monthly(observations)
    last = first + (len(values) - 1)
    if until <= last:
        raise ForecastError(f"forecast to a month after the last observation ({last})")
    if model is not None and model not in MODELS:
        raise ForecastError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    steps = until - last
    horizon = max(1, min(steps, 12))
    tests = [backtest(values, m, horizon, origins) for m in MODELS]
    if model is None:
        scored = [b for b in tests if b.mape_pct is not None]
        model = min(scored, key=lambda b: b.mape_pct or 0.0).model if scored else "local_linear_trend"
    mean, sd = _predict(values, model, steps)
    points = [Point(last + (i + 1), float(mean[i]), float(sd[i])) for i in range(steps)]
    p_reach = None
    if target is not None:
        end = points[-1]
        p_reach = (
            1.0
            if end.sd == 0 and end.mean >= target
            else (0.0 if end.sd == 0 else 0.5 * math.erfc((target - end.mean) / (end.sd * math.sqrt(2))))
        )
    assumptions = (
        f"{model.replace('_', ' ')} state-space model estimated by maximum likelihood on "
        f"{int((~np.isnan(values)).sum())} observed months ({first} … {last}, gaps allowed); Gaussian "
        "errors; the future follows the estimated trend and variances — no break, policy change or "
        "target campaign is modelled."
    )
    return Forecast(until, model, points, tests, target, p_reach, assumptions)


def published_active() -> list[tuple[Period, float]]:
    """The agency's published active participants (millions) at the news cut-off: the national series the
    targets are set against (``synth/data/published_figures.csv``, a copy of the shared reference)."""
    text = resources.files("jamsos.synth").joinpath("data/published_figures.csv").read_text(encoding="utf-8")
    return [
        (Period.parse(r["period"]), float(r["value"]))
        for r in csv.DictReader(io.StringIO(text))
        if r["metric"] == "active_participants" and "audited" not in r["kind"]
    ]
