"""Forecasts on series with known structure: intervals cover the truth at about their nominal rate,
gaps are accepted, the target probability behaves, and the command gives the documented JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jamsos.cli.main import app
from jamsos.kernel.period import Period
from jamsos.planning.forecast import ForecastError, forecast

START = Period(2019, 1)


def test_intervals_cover_the_truth_at_about_their_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    hits80, hits95, runs = 0, 0, 80
    for _ in range(runs):
        drift, level_sd, noise_sd = rng.normal(0.5, 0.2), 0.4, 0.6
        level = np.cumsum(drift + rng.normal(0, level_sd, 54)) + 100
        y = level + rng.normal(0, noise_sd, 54)
        keep = rng.random(48) > 0.15  # gaps in the history
        obs = [(START + i, float(y[i])) for i in range(48) if keep[i]]
        f = forecast(obs, until=START + 53, model="local_linear_trend", origins=0)
        point = f.points[-1].to_json()
        hits80 += point["lo80"] <= y[53] <= point["hi80"]
        hits95 += point["lo95"] <= y[53] <= point["hi95"]
    assert 0.65 <= hits80 / runs <= 0.95
    assert 0.85 <= hits95 / runs <= 1.0


def test_gaps_are_accepted_and_a_straight_line_is_extended() -> None:
    obs = [(START + i, 10.0 + 2.0 * i) for i in range(36) if i % 5 != 3]
    f = forecast(obs, until=START + 41, model="local_linear_trend", origins=0)
    assert f.points[-1].period == START + 41
    assert f.points[-1].mean == pytest.approx(10.0 + 2.0 * 41, rel=0.01)


def test_target_probability_and_backtests() -> None:
    rng = np.random.default_rng(3)
    obs = [(START + i, float(100 + i + rng.normal(0, 2))) for i in range(40)]
    f = forecast(obs, until=START + 51, target=150.0)
    end = f.points[-1]
    low = forecast(obs, until=START + 51, target=end.mean - 3 * end.sd, model=f.model).p_reach_target
    high = forecast(obs, until=START + 51, target=end.mean + 3 * end.sd, model=f.model).p_reach_target
    at_mean = forecast(obs, until=START + 51, target=end.mean, model=f.model).p_reach_target
    assert low is not None and high is not None and at_mean is not None
    assert low > 0.99 and high < 0.01 and at_mean == pytest.approx(0.5, abs=0.01)
    assert {b.model for b in f.backtests} == {"local_linear_trend", "random_walk_with_drift", "smooth_trend"}
    chosen = next(b for b in f.backtests if b.model == f.model)
    assert chosen.mape_pct == min(b.mape_pct for b in f.backtests if b.mape_pct is not None)
    assert chosen.origins == 6 and 0 <= (chosen.coverage80 or 0) <= 1
    with pytest.raises(ForecastError):
        forecast(obs[:2], until=START + 51)
    with pytest.raises(ForecastError):
        forecast(obs, until=START + 10)


def test_forecast_command(tmp_path: Path) -> None:
    series = tmp_path / "s.csv"
    series.write_text(
        "period,value\n2018-12,30.46\n2019-12,34.17\n2020-01,33.2\n2020-06,28.7\n2021-12,30.66\n2022-12,35.86\n2023-12,41.46\n"
    )
    result = CliRunner().invoke(
        app, ["forecast", "--input", str(series), "--until", "2024-12", "--target", "53.86", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["until"] == "2024-12" and data["target"] == 53.86 and 0 <= data["p_reach_target"] <= 1
    assert next(p["period"] for p in data["points"]) == "2024-01" and len(data["points"]) == 12
    assert all(p["lo95"] <= p["lo80"] <= p["mean"] <= p["hi80"] <= p["hi95"] for p in data["points"])
    bad = tmp_path / "bad.csv"
    bad.write_text("period,value\n2023-13,1\n2023-01,x\n2023-02,1\n2023-02,2\n")
    result = CliRunner().invoke(app, ["forecast", "--input", str(bad), "--until", "2024-12"])
    assert result.exit_code == 2
    assert "row 2, period" in result.output and "row 3, value" in result.output and "row 5, period" in result.output
