"""Every page in a real browser: it loads with no console error, and its numbers are the KPI engine's."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from jamsos.coverage import service as coverage
from jamsos.fund import projection as fund
from jamsos.infra.compute import Warehouse, connect, open_warehouse
from jamsos.kernel.period import Period
from jamsos.planning import service as planning
from jamsos.planning import targets as tg
from jamsos.rules.tree import load_parameters
from jamsos.web.labels import fmt
from tests.scenario import nik
from tests.web.conftest import Served, Watched, login

pytestmark = pytest.mark.web

TREE = load_parameters()
DEC = Period(2023, 12)
REJECTED = "console error: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"

# (page, who looks at it): steering pages by head office, registration by the branch officer of Ternate.
PAGES = [
    ("/nasional", "pusat"),
    ("/nasional?lang=en", "pusat"),
    ("/wilayah", "pusat"),
    ("/wilayah?kanwil=sulama", "sulama"),
    ("/cabang/KC-TERNATE", "kc"),
    ("/ekosistem", "pusat"),
    ("/strategi", "pusat"),
    ("/target", "pusat"),
    ("/dana", "pusat"),
    ("/dana?scenario=pessimistic&lang=en", "pusat"),
    ("/peta", "pusat"),
    ("/ops", "kc"),
    ("/ops/daftar", "kc"),
    ("/ops/daftar-pemberi-kerja", "kc"),
    ("/ops/upah", "pemberi"),
    ("/ops/tagihan", "pusat"),
    ("/ops/bayar", "pusat"),
    ("/admin/audit", "admin"),
    ("/masuk", ""),
]


@pytest.fixture(scope="module")
def wh(served: Served) -> Warehouse:
    return open_warehouse(connect("duckdb"), served.warehouse, "duckdb")


def _name(url: str) -> str:
    return url.strip("/").replace("/", "-").replace("?", "-").replace("=", "-").replace("&", "-") or "root"


@pytest.mark.parametrize(("url", "user"), PAGES)
def test_every_page_loads_without_console_errors(
    served: Served, page: Watched, shots: Path, url: str, user: str
) -> None:
    if user:
        login(page.page, served.url, user)
    response = page.page.goto(served.url + url, wait_until="networkidle")
    assert response is not None and response.status == 200
    assert page.page.locator("main h1").count() == 1
    if not url.startswith(("/ops", "/admin", "/masuk")):
        assert (
            "0,001" in page.page.get_by_test_id("scale-note").inner_text()
            or "0.001" in page.page.get_by_test_id("scale-note").inner_text()
        )
    for canvas in page.page.locator("canvas[data-chart]").all():  # every chart was drawn
        assert canvas.evaluate("c => c.width > 0 && !!Chart.getChart(c)")
    page.page.screenshot(path=str(shots / f"{_name(url)}.png"), full_page=False)
    assert page.problems == []


def _rows(page: Watched, table: str) -> list[list[str]]:
    body = page.page.get_by_test_id(f"table-{table}").locator("tbody tr")
    return [[c.inner_text().strip() for c in row.locator("td").all()] for row in body.all()]


def test_national_numbers_are_the_kpi_engines(served: Served, page: Watched, wh: Warehouse) -> None:
    login(page.page, served.url, "pusat")
    n = coverage.snapshot_rows(wh, period=DEC, by=(), tree=TREE)[0]
    page.page.goto(served.url + "/nasional?period=2023-12")
    for key, kind in (("active", "int"), ("registered", "int"), ("active_yoy_pct", "pct"), ("retention_pct", "pct")):
        assert page.page.get_by_test_id(f"kpi-{key}").inner_text() == fmt(n[key], kind, "id")
    assert n["active"] == 41_460  # scale 0.001 of the calibrated 41.46 m
    segments = {r[0]: r[1] for r in _rows(page, "segmen")}
    expected = coverage.snapshot_rows(wh, period=DEC, by=("segment",), tree=TREE)
    assert sorted(segments.values()) == sorted(fmt(r["active"], "int", "id") for r in expected)
    page.page.goto(served.url + "/nasional?period=2023-06&lang=en")
    june = coverage.snapshot_rows(wh, period=Period(2023, 6), by=(), tree=TREE)[0]
    assert page.page.get_by_test_id("kpi-active").inner_text() == fmt(june["active"], "int", "en")


def test_regions_and_branch_match(served: Served, page: Watched, wh: Warehouse) -> None:
    login(page.page, served.url, "pusat")
    kanwil = {r["kanwil_name"]: r["active"] for r in coverage.snapshot_rows(wh, period=DEC, by=("kanwil",), tree=TREE)}
    page.page.goto(served.url + "/wilayah")
    shown = {r[0]: r[1] for r in _rows(page, "kanwil")}
    assert shown == {k: fmt(v, "int", "id") for k, v in kanwil.items()}
    page.page.get_by_role("link", name="Kanwil Sulawesi dan Maluku").click()
    page.page.wait_for_url("**kanwil=sulama**")  # the filter is in the URL
    branches = {r[0] for r in _rows(page, "cabang")}
    assert "KC Ternate" in branches
    page.page.get_by_role("link", name="KC Ternate").click()
    ternate = next(
        r for r in coverage.snapshot_rows(wh, period=DEC, by=("branch",), tree=TREE) if r["branch"] == "KC-TERNATE"
    )
    assert page.page.get_by_test_id("kpi-active").inner_text() == fmt(ternate["active"], "int", "id")
    assert page.problems == []


def test_targets_map_strategy_and_fund_match(served: Served, page: Watched, wh: Warehouse) -> None:
    login(page.page, served.url, "pusat")
    report = planning.attainment(wh, tree=TREE)
    page.page.goto(served.url + "/target")
    rows = _rows(page, "target")
    assert [(r[0], r[2], r[3]) for r in rows] == [
        (str(a.target.period), fmt(a.goal, "int", "id"), fmt(a.actual, "int", "id")) for a in report.rows
    ]
    page.page.goto(served.url + "/peta")
    provinces = {r["province_name"]: r for r in coverage.snapshot_rows(wh, period=DEC, by=("province",), tree=TREE)}
    shown = {r[0]: r[3] for r in _rows(page, "provinsi")}
    assert shown == {k: fmt(v["coverage_pct"], "pct", "id") for k, v in provinces.items()}
    assert page.page.locator("[data-testid=map] path[data-province='82']").get_attribute("fill") != "#dddddd"
    page.page.goto(served.url + "/strategi?min_workers=5")
    pds = coverage.pds_rows(wh, period=DEC, tree=TREE, min_workers=5)
    assert [r[0] for r in _rows(page, "pds")] == [str(r["employer_id"]) for r in pds]
    page.page.goto(served.url + "/dana")
    p = fund.project(fund.Scenario.load("base"), tree=TREE, until=Period(2024, 12))
    total = sum(p.closing(Period(2024, 12)).values())
    assert _rows(page, "dana")[-1][:2] == ["2024-12", fmt(total, "trillion", "id")]
    assert page.problems == []


def test_language_switch_keeps_the_filters(served: Served, page: Watched) -> None:
    login(page.page, served.url, "pusat")
    page.page.goto(served.url + "/wilayah?period=2023-06&kanwil=sulama")
    page.page.get_by_test_id("lang-switch").click()
    page.page.wait_for_url("**lang=en**")
    assert "period=2023-06" in page.page.url and "kanwil=sulama" in page.page.url
    assert page.page.locator("nav a[aria-current=page]").inner_text() == "Regions & branches"
    page.page.get_by_test_id("period").select_option("2023-12")
    page.page.get_by_role("button", name="Show").click()
    page.page.wait_for_url("**period=2023-12**")
    assert "lang=en" in page.page.url


def test_tables_download_as_csv_and_xlsx(served: Served, page: Watched) -> None:
    login(page.page, served.url, "pusat")
    csv_body = page.page.request.get(served.url + "/wilayah?format=csv&table=kanwil").body()
    rows = list(csv.reader(io.StringIO(csv_body.decode("utf-8-sig"))))
    assert rows[0][0] == "Kanwil" and len(rows) == 12
    xlsx_body = page.page.request.get(served.url + "/wilayah?format=xlsx&table=kanwil").body()
    sheet = load_workbook(io.BytesIO(xlsx_body)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert [list(map(str, v)) for v in values[1:]] == rows[1:]  # the same raw values in both


def test_a_worker_registered_through_the_form_appears_in_lookup(served: Served, page: Watched, shots: Path) -> None:
    new = nik(901, female=True)
    p = page.page
    login(p, served.url, "kc")
    p.goto(served.url + "/ops/daftar")
    p.get_by_test_id("nik").type("82710157", delay=10)
    check = p.get_by_test_id("nik-check")
    check.wait_for()
    assert check.inner_text().startswith("✗")  # too short: refused as it is typed
    p.get_by_test_id("nik").fill("")
    p.get_by_test_id("nik").type(new, delay=10)
    p.wait_for_function("() => document.querySelector('[data-testid=nik-check]')?.innerText.startsWith('✓')")
    assert "1985-08-17" in check.inner_text() and "perempuan" in check.inner_text()
    p.get_by_test_id("name").fill("Siti Uji Formulir")
    p.get_by_test_id("valid_from").fill("2024-12-01")
    p.get_by_test_id("regency_code").fill("8271")
    p.screenshot(path=str(shots / "ops-daftar-filled.png"))
    p.get_by_test_id("submit").click()
    p.wait_for_url(f"**/ops?q={new}")
    assert _rows(page, "hasil")[0][1:4] == [new, _rows(page, "hasil")[0][2], "Siti Uji Formulir"]
    p.get_by_role("link", name=new).click()
    assert p.get_by_test_id("field-name").inner_text() == "Siti Uji Formulir"
    p.goto(served.url + "/ops?q=uji formulir")
    assert any(r[3] == "Siti Uji Formulir" for r in _rows(page, "hasil"))
    # the same NIK again is refused with its reason, and nothing is added
    p.goto(served.url + "/ops/daftar")
    p.get_by_test_id("nik").fill(new)
    p.get_by_test_id("name").fill("Siti Lagi")
    p.get_by_test_id("valid_from").fill("2024-12-01")
    p.get_by_test_id("submit").click()
    assert "already registered" in p.get_by_test_id("problems").inner_text()
    p.goto(served.url + f"/ops?q={new}")
    assert len(_rows(page, "hasil")) == 1
    assert page.problems == [REJECTED]  # the refused form answers 422, which the browser reports


def test_a_bad_declaration_file_shows_its_row_errors(
    served: Served, page: Watched, shots: Path, tmp_path: Path
) -> None:
    first, second = list(served.firm.workers)
    login(page.page, served.url, "pemberi")  # the employer declares its own wages
    bad = tmp_path / "upah.csv"
    bad.write_text(f"nik,wage\n{first},5100000\n12345,4000000\n{second},-5\n", encoding="utf-8")
    p = page.page
    p.goto(served.url + "/ops/upah")
    p.get_by_test_id("npp").fill(served.firm.npp)
    p.get_by_test_id("decl-period").fill("2024-12")
    p.get_by_test_id("file").set_input_files(str(bad))
    p.get_by_test_id("upload").click()
    problems = p.get_by_test_id("problems")
    problems.wait_for()
    rows = _rows(page, "kesalahan")
    assert {(r[0], r[1]) for r in rows} == {("3", "nik"), ("4", "wage")}
    assert p.get_by_test_id("csv-kesalahan").count() == 0  # an answer to a POST: nothing to download again
    p.screenshot(path=str(shots / "ops-upah-errors.png"), full_page=True)
    good = tmp_path / "upah-ok.csv"
    good.write_text(f"nik,wage\n{first},5100000\n{second},4300000\n", encoding="utf-8")
    p.get_by_test_id("file").set_input_files(str(good))
    p.get_by_test_id("npp").fill(served.firm.npp)
    p.get_by_test_id("decl-period").fill("2024-12")
    p.get_by_test_id("upload").click()
    assert "2 " in p.get_by_test_id("result").inner_text()
    assert page.problems == [REJECTED]


def test_pages_follow_the_warehouse_when_targets_change(served: Served, page: Watched) -> None:
    login(page.page, served.url, "pusat")

    def target_page() -> str:
        return page.page.request.get(served.url + "/target").text()

    before = target_page()
    assert target_page() == before  # the second request is the kept page
    added = tg.Target(Period(2024, 12), "kanwil", "sulama", "", "", 7_654_321.0, "test")
    tg.store(served.warehouse, [added])
    after = target_page()
    assert after != before and fmt(round(7_654_321 * 0.001), "int", "id") in after


def test_an_employer_registered_through_the_form_gets_its_npp(served: Served, page: Watched) -> None:
    p = page.page
    login(p, served.url, "kc")
    p.goto(served.url + "/ops/daftar-pemberi-kerja?lang=en")
    p.get_by_test_id("emp-name").fill("CV Pala Formulir")
    p.get_by_test_id("legal_form").select_option("cv")
    p.get_by_test_id("sector").fill("g")
    p.get_by_test_id("size_class").select_option("kecil")
    p.get_by_test_id("emp-regency").fill("8271")
    p.get_by_test_id("emp-valid_from").fill("2024-11-01")
    p.get_by_test_id("emp-submit").click()
    p.wait_for_url("**/ops/pemberi-kerja/**")
    assert "lang=en" in p.url
    npp = p.url.split("/ops/pemberi-kerja/")[1].split("?")[0]
    assert p.get_by_test_id("field-npp").inner_text() == npp
    assert p.get_by_test_id("field-name").inner_text() == "CV Pala Formulir"
    p.goto(served.url + "/ops?q=pala formulir")
    assert [r[1] for r in _rows(page, "hasil")] == [npp]
    assert page.problems == []


def test_billing_run_exceptions_and_four_eyes_approval(served: Served, page: Watched, shots: Path) -> None:
    p = page.page
    login(p, served.url, "pusat")
    p.goto(served.url + "/ops/tagihan")
    p.locator("input[name=period]").fill("2024-11")
    p.get_by_role("button", name="Jalankan penagihan").click()
    p.wait_for_url("**/ops/tagihan/*")
    run_url = p.url
    assert p.get_by_test_id("run-status").inner_text() == "draft"
    assert p.get_by_test_id("run-maker").inner_text() == "pusat"  # the logged-in user, not a typed name
    assert int(p.get_by_test_id("run-lines").inner_text()) > 0
    p.screenshot(path=str(shots / "ops-tagihan-run.png"), full_page=True)
    p.locator("form[action$='/setujui'] button").click()  # the maker may not check her own run
    assert "another person must approve" in p.get_by_test_id("problems").inner_text()
    assert p.get_by_test_id("run-status").inner_text() == "draft"
    with p.expect_navigation():  # logging out lands on the login page: let it, before going there again
        p.get_by_test_id("logout").click()
    login(p, served.url, "budi")
    p.goto(run_url)
    with p.expect_navigation():  # the answer redirects back to the same URL: wait for the new page
        p.locator("form[action$='/setujui'] button").click()
    assert p.get_by_test_id("run-status").inner_text() == "approved"
    assert p.get_by_test_id("run-checker").inner_text() == "budi"
    assert page.problems == [
        "console error: Failed to load resource: the server responded with a status of 409 (Conflict)"
    ]


def test_a_payment_file_is_validated_then_posted_once(served: Served, page: Watched, tmp_path: Path) -> None:
    p = page.page
    login(p, served.url, "pusat")
    bad = tmp_path / "bank-bad.csv"
    bad.write_text(
        f"reference,va_number,amount,paid_on\nWEB001,{served.firm.va},-5,2024-12-10\nWEB002,999,1000,2024-13-01\n",
        encoding="utf-8",
    )
    p.goto(served.url + "/ops/bayar")
    p.get_by_test_id("file").set_input_files(str(bad))
    p.get_by_test_id("upload").click()
    fields = {(r[0], r[1]) for r in _rows(page, "kesalahan")}
    assert ("2", "amount") in fields and any(row == "3" for row, _ in fields)
    good = tmp_path / "bank.csv"
    good.write_text(
        f"reference,va_number,amount,paid_on\nWEB001,{served.firm.va},150000,2024-12-10\n", encoding="utf-8"
    )
    for posted in ("1", "0"):  # the same file again posts nothing
        p.goto(served.url + "/ops/bayar")
        p.get_by_test_id("file").set_input_files(str(good))
        p.get_by_test_id("upload").click()
        text = p.get_by_test_id("result").inner_text()
        assert f"Diposting {posted}," in text
    assert page.problems == [REJECTED]
