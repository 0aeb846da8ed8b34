"""The year in the agency's own style: sentences whose every figure comes from a KPI snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jamsos.i18n.numbers import amount_words, number, percent_words
from jamsos.rules import codes as c

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


TEMPLATES = {
    "id": {
        "up": "tumbuh", "down": "turun", "more": "bertambah", "less": "berkurang", "rise": "naik", "fall": "turun",
        "headline": "Jumlah tenaga kerja aktif pada {y} {verb} {growth} menjadi {active}, {change} {delta} "
                    "dibandingkan {prev} yang sebesar {base}.",
        "segments": "Menurut segmen: {parts}. Peserta terdaftar mencapai {registered}.",
        "retention": "Retensi: {retention} peserta yang aktif pada Desember {prev} masih aktif pada Desember {y}. "
                     "Pada Desember {y} terdapat {new} peserta baru, {back} peserta yang aktif kembali dan "
                     "{lapsed} peserta yang berhenti membayar dibandingkan bulan sebelumnya.",
        "intensity": "Intensifikasi: rata-rata upah PU yang dilaporkan {wage} ({move} {wage_change} dalam setahun); "
                     "{programs} program per peserta; {bpu_jht} peserta BPU ikut JHT. "
                     "Pemberi kerja aktif: {employers}.",
        "ecosystems": "Menurut ekosistem: {parts}.",
        "coverage": "Cakupan terhadap penduduk bekerja ({employed}, Sakernas {survey}): {coverage}.",
    },
    "en": {
        "up": "grew", "down": "fell", "more": "up", "less": "down", "rise": "up", "fall": "down",
        "headline": "Active workers in {y} {verb} {growth} to {active}, {change} {delta} from {base} in {prev}.",
        "segments": "By segment: {parts}. Registered participants reached {registered}.",
        "retention": "Retention: {retention} of those active in December {prev} were still active in December {y}. "
                     "December {y} had {new} new participants, {back} who paid again and {lapsed} who stopped "
                     "paying compared with the month before.",
        "intensity": "Intensification: the average reported PU wage was {wage} ({move} {wage_change} in a year); "
                     "{programs} programs per participant; {bpu_jht} of BPU participants hold JHT. "
                     "Active employers: {employers}.",
        "ecosystems": "By ecosystem: {parts}.",
        "coverage": "Coverage of the employed population ({employed}, Sakernas {survey}): {coverage}.",
    },
}  # fmt: skip


def year_report(fig: YearFigures, lang: str = "id") -> list[str]:
    """Paragraphs describing the year (December against the December before)."""
    n = fig.national
    words = TEMPLATES[lang if lang in TEMPLATES else "id"]

    def a(value: float) -> str:
        return amount_words(value, lang)

    def p(value: float | None) -> str:
        return percent_words(value, lang)

    grew = (n["active_yoy"] or 0) >= 0
    wage_up = (n["pu_wage_avg_yoy_pct"] or 0) >= 0
    seg = {r["segment"]: r["active"] for r in fig.segments}
    eco = sorted((r for r in fig.ecosystems if r["ecosystem"]), key=lambda r: -r["active"])
    seg_names, eco_names = SEGMENT_NAMES[lang], ECOSYSTEM_NAMES[lang]
    values = {
        "y": fig.year,
        "prev": fig.year - 1,
        "verb": words["up" if grew else "down"],
        "growth": p(abs(n["active_yoy_pct"] or 0)),
        "active": a(n["active"]),
        "change": words["more" if grew else "less"],
        "delta": a(abs(n["active_yoy"])),
        "base": a(n["active_yoy_base"]),
        "registered": a(n["registered"]),
        "retention": p(n["retention_pct"]),
        "new": a(n["new"]),
        "back": a(n["reactivated"]),
        "lapsed": a(n["lapsed"]),
        "wage": _rp(n["pu_wage_avg"], lang),
        "move": words["rise" if wage_up else "fall"],
        "wage_change": p(abs(n["pu_wage_avg_yoy_pct"] or 0)),
        "programs": number(n["programs_per_participant"] or 0, lang, 2),
        "bpu_jht": p(n["bpu_jht_pct"]),
        "employers": number(n["employers_active"], lang, 0),
    }
    out = [words["headline"].format(**values)]
    parts = ", ".join(f"{seg_names[s]} {a(seg[s])}" for s in c.SEGMENTS if seg.get(s))
    out.append(words["segments"].format(parts=parts, **values))
    out.append(words["retention"].format(**values))
    out.append(words["intensity"].format(**values))
    if eco:
        out.append(
            words["ecosystems"].format(parts=", ".join(f"{eco_names[r['ecosystem']]} {a(r['active'])}" for r in eco))
        )
    if n.get("coverage_pct") is not None:
        out.append(
            words["coverage"].format(
                employed=a(n["employed"]), survey=n["employed_period"], coverage=p(n["coverage_pct"])
            )
        )
    if fig.scale_note:
        out.append(fig.scale_note)
    return out


def _rp(value: int | None, lang: str) -> str:
    return "–" if value is None else f"Rp{number(value, lang, 0)}"
