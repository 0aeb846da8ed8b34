"""Pure shared types used by every context: Period, errors, limits, names, pseudonyms. Amounts are whole rupiah
held as ``int`` (and int64 arrays in the rules engine), never float."""

from jamsos.kernel.errors import DomainError, InvalidInput
from jamsos.kernel.period import Period

__all__ = ["DomainError", "InvalidInput", "Period"]
