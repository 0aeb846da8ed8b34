"""The year in the agency's own style: sentences whose every figure comes from a KPI snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jamsos.i18n.numbers import amount_words, number, percent_words

SEGMENT_NAMES = {
    "id": {
        "pu": "Penerima Upah (PU)",
        "bpu": "Bukan Penerima Upah (BPU)",
        "jakon": "Jasa Konstruksi",
        "pmi": "Pekerja Migran Indonesia",
    },
    "en": {
        "pu": "wage earners (PU)",
        "bpu": "informal workers (BPU)",
        "jakon": "construction (Jakon)",
        "pmi": "migrant workers (PMI)",
    },
}
ECOSYSTEM_NAMES = {
    "id": {
        "desa": "desa",
        "pasar": "pasar",
        "e_commerce": "e-commerce",
        "ukm": "UKM",
        "pekerja_rentan": "pekerja rentan",
    },
    "en": {
        "desa": "village",
        "pasar": "market",
        "e_commerce": "e-commerce",
        "ukm": "small business",
        "pekerja_rentan": "vulnerable workers",
    },
}


@dataclass(frozen=True)
class YearFigures:
    year: int
    national: dict[str, Any]
    segments: list[dict[str, Any]]
    ecosystems: list[dict[str, Any]]
    scale_note: str = ""


def _share(part: int, whole: int) -> float | None:
    return None if not whole else part * 100.0 / whole


def year_report(fig: YearFigures, lang: str = "id") -> list[str]:
    """Paragraphs describing the year (December against the December before)."""
    n = fig.national
    y, prev = fig.year, fig.year - 1

    def a(value: float) -> str:
        return amount_words(value, lang)

    def p(value: float | None) -> str:
        return percent_words(value, lang)

    grew = (n["active_yoy"] or 0) >= 0
    seg = {r["segment"]: r["active"] for r in fig.segments}
    eco = sorted((r for r in fig.ecosystems if r["ecosystem"]), key=lambda r: -r["active"])
    out: list[str] = []
    if lang == "id":
        verb = "tumbuh" if grew else "turun"
        out.append(
            f"Jumlah tenaga kerja aktif pada {y} {verb} {p(abs(n['active_yoy_pct'] or 0))} menjadi {a(n['active'])}, "
            f"{'bertambah' if grew else 'berkurang'} {a(abs(n['active_yoy']))} dibandingkan {prev} "
            f"yang sebesar {a(n['active_yoy_base'])}."
        )
        parts = ", ".join(f"{SEGMENT_NAMES['id'][s]} {a(seg[s])}" for s in ("pu", "bpu", "jakon", "pmi") if seg.get(s))
        out.append(f"Menurut segmen: {parts}. Peserta terdaftar mencapai {a(n['registered'])}.")
        out.append(
            f"Retensi: {p(n['retention_pct'])} peserta yang aktif pada Desember {prev} masih aktif pada Desember {y}. "
            f"Pada Desember {y} terdapat {a(n['new'])} peserta baru, {a(n['reactivated'])} peserta yang aktif kembali "
            f"dan {a(n['lapsed'])} peserta yang berhenti membayar dibandingkan bulan sebelumnya."
        )
        out.append(
            f"Intensifikasi: rata-rata upah PU yang dilaporkan {_rp(n['pu_wage_avg'], lang)} "
            f"({'naik' if (n['pu_wage_avg_yoy_pct'] or 0) >= 0 else 'turun'} {p(abs(n['pu_wage_avg_yoy_pct'] or 0))} "
            f"dalam setahun); {number(n['programs_per_participant'] or 0, lang, 2)} program per peserta; "
            f"{p(n['bpu_jht_pct'])} peserta BPU ikut JHT. "
            f"Pemberi kerja aktif: {number(n['employers_active'], lang, 0)}."
        )
        if eco:
            parts = ", ".join(f"{ECOSYSTEM_NAMES['id'][r['ecosystem']]} {a(r['active'])}" for r in eco)
            out.append(f"Menurut ekosistem: {parts}.")
        if n.get("coverage_pct") is not None:
            out.append(
                f"Cakupan terhadap penduduk bekerja ({a(n['employed'])}, Sakernas {n['employed_period']}): "
                f"{p(n['coverage_pct'])}."
            )
    else:
        verb = "grew" if grew else "fell"
        out.append(
            f"Active workers in {y} {verb} {p(abs(n['active_yoy_pct'] or 0))} to {a(n['active'])}, "
            f"{'up' if grew else 'down'} {a(abs(n['active_yoy']))} from {a(n['active_yoy_base'])} in {prev}."
        )
        parts = ", ".join(f"{SEGMENT_NAMES['en'][s]} {a(seg[s])}" for s in ("pu", "bpu", "jakon", "pmi") if seg.get(s))
        out.append(f"By segment: {parts}. Registered participants reached {a(n['registered'])}.")
        out.append(
            f"Retention: {p(n['retention_pct'])} of those active in December {prev} were still active in December {y}. "
            f"December {y} had {a(n['new'])} new participants, {a(n['reactivated'])} who paid again "
            f"and {a(n['lapsed'])} who stopped paying compared with the month before."
        )
        out.append(
            f"Intensification: the average reported PU wage was {_rp(n['pu_wage_avg'], lang)} "
            f"({'up' if (n['pu_wage_avg_yoy_pct'] or 0) >= 0 else 'down'} {p(abs(n['pu_wage_avg_yoy_pct'] or 0))} "
            f"in a year); {number(n['programs_per_participant'] or 0, lang, 2)} programs per participant; "
            f"{p(n['bpu_jht_pct'])} of BPU participants hold JHT. "
            f"Active employers: {number(n['employers_active'], lang, 0)}."
        )
        if eco:
            parts = ", ".join(f"{ECOSYSTEM_NAMES['en'][r['ecosystem']]} {a(r['active'])}" for r in eco)
            out.append(f"By ecosystem: {parts}.")
        if n.get("coverage_pct") is not None:
            out.append(
                f"Coverage of the employed population ({a(n['employed'])}, Sakernas {n['employed_period']}): "
                f"{p(n['coverage_pct'])}."
            )
    if fig.scale_note:
        out.append(fig.scale_note)
    return out


def _rp(value: int | None, lang: str) -> str:
    return "–" if value is None else f"Rp{number(value, lang, 0)}"
