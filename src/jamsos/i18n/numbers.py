"""Number formats: ``Rp43.200``, ``0,54 %``, ``41,46 juta`` (Indonesian) or English equivalents."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal

LOCALES = {"id": "id_ID", "en": "en_US"}


def _locale(lang: str) -> str:
    try:
        return LOCALES[lang]
    except KeyError:
        raise ValueError(f"language must be one of {sorted(LOCALES)}, got {lang!r}") from None


def number(value: int | Decimal | float, lang: str = "id", decimals: int | None = None) -> str:
    fmt = None if decimals is None else "#,##0." + "0" * decimals if decimals else "#,##0"
    return format_decimal(value, format=fmt, locale=_locale(lang))


def rupiah(amount: int, lang: str = "id") -> str:
    """``Rp43.200`` (id) / ``Rp43,200`` (en); negative amounts as ``-Rp7.000``."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp{number(abs(amount), lang, 0)}"


def percent(rate: str | Decimal | None, lang: str = "id") -> str:
    """A rate such as ``"0.0054"`` as ``0,54 %``; None (a flat amount) as an empty string."""
    if rate is None:
        return ""
    value = Decimal(rate) * 100
    text = format_decimal(value, format="#,##0.####", locale=_locale(lang))
    return f"{text} %"


_SCALE_WORDS: dict[str, tuple[tuple[int, str], ...]] = {
    "id": ((10**12, "triliun"), (10**9, "miliar"), (10**6, "juta")),
    "en": ((10**12, "trillion"), (10**9, "billion"), (10**6, "million")),
}


def amount_words(value: int | float | Decimal, lang: str = "id", decimals: int = 2) -> str:
    """``41,46 juta`` / ``41.46 million``; below a million, the whole number (``41.460``)."""
    for size, word in _SCALE_WORDS[lang if lang in _SCALE_WORDS else "id"]:
        if abs(Decimal(str(value))) >= size:
            return f"{number(Decimal(str(value)) / size, lang, decimals)} {word}"
    return number(round(value), lang, 0)


def percent_words(value: float | Decimal | None, lang: str = "id", decimals: int = 2) -> str:
    """``15,62 persen`` / ``15.62 percent``; None as ``–``."""
    if value is None:
        return "–"
    return f"{number(Decimal(str(value)), lang, decimals)} {'persen' if lang == 'id' else 'percent'}"
