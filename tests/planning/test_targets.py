"""Targets: validation, storage, attainment arithmetic, and the decomposition that sums back exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jamsos.fund import projection as fund
from jamsos.infra.compute import connect, open_warehouse
from jamsos.kernel.errors import DomainError, InvalidInput
from jamsos.kernel.period import Period
from jamsos.planning import service
from jamsos.planning import targets as tg
from jamsos.rules.tree import load_parameters
from tests.conftest import run_cli

run = run_cli


@pytest.fixture(scope="module")
def warehouse(nation_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's own copy: its tests store targets in it."""
    return Path(shutil.copytree(nation_template, tmp_path_factory.mktemp("wh") / "nation"))


def test_defaults_are_the_published_national_targets() -> None:
    held = {str(t.period): t.value for t in tg.default_targets() if t.level == "national"}
    assert held == {"2023-12": 43_920_000, "2024-12": 53_860_000}


def test_every_bad_cell_is_named_and_a_repeated_key_refused(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(
        "period,level,office,segment,ecosystem,value\n"
        "2024-13,branch,KC-TERNATE,,,100\n"
        "2024-12,region,,,,100\n"
        "2024-12,national,KC-TERNATE,,,100\n"
        "2024-12,branch,,,,100\n"
        "2024-12,branch,KC-NOWHERE,,,100\n"
        "2024-12,branch,KC-TERNATE,informal,,100\n"
        "2024-12,branch,KC-TERNATE,,mall,100\n"
        "2024-12,branch,KC-TERNATE,,,-5\n"
        "2024,branch,KC-TERNATE,,,12000\n"
        "2024-12,branch,KC-TERNATE,,,13000\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as caught:
        tg.read_targets(f, offices={"kanwil": {"sulama"}, "branch": {"KC-TERNATE"}})
    found = {(p.row, p.field) for p in caught.value.problems}
    assert found == {
        (2, "period"),
        (3, "level"),
        (4, "office"),
        (5, "office"),
        (6, "office"),
        (7, "segment"),
        (8, "ecosystem"),
        (9, "value"),
        (11, "period"),  # "2024" is 2024-12, so row 11 repeats row 10
    }


def test_yaml_targets_are_read(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("targets:\n  - {period: 2024-12, level: kanwil, office: sulama, value: 2.5e6}\n", encoding="utf-8")
    [t] = tg.read_targets(f, offices={"kanwil": {"sulama"}})
    assert (t.period, t.level, t.office, t.value, t.source) == (Period(2024, 12), "kanwil", "sulama", 2.5e6, "t.yaml")


def test_store_replaces_by_key_and_a_repeat_changes_nothing(tmp_path: Path) -> None:
    a = tg.Target(Period(2024, 12), "kanwil", "sulama", "", "", 100.0, "a")
    b = tg.Target(Period(2024, 12), "kanwil", "jatim", "", "", 200.0, "a")
    assert tg.store(tmp_path, [a, b]).to_json() == {"added": 2, "changed": 0, "unchanged": 0}
    before = (tmp_path / tg.STORE).read_bytes()
    assert tg.store(tmp_path, [a, b]).to_json() == {"added": 0, "changed": 0, "unchanged": 2}
    assert (tmp_path / tg.STORE).read_bytes() == before
    changed = tg.Target(Period(2024, 12), "kanwil", "sulama", "", "", 150.0, "b")
    assert tg.store(tmp_path, [changed]).to_json() == {"added": 0, "changed": 1, "unchanged": 0}
    held = {t.office: t.value for t in tg.load(tmp_path) if t.level == "kanwil"}
    assert held == {"sulama": 150.0, "jatim": 200.0}
    assert any(t.level == "national" for t in tg.load(tmp_path))  # the defaults stay


def test_attainment_arithmetic() -> None:
    t = tg.Target(Period(2024, 12), "branch", "KC-X", "", "", 1_300.0)
    history = {Period(2022, 12): 900, Period(2023, 6): 1_000, Period(2023, 12): 1_020}
    a = tg.attain(t, history, as_of=Period(2023, 12))
    assert (a.actual, a.gap, a.months_left, a.run_rate_months) == (1_020, 280, 12, 12)
    assert a.run_rate == pytest.approx(10.0) and a.required_per_month == pytest.approx(23.3)
    assert a.attainment_pct == pytest.approx(78.46) and not a.on_track
    met = tg.attain(tg.Target(Period(2023, 12), "branch", "KC-X", "", "", 1_000.0), history, as_of=Period(2023, 12))
    assert met.gap == -20 and met.on_track and met.required_per_month is None
    ranked = tg.rank(
        [a, tg.attain(tg.Target(Period(2024, 12), "branch", "KC-Y", "", "", 1_100.0), history, as_of=Period(2023, 12))]
    )
    assert [(r.target.office, r.rank, r.peers) for r in ranked] == [("KC-Y", 1, 2), ("KC-X", 2, 2)]


@given(st.integers(-(10**9), 10**9), st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_largest_remainder_adds_up_exactly(total: int, weights: list[float]) -> None:
    parts = tg.largest_remainder(total, weights)
    assert sum(parts) == total
    s = sum(weights)
    shares = [w / s for w in weights] if s > 0 else [1 / len(weights)] * len(weights)
    assert all(abs(p - total * x) < 1 for p, x in zip(parts, shares, strict=True))


cells = st.builds(
    lambda prov, branch, eco, active, ago, new: tg.Cell(
        prov, f"P{prov}", f"{prov}-{branch}", f"B{branch}", f"K{int(prov) % 3}", "", eco, active, ago, new
    ),
    st.sampled_from(["11", "12", "31", "82"]),
    st.integers(1, 4),
    st.sampled_from(["", "desa", "pasar"]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 2_000),
)


@settings(max_examples=200)
@given(
    st.lists(cells, min_size=1, max_size=30, unique_by=lambda c: (c.province, c.branch, c.ecosystem)),
    st.integers(0, 500_000),
    st.dictionaries(st.sampled_from(["11", "12", "31", "82"]), st.integers(0, 100_000)),
    st.sampled_from(["province", "kanwil", "branch"]),
    st.booleans(),
)
def test_decomposition_sums_back_to_the_national_target_exactly(
    cs: list[tg.Cell], target: int, employed: dict[str, int], to: str, ecosystems: bool
) -> None:
    d = tg.decompose(
        national_target=target,
        cells=cs,
        employed=employed,
        as_of=Period(2023, 12),
        period=Period(2024, 12),
        to=to,
        ecosystems=ecosystems,
    )
    assert sum(r["target"] for r in d.rows) == target
    assert sum(r["active"] for r in d.rows) == sum(c.active for c in cs)
    assert sum(r["gap_share"] for r in d.rows) == d.gap


def test_decomposition_follows_potential_between_provinces() -> None:
    # Same new participants, but province 12 has three times the uncovered workforce left.
    cs = [
        tg.Cell("11", "A", "11-1", "B1", "K", "", "", 500, 400, 100),
        tg.Cell("12", "B", "12-1", "B2", "K", "", "", 500, 400, 100),
    ]
    d = tg.decompose(
        national_target=1_000 + 400,
        cells=cs,
        employed={"11": 900, "12": 1_900},
        as_of=Period(2023, 12),
        period=Period(2024, 12),
        to="province",
    )
    shares = {r["province"]: r["gap_share"] for r in d.rows}
    # potential = uncovered × new / uncovered a year ago: 400×100/500 = 80 and 1400×100/1500 ≈ 93.3
    assert shares == {"11": 185, "12": 215}


def test_decomposition_on_a_synthetic_nation(warehouse: Path) -> None:
    w = open_warehouse(connect("duckdb"), warehouse, "duckdb")
    tree = load_parameters()
    branches = service.decompose(w, tree=tree, period=Period(2024, 12), to="branch", ecosystems=True)
    kanwil = service.decompose(w, tree=tree, period=Period(2024, 12), to="kanwil")
    expected = round(53_860_000 * 0.001)
    assert branches.national_target == kanwil.national_target == expected
    assert sum(r["target"] for r in branches.rows) == sum(r["target"] for r in kanwil.rows) == expected
    assert {r["ecosystem"] for r in branches.rows} >= {"", "desa", "pasar"}
    assert kanwil.national_actual == 41_460  # scale 0.001 of the 41.46 m calibration target
    # Kanwil shares equal the sum of their provinces' potential shares (step 1 of the method).
    assert len(kanwil.provinces) >= 30 and all(p.conversion >= 0 for p in kanwil.provinces)


def test_target_commands_end_to_end(warehouse: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("period,level,office,value\n2024-12,branch,KC-NOWHERE,10\n", encoding="utf-8")
    output = run("target", "import", str(bad), "-w", str(warehouse), code=2)
    assert "row 2, office" in output and not (warehouse / tg.STORE).exists()

    output = run(
        "target", "decompose", "-w", str(warehouse), "--period", "2024-12", "--to", "branch", "--save", "--json"
    )
    saved = json.loads(output.splitlines()[0])
    assert "stored: " in output
    assert sum(r["target"] for r in saved["rows"]) == saved["national_target"]
    report = json.loads(run("target", "attainment", "-w", str(warehouse), "--level", "branch", "--json"))
    rows = report["rows"]
    assert report["scale"] == 0.001 and len(rows) == len([r for r in saved["rows"] if r["target"] > 0])
    by_branch = {r["branch"]: r["target"] for r in saved["rows"]}
    assert all(r["target"] == by_branch[r["office"]] for r in rows)  # stored in national units, scaled back exactly
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(rows[i]["attainment_pct"] >= rows[i + 1]["attainment_pct"] for i in range(len(rows) - 1))
    ternate = next(r for r in rows if r["office"] == "KC-TERNATE")
    assert ternate["office_name"] == "KC Ternate" and ternate["months_left"] == 12
    assert ternate["required_per_month"] == pytest.approx(round(max(ternate["gap"], 0) / 12, 1))

    good = tmp_path / "good.csv"
    good.write_text("period,level,office,value\n2024-12,branch,KC-TERNATE,250000\n", encoding="utf-8")
    assert json.loads(run("target", "import", str(good), "-w", str(warehouse), "--json"))["changed"] == 1
    assert json.loads(run("target", "import", str(good), "-w", str(warehouse), "--json"))["unchanged"] == 1
    national = json.loads(
        run("target", "attainment", "-w", str(warehouse), "--level", "national", "--forecast", "--json")
    )
    open_target = next(r for r in national["rows"] if r["period"] == "2024-12")
    assert open_target["target"] == 53_860 and 0 <= open_target["p_reach_target"] <= 1


def test_report_has_target_and_fund_sections_computed_from_the_data(warehouse: Path) -> None:
    text = " ".join(run("report", "-w", str(warehouse), "--year", "2023", "--sections", "targets,fund").split())
    w = open_warehouse(connect("duckdb"), warehouse, "duckdb")
    att = service.attainment(w, tree=load_parameters(), periods=[Period(2024, 12)], levels=["national"])
    [a] = att.rows
    gap = f"{a.gap:,}".replace(",", ".")
    assert f"Target 2024-12: {a.goal:,} peserta aktif.".replace(",", ".") in text
    assert f"kekurangan {gap}." in text and "Proyeksi 2024-12:" in text and "peluang mencapai target" in text
    p = fund.project(fund.Scenario.load("base"), tree=load_parameters(), until=Period(2024, 12))
    total = sum(p.closing(Period(2024, 12)).values()) / 1e12
    assert f"diproyeksikan Rp{total:.2f} triliun pada 2024-12".replace(".", ",") in text
    assert "target peta jalan 2024-12 sebesar Rp781,77 triliun" in text
    english = " ".join(
        run("report", "-w", str(warehouse), "--year", "2023", "--lang", "en", "--sections", "targets").split()
    )
    assert f"Target for 2024-12: {a.goal:,} active participants." in english and "behind" in english
    assert "--sections" in run("report", "-w", str(warehouse), "--year", "2023", "--sections", "weather", code=2)


def test_ecosystems_rank_against_each_other_nationally() -> None:
    history = {Period(2023, 12): 100}
    rows = [
        tg.attain(tg.Target(Period(2024, 12), "national", "", "", eco, goal), history, as_of=Period(2023, 12))
        for eco, goal in (("desa", 200.0), ("pasar", 125.0), ("ukm", 400.0))
    ]
    rows.append(
        tg.attain(tg.Target(Period(2024, 12), "national", "", "", "", 1_000.0), history, as_of=Period(2023, 12))
    )
    ranked = {(a.target.ecosystem, a.rank, a.peers) for a in tg.rank(rows)}
    assert ranked == {("pasar", 1, 3), ("desa", 2, 3), ("ukm", 3, 3), ("", 1, 1)}


def test_a_decomposition_by_ecosystem_stores_unit_totals_and_named_ecosystems(tmp_path: Path) -> None:
    cs = [
        tg.Cell("11", "A", "KC-1", "B1", "K", "", "", 50, 40, 10),
        tg.Cell("11", "A", "KC-1", "B1", "K", "", "desa", 30, 20, 10),
        tg.Cell("11", "A", "KC-2", "B2", "K", "", "pasar", 20, 20, 0),
    ]
    d = tg.decompose(
        national_target=200,
        cells=cs,
        employed={"11": 1_000},
        as_of=Period(2023, 12),
        period=Period(2024, 12),
        to="branch",
        ecosystems=True,
    )
    held = {(t.office, t.ecosystem): t.value for t in d.targets(0.5, "test")}
    assert set(held) == {("KC-1", ""), ("KC-1", "desa"), ("KC-2", ""), ("KC-2", "pasar")}
    assert held[("KC-1", "")] + held[("KC-2", "")] == 200 / 0.5  # totals in national units add up
    assert held[("KC-2", "")] == held[("KC-2", "pasar")]
    with pytest.raises(DomainError, match="kanwil and branch"):
        tg.decompose(
            national_target=200, cells=cs, employed={}, as_of=Period(2023, 12), period=Period(2024, 12), to="province"
        ).targets(None, "x")


def test_a_year_out_of_range_is_a_named_problem() -> None:
    # found by the parser fuzz test: "1000" used to escape as a bare ValueError
    with pytest.raises(InvalidInput) as caught:
        tg.parse_targets([(2, {"period": "1000", "level": "national", "value": "5"})])
    assert [(p.row, p.field) for p in caught.value.problems] == [(2, "period")]
