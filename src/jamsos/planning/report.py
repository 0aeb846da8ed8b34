"""The target and fund sections of ``jamsos report``: sentences whose every figure comes from an attainment
report, a forecast or a fund projection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jamsos.i18n.numbers import amount_words, number, percent_words
from jamsos.planning.targets import Attainment

TEMPLATES = {
    "id": {
        "target": "Target {period}: {target} peserta aktif. Posisi {as_of}: {actual}, atau {pct} dari target; "
                  "{gap_text}",
        "gap": "kekurangan {gap}. Untuk menutupnya diperlukan tambahan bersih {need} peserta per bulan selama "
               "{months} bulan, sedangkan laju {window} bulan terakhir {run} per bulan ({verdict}).",
        "gap_closed": "kekurangan {gap} dan tenggat sudah lewat.",
        "met": "target telah tercapai (lebih {gap}).",
        "on": "sesuai jalur", "off": "di bawah jalur",
        "forecast": "Proyeksi {period}: {mean} (interval 80 persen {lo80}–{hi80}; 95 persen {lo95}–{hi95}); "
                    "peluang mencapai target {p}. Asumsi: {assumptions}",
        "assumptions": "model state-space {model} yang diestimasi dengan kemungkinan maksimum pada deret bulanan "
                       "(bulan kosong diperbolehkan); galat Gaussian; tren dan varians hasil estimasi berlanjut — "
                       "tidak ada perubahan kebijakan atau kampanye target yang dimodelkan.",
        "rank": "Capaian tertinggi di antara {peers} {level}: {top}; terendah: {bottom}.",
        "levels": {"kanwil": "kantor wilayah", "branch": "kantor cabang"},
    },
    "en": {
        "target": "Target for {period}: {target} active participants. At {as_of}: {actual}, {pct} of the target; "
                  "{gap_text}",
        "gap": "{gap} short. Closing it needs {need} net additions a month for {months} months, against "
               "{run} a month over the last {window} months ({verdict}).",
        "gap_closed": "{gap} short, and the deadline has passed.",
        "met": "the target is met ({gap} above).",
        "on": "on track", "off": "behind",
        "forecast": "Forecast for {period}: {mean} (80 percent interval {lo80}–{hi80}; 95 percent {lo95}–{hi95}); "
                    "probability of reaching the target {p}. Assumptions: {assumptions}",
        "rank": "Highest attainment among {peers} {level}: {top}; lowest: {bottom}.",
        "levels": {"kanwil": "regional offices", "branch": "branches"},
    },
}  # fmt: skip


def _words(lang: str) -> dict[str, Any]:
    return TEMPLATES[lang if lang in TEMPLATES else "id"]


def target_section(rows: Sequence[Attainment], forecasts: dict[str, dict[str, Any]], lang: str = "id") -> list[str]:
    """A paragraph per national target, then the best and worst office per level. ``forecasts`` maps a
    target month to the national forecast's JSON (its point at that month is used)."""
    w = _words(lang)
    out = []
    for a in rows:
        if a.target.level != "national" or a.target.segment or a.target.ecosystem:
            continue
        j = a.to_json()
        gap = abs(a.gap)
        if a.gap <= 0:
            gap_text = w["met"].format(gap=amount_words(gap, lang))
        elif a.months_left <= 0:
            gap_text = w["gap_closed"].format(gap=amount_words(gap, lang))
        else:
            gap_text = w["gap"].format(
                gap=amount_words(gap, lang),
                need=number(j["required_per_month"], lang, 0),
                months=a.months_left,
                window=a.run_rate_months,
                run=number(j["run_rate_per_month"] or 0, lang, 0),
                verdict=w["on" if a.on_track else "off"],
            )
        out.append(
            w["target"].format(
                period=j["period"],
                target=amount_words(a.goal, lang),
                as_of=j["as_of"],
                actual=amount_words(a.actual, lang),
                pct=percent_words(a.attainment_pct, lang),
                gap_text=gap_text,
            )
        )
        f = forecasts.get(j["period"])
        if f is not None and a.months_left > 0:
            pt = next(p for p in f["points"] if p["period"] == j["period"])
            out.append(
                w["forecast"].format(
                    period=j["period"],
                    **{k: amount_words(pt[k], lang) for k in ("mean", "lo80", "hi80", "lo95", "hi95")},
                    p=percent_words((f["p_reach_target"] or 0) * 100, lang),
                    assumptions=f["assumptions"]
                    if lang == "en"
                    else w["assumptions"].format(model=f["model"].replace("_", " ")),
                )
            )
    for level in ("kanwil", "branch"):
        ranked = sorted(
            (a for a in rows if a.target.level == level and not a.target.segment and not a.target.ecosystem),
            key=lambda a: (str(a.target.period), a.rank),
        )
        if not ranked:
            continue
        last_period = ranked[-1].target.period
        peers = [a for a in ranked if a.target.period == last_period]

        def name(a: Attainment) -> str:
            return f"{a.office_name or a.target.office} ({percent_words(a.attainment_pct, lang)})"

        out.append(
            w["rank"].format(
                peers=len(peers),
                level=w["levels"][level],
                top=", ".join(name(a) for a in peers[:3]),
                bottom=", ".join(name(a) for a in peers[-3:][::-1]),
            )
        )
    return out
