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
