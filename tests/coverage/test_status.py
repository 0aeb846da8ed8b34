"""Membership status as the agency counts it (issue 16, step 1): the Ibis expression on DuckDB against a plain
reference written membership by membership from the rule's words, and the properties the rule must keep."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jamsos.coverage.status import StatusRule, status
from jamsos.infra.compute import to_rows
from jamsos.kernel.period import Period
from jamsos.rules.deadlines import paid_cutoff
from jamsos.rules.tree import ParameterTree, load_parameters

T0 = Period(2023, 1)
MONTHS = 12
TREE: ParameterTree = load_parameters()
RULE = StatusRule(
    pu_unpaid_months=int(TREE.value("coverage.status_pu_unpaid_months", T0)),
    bpu_grace_months=int(TREE.value("coverage.status_bpu_grace_months", T0)),
)
SEGMENTS = ("pu", "bpu", "jakon", "pmi")


def reference(m: dict[str, Any], paid: set[int], t: int, rule: StatusRule) -> dict[str, bool] | None:
    """The rule as the issue words it, for one membership in month ``t``; None when it is not open."""
    start, end = m["start"], m["end"]
    if not (start <= t and (end is None or end >= t)):
        return None
    mine = {p for p in paid if start <= p <= t}
    if m["segment"] == "pu":
        window = [p for p in range(t - rule.pu_unpaid_months + 1, t + 1) if p >= start]
        aktif = len(window) < rule.pu_unpaid_months or any(p in mine for p in window)
    elif m["segment"] == "bpu":
        aktif = any(p in mine for p in range(max(start, t - rule.bpu_grace_months), t + 1))
    else:
        aktif = t in mine
    before = [p for p in mine if p < t]
    new = m["segment"] == "bpu" and t in mine and (not before or t - max(before) - 1 > rule.bpu_grace_months)
    return {"aktif": aktif, "protected": t in mine, "new_acquisition": new}


membership = st.fixed_dictionaries(
    {
        "segment": st.sampled_from(SEGMENTS),
        "start": st.integers(T0.ordinal, T0.ordinal + MONTHS - 1),
        "length": st.one_of(st.none(), st.integers(0, MONTHS)),
        "paid": st.lists(st.integers(0, MONTHS - 1), max_size=MONTHS, unique=True),
        "late": st.lists(st.integers(0, MONTHS - 1), max_size=3, unique=True),  # paid after the cut-off
    }
)


def _tables(ms: list[dict[str, Any]], t: Period) -> tuple[pa.Table, pa.Table, dict[int, set[int]]]:
    """The memberships and their contributions; returns also the months paid by ``t``'s cut-off."""
    paid_by = paid_cutoff(t, TREE)
    rows, contributions, paid = [], [], {}
    for i, m in enumerate(ms, start=1):
        end = None if m["length"] is None else m["start"] + m["length"]
        rows.append({"membership_id": i, "segment": m["segment"], "start": m["start"], "end": end})
        paid[i] = set()
        for k in range(MONTHS):
            month = T0.ordinal + k
            on_time = Period.from_ordinal(month).last_day + dt.timedelta(days=10)
            if k in m["paid"]:
                paid_on = on_time + dt.timedelta(days=400) if k in m["late"] else on_time
                contributions.append({"membership_id": i, "period": month, "paid_on": paid_on})
                if paid_on <= paid_by:
                    paid[i].add(month)
            else:
                contributions.append({"membership_id": i, "period": month, "paid_on": None})  # billed, unpaid
    schema_m = pa.schema([("membership_id", pa.int64()), ("segment", pa.string()), ("start", pa.int64()),
                          ("end", pa.int64())])  # fmt: skip
    schema_c = pa.schema([("membership_id", pa.int64()), ("period", pa.int64()), ("paid_on", pa.date32())])
    return pa.Table.from_pylist(rows, schema=schema_m), pa.Table.from_pylist(contributions, schema=schema_c), paid


def _view(con: Any, name: str, table: pa.Table) -> Any:
    from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType

    types = {pa.int64(): LongType(), pa.string(): StringType(), pa.date32(): DateType()}
    schema = StructType([StructField(f.name, types[f.type], True) for f in table.schema])
    con._session.createDataFrame(table.to_pylist(), schema).createOrReplaceTempView(name)
    return con.table(name)


