"""Regenerate the illustrative default office map and minimum-wage table in src/jamsos/registry/data.

The agency publishes no list of its branches; this map assigns every regency of python-stdnum's
region list to a Kantor Cabang (about five regencies each, named after a city in the group), with
the branches of Maluku Utara as the agency names them (KC Ternate, Halmahera Selatan, Halmahera Utara).
"""

from __future__ import annotations

import csv
from pathlib import Path

from jamsos.registry.reference import stdnum_regions

OUT = Path(__file__).resolve().parents[1] / "src/jamsos/registry/data"

KANWIL = {
    "sumbagut": ("Kanwil Sumatera Bagian Utara", ["11", "12"]),
    "sumbarriau": ("Kanwil Sumatera Barat dan Riau", ["13", "14", "21"]),
    "sumbagsel": ("Kanwil Sumatera Bagian Selatan", ["15", "16", "17", "18", "19"]),
    "dki": ("Kanwil DKI Jakarta", ["31"]),
    "banten": ("Kanwil Banten", ["36"]),
    "jabar": ("Kanwil Jawa Barat", ["32"]),
    "jateng_diy": ("Kanwil Jawa Tengah dan DIY", ["33", "34"]),
    "jatim": ("Kanwil Jawa Timur", ["35"]),
    "banuspa": ("Kanwil Bali, Nusa Tenggara dan Papua", ["51", "52", "53", "91", "94"]),
    "kalimantan": ("Kanwil Kalimantan", ["61", "62", "63", "64", "65"]),
    "sulama": ("Kanwil Sulawesi dan Maluku", ["71", "72", "73", "74", "75", "76", "81", "82"]),
}
MALUKU_UTARA = {
    "KC-TERNATE": ("KC Ternate", ["8271", "8272", "8201", "8202", "8203"]),
    "KC-HALMAHERA-SELATAN": ("KC Halmahera Selatan", ["8204"]),
    "KC-HALMAHERA-UTARA": ("KC Halmahera Utara", ["8205", "8206", "8207"]),
}
# UMP 2024 by province (Rp/month), from the governors' decrees as recalled; 2025 is +6.5 % (Permenaker 16/2024).
UMP_2024 = {
    "11": 3460672, "12": 2809915, "13": 2811449, "14": 3294625, "15": 3037121, "16": 3456874,
    "17": 2507079, "18": 2716497, "19": 3640000, "21": 3402492, "31": 5067381, "32": 2057495,
    "33": 2036947, "34": 2125897, "35": 2165244, "36": 2727812, "51": 2813672, "52": 2444067,
    "53": 2186826, "61": 2702616, "62": 3261616, "63": 3282812, "64": 3360858, "71": 3545000,
    "72": 2736698, "73": 3434298, "74": 2885964, "75": 3025100, "76": 2914958, "81": 2949953,
    "82": 3200000, "91": 3393500, "94": 4024270,
}  # fmt: skip


def title(name: str) -> str:
    return " ".join(w.capitalize() for w in name.split())


def main() -> None:
    provinces, regencies = stdnum_regions()
    province_codes = {p[0] for p in provinces}
    kanwil_rows, kp_rows, branch_rows, br_rows = [], [], [], []
    for code, (name, members) in KANWIL.items():
        kanwil_rows.append((code, name))
        kp_rows += [(p, code) for p in members if p in province_codes]
    kanwil_of = {p: k for p, k in kp_rows}
    for prov in sorted(province_codes):
        regs = sorted(r for r in regencies if r[1] == prov)
        if prov == "82":
            for bcode, (bname, members) in MALUKU_UTARA.items():
                branch_rows.append((bcode, bname, kanwil_of[prov]))
                br_rows += [(r, bcode) for r in members]
            continue
        n = max(1, round(len(regs) / 5))
        for i in range(n):
            group = regs[i * len(regs) // n : (i + 1) * len(regs) // n]
            seat = next((r for r in group if int(r[0][2:]) >= 71), group[0])
            bname = "KC " + title(seat[2].removeprefix("KOTA "))
            bcode = "KC-" + seat[0]
            branch_rows.append((bcode, bname, kanwil_of[prov]))
            br_rows += [(r[0], bcode) for r in group]
    write("kanwil.csv", ("code", "name"), kanwil_rows)
    write("kanwil_provinces.csv", ("province_code", "kanwil_code"), kp_rows)
    write("branches.csv", ("code", "name", "kanwil_code"), branch_rows)
    write("branch_regencies.csv", ("regency_code", "branch_code"), br_rows)
    wages = []
    for prov, amount in sorted(UMP_2024.items()):
        wages.append((prov, "2024-01-01", amount, "UMP 2024, governor's decree of the province", "unverified"))
        wages.append((prov, "2025-01-01", round(amount * 1.065), "UMP 2024 + 6.5 % (Permenaker 16/2024)", "unverified"))
    write("minimum_wage.csv", ("province_code", "valid_from", "amount", "reference", "status"), wages)
    print(f"{len(kanwil_rows)} kanwil, {len(branch_rows)} branches, {len(br_rows)} regencies mapped")


def write(name: str, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    with open(OUT / name, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


if __name__ == "__main__":
    main()
