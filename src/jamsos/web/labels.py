"""Words on the screens, in Indonesian (default) and English, and the number formats of each language."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

import yaml

from jamsos.i18n.numbers import amount_words, number, rupiah

LANGS = ("id", "en")

_DATA = yaml.safe_load(resources.files("jamsos.web").joinpath("data/labels.yaml").read_text(encoding="utf-8"))
LABELS: dict[str, dict[str, str]] = _DATA["labels"]
SEGMENTS: dict[str, dict[str, str]] = _DATA["segments"]
ECOSYSTEMS: dict[str, dict[str, str]] = _DATA["ecosystems"]


def lang_of(value: str | None) -> str:
    return value if value in LANGS else "id"


def t(lang: str, key: str, **kw: Any) -> str:
    text = LABELS[lang].get(key, key)
    return text.format(**kw) if kw else text


def fmt(value: Any, kind: str, lang: str) -> str:
    """A cell as shown: integers with thousands separators, percentages with two decimals, rupiah."""
    if value is None or value == "":
        return "–"
    if kind == "int":
        return number(int(value), lang, 0)
    if kind in ("pct", "float"):
        return number(Decimal(str(value)), lang, 2)
    if kind == "idr":
        return rupiah(int(value), lang)
    if kind == "trillion":
        return number(Decimal(str(value)) / Decimal(10**12), lang, 2)
    if kind == "number":
        return number(Decimal(str(value)), lang)
    if kind == "words":
        return amount_words(value, lang)
    if kind == "bool":
        return t(lang, "yes" if value else "no")
    if kind == "prob":
        return number(Decimal(str(value)) * 100, lang, 1) + " %"
    return str(value)
