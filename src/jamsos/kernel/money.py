"""Money as integer rupiah: exact, never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True, order=True)
class Money:
    """An amount in whole rupiah (IDR has no minor unit in practice)."""

    rupiah: int

    def __post_init__(self) -> None:
        if isinstance(self.rupiah, bool) or not isinstance(self.rupiah, int):
            raise TypeError(f"Money needs an int of rupiah, got {type(self.rupiah).__name__}")

    @classmethod
    def of(cls, amount: int | Decimal | str) -> Money:
        """Exact construction; a fractional amount is an error (use ``round_half_up``)."""
        value = Decimal(amount)
        if value != value.to_integral_value():
            raise ValueError(f"{amount} is not a whole number of rupiah")
        return cls(int(value))

    @classmethod
    def round_half_up(cls, amount: Decimal) -> Money:
        """Round a computed amount to whole rupiah, halves away from zero."""
        return cls(int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)))

    def __add__(self, other: Money) -> Money:
        return Money(self.rupiah + other.rupiah)

    def __sub__(self, other: Money) -> Money:
        return Money(self.rupiah - other.rupiah)

    def __neg__(self) -> Money:
        return Money(-self.rupiah)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int; use round_half_up for rates")
        return Money(self.rupiah * factor)

    def __str__(self) -> str:
        sign = "-" if self.rupiah < 0 else ""
        return f"{sign}Rp{abs(self.rupiah):,}".replace(",", ".")
