"""The core KPI snapshot in straightforward pandas: the baseline bench/kpi.py compares DuckDB and
Spark against (a helper, not a benchmark itself). It computes the headline counts only (active,
previous month, a year ago, retained, lapsed, reactivated, new, registered), so it does less work
than the full snapshot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jamsos.kernel.period import Period

OFFICE_COLS = {"kanwil": "kanwil_code", "branch": "branch_code", "province": "province_code"}


def snapshot(directory: Path, period: Period, by: tuple[str, ...], base: int = 3) -> pd.DataFrame:
    offices = pd.read_parquet(directory / "offices")
    keys = [OFFICE_COLS.get(d, d) for d in by]

    def month(p: Period) -> pd.DataFrame:
        df = pd.read_parquet(directory / "contribution_months" / f"period={p}")
        df = df[(df["programs"] & base) == base]
        for col in ("segment", "ecosystem", "channel", "regency_code", "person_since"):
            df[col] = df[col].astype(str)
        df = df.merge(
            offices[["regency_code", "kanwil_code", "branch_code", "province_code"]], on="regency_code", how="left"
        )
        return df

    now, before, ago = month(period), month(period + -1), month(period + -12)
    ids_now = pd.Index(now["person_id"])
    ids_before = pd.Index(before["person_id"])
    parts = {
        "active": now.groupby(keys).size(),
        "active_prev": before.groupby(keys).size(),
        "active_yoy_base": ago.groupby(keys).size(),
        "retained": ago[ago["person_id"].isin(ids_now)].groupby(keys).size(),
        "lapsed": before[~before["person_id"].isin(ids_now)].groupby(keys).size(),
        "reactivated": now[(now["person_since"] < str(period)) & ~now["person_id"].isin(ids_before)]
        .groupby(keys)
        .size(),
        "new": now[now["person_since"] == str(period)].groupby(keys).size(),
    }
    regs = pd.read_parquet(directory / "registrations")
    regs = regs[(regs["registered"].astype(str) <= str(period)) & regs["first_of_person"]]
    for col in ("segment", "ecosystem", "channel", "regency_code"):
        regs[col] = regs[col].astype(str)
    regs = regs.merge(
        offices[["regency_code", "kanwil_code", "branch_code", "province_code"]], on="regency_code", how="left"
    )
    parts["registered"] = regs.groupby(keys).size()  # each person on their first membership
    out = pd.DataFrame(parts).fillna(0).astype("int64").reset_index()
    out["active_yoy_pct"] = (
        (out["active"] - out["active_yoy_base"]) * 100.0 / out["active_yoy_base"].where(out["active_yoy_base"] != 0)
    )
    out["retention_pct"] = out["retained"] * 100.0 / out["active_yoy_base"].where(out["active_yoy_base"] != 0)
    return out
