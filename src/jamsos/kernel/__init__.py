"""Pure shared types used by every context: Money, Period, errors."""

from jamsos.kernel.errors import DomainError, InvalidInput
from jamsos.kernel.money import Money
from jamsos.kernel.period import Period

__all__ = ["DomainError", "InvalidInput", "Money", "Period"]
