"""The fund section of ``jamsos report``: sentences whose every figure comes from a fund projection."""

from __future__ import annotations

from typing import Any

from jamsos.fund.projection import FUNDS
from jamsos.i18n.numbers import amount_words, number, percent_words

FUND_NAMES = {"jht": "JHT", "jp": "JP", "jkk": "JKK", "jkm": "JKM", "jkp": "JKP", "badan": "BPJS"}

TEMPLATES: dict[str, dict[str, Any]] = {
    "id": {
        "fund": "Dana kelolaan menurut skenario {scenario} diproyeksikan {total} pada {period} "
                "(JHT {jht}, JP {jp}, JKK {jkk}, JKM {jkm}, JKP {jkp}, dana BPJS {badan}).",
        "flows": "Sepanjang periode hingga {period}: iuran masuk {inflows}, manfaat dan biaya operasional {outflows}, "
                 "hasil investasi {returns}.",
        "versus": "Dibandingkan {kind} {period} sebesar {published}: selisih {diff}.",
        "kinds": {"actual": "realisasi", "roadmap": "target peta jalan"},
        "ratio": "Rasio cadangan {year} (dana ÷ pengeluaran setahun): {ratios}; biaya PAYG JP {payg} dari upah "
                 "peserta JP.",
    },
    "en": {
        "fund": "Under the {scenario} scenario the fund under management is projected at {total} in {period} "
                "(JHT {jht}, JP {jp}, JKK {jkk}, JKM {jkm}, JKP {jkp}, BPJS's own fund {badan}).",
        "flows": "Over the period to {period}: contributions {inflows}, benefits and operating costs {outflows}, "
                 "investment returns {returns}.",
        "versus": "Against the {kind} for {period} of {published}: a difference of {diff}.",
        "kinds": {"actual": "published fund", "roadmap": "roadmap target"},
        "ratio": "Reserve ratios {year} (fund ÷ a year's expenditure): {ratios}; JP PAYG cost rate {payg} of JP "
                 "insured wages.",
    },
}  # fmt: skip


def fund_section(result: dict[str, Any], lang: str = "id") -> list[str]:
    """Paragraphs from ``fund.to_json``: the projected fund per program at each point, the flows, the
    comparison with published figures and the roadmap, and the reserve ratios."""
    w = TEMPLATES[lang if lang in TEMPLATES else "id"]

    def rp(v: float) -> str:
        return f"Rp{amount_words(v, lang)}"

    out = []
    for p in result["points"]:
        out.append(
            w["fund"].format(
                scenario=result["scenario"],
                total=rp(p["total_idr"]),
                period=p["period"],
                **{k: rp(p["by_fund"][k]) for k in FUNDS},
            )
        )
        out.append(
            w["flows"].format(
                period=p["period"],
                inflows=rp(p["inflows_idr"]),
                outflows=rp(p["outflows_idr"]),
                returns=rp(p["returns_idr"]),
            )
        )
        for c in result["compare"]:
            if c["period"] == p["period"]:
                out.append(
                    w["versus"].format(
                        kind=w["kinds"].get(c["kind"], c["kind"]),
                        period=c["period"],
                        published=rp(c["total_idr"]),
                        diff=percent_words(c["difference_pct"], lang),
                    )
                )
    for y in result["indicators"]:
        ratios = ", ".join(
            f"{FUND_NAMES[k]} {number(v['reserve_ratio'], lang, 1)}"
            for k, v in y["funds"].items()
            if v["reserve_ratio"]
        )
        out.append(
            w["ratio"].format(year=y["year"], ratios=ratios, payg=percent_words(y["jp_payg_cost_rate_pct"], lang, 3))
        )
    return out