def _computed(
    ms: list[dict[str, Any]], t: Period, con: Any = None
) -> tuple[dict[int, dict[str, bool]], dict[int, set[int]]]:
    """The expression's answer on DuckDB (in memory), or on the backend ``con`` (its tables made from the same rows)."""
    m, c, paid = _tables(ms, t)
    paid_by = paid_cutoff(t, TREE)
    if con is None:
        mt, ct = ibis.memtable(m), ibis.memtable(c)
    else:  # temporary views with the Arrow types (a column of nulls stays typed, and no table is written)
        mt, ct = (_view(con, name, table) for name, table in (("status_m", m), ("status_c", c)))
    expr = status(mt, ct, period=t, paid_by=paid_by, rule=RULE)
    rows = to_rows(expr) if con is None else con.to_pyarrow(expr).to_pylist()
    return {r["membership_id"]: {k: r[k] for k in ("aktif", "protected", "new_acquisition")} for r in rows}, paid


@settings(max_examples=60, deadline=None)
@given(st.lists(membership, min_size=1, max_size=12), st.integers(0, MONTHS - 1))
def test_the_expression_follows_the_rule_membership_by_membership(ms: list[dict[str, Any]], k: int) -> None:
    t = T0 + k
    got, paid = _computed(ms, t)
    for i, m in enumerate(ms, start=1):
        row = {
            "segment": m["segment"],
            "start": m["start"],
            "end": None if m["length"] is None else m["start"] + m["length"],
        }
        assert got.get(i) == reference(row, paid[i], t.ordinal, RULE), (i, m)


@pytest.mark.spark
@settings(max_examples=3, deadline=None)
@given(st.lists(membership, min_size=1, max_size=12), st.integers(0, MONTHS - 1))
def test_pyspark_gives_the_same_status(ms: list[dict[str, Any]], k: int) -> None:
    """The same expression on PySpark in local mode: the engine for data beyond one machine."""
    from jamsos.infra.compute import connect

    t = T0 + k
    got, paid = _computed(ms, t, connect("spark", threads=2))
    for i, m in enumerate(ms, start=1):
        end = None if m["length"] is None else m["start"] + m["length"]
        assert got.get(i) == reference(
            {"segment": m["segment"], "start": m["start"], "end": end}, paid[i], t.ordinal, RULE
        )


@settings(max_examples=40, deadline=None)
@given(membership, st.integers(0, MONTHS - 1), st.integers(0, MONTHS - 1))
def test_paying_a_missing_month_never_turns_an_aktif_membership_nonaktif(m: dict[str, Any], k: int, pay: int) -> None:
    t = T0 + k
    before, _ = _computed([m], t)
    after, _ = _computed([{**m, "paid": sorted({*m["paid"], pay}), "late": [x for x in m["late"] if x != pay]}], t)
    if before.get(1, {}).get("aktif"):
        assert after[1]["aktif"]


def test_the_agency_s_cases() -> None:
    """Worked by hand from the rule: a PU employer three months behind; a new PU membership; a BPU within and past
    its grace; a BPU paying again after the gap (a new acquisition); Jakon paid; a payment after the cut-off."""
    start = T0.ordinal
    ms = [
        {"segment": "pu", "start": 0, "length": None, "paid": [0, 1, 2, 3], "late": []},  # unpaid 4, 5, 6
        {"segment": "pu", "start": 5, "length": None, "paid": [], "late": []},  # started in month 5
        {"segment": "bpu", "start": 0, "length": None, "paid": [0, 3], "late": []},
        {"segment": "bpu", "start": 0, "length": None, "paid": [0, 6], "late": []},  # paid again after 5 unpaid
        {"segment": "jakon", "start": 0, "length": 8, "paid": [6], "late": []},
        {"segment": "pu", "start": 0, "length": None, "paid": [4, 5, 6], "late": [6]},  # month 6 paid too late
    ]
    for m in ms:
        m["start"] = start + m["start"]
    got, _ = _computed(ms, T0 + 6)
    assert got[1]["aktif"] is False  # 4, 5 and 6 unpaid: nonaktif
    assert got[2]["aktif"] is True and got[2]["protected"] is False  # younger than three months
    assert got[3]["aktif"] is True  # month 3 paid: within t-3 … t
    assert got[4] == {"aktif": True, "protected": True, "new_acquisition": True}
    assert got[5] == {"aktif": True, "protected": True, "new_acquisition": False}
    assert got[6]["aktif"] is True and got[6]["protected"] is False  # 4 and 5 count; 6 came after the cut-off
    got, _ = _computed(ms, T0 + 9)
    assert got[3]["aktif"] is False  # nothing paid in 6 … 9
    assert 5 not in got  # the project ended in month 8
