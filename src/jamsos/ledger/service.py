"""Ledger use cases: wage declarations, the billing run with maker–checker, payments, allocation,
fines, arrears and active status. Set-based: rows move as Arrow/NumPy columns, never per-row ORM.

Services never commit; the caller owns the transaction, so a failed import leaves nothing behind.

This module is the ledger's entrance (``from jamsos.ledger import service as ledger``); the use cases live in
``declarations``, ``billing``, ``decisions``, ``payments``, ``balances``, ``status`` and ``facts``, their shared SQL
in ``repository``.
"""

from jamsos.ledger.balances import account_balance, arrears, statement
from jamsos.ledger.billing import EXCEPTION_TEXT, UPFRONT, RunSummary, run_billing
from jamsos.ledger.decisions import approve_run, list_runs, reject_run, run_report, same_person_possible
from jamsos.ledger.declarations import DeclarationResult, declare_wages
from jamsos.ledger.facts import FACTS, approved_runs, bills_for_period, fact_chunk, month_contributions, run_lines
from jamsos.ledger.payments import (
    PAYMENT_COLUMNS,
    REVERSAL_PREFIX,
    ImportSummary,
    allocate,
    import_payments,
    reversal_reference,
    reverse_payment,
)
from jamsos.ledger.status import active_counts, active_status
from jamsos.rules.deadlines import paid_cutoff

__all__ = [
    "EXCEPTION_TEXT",
    "FACTS",
    "PAYMENT_COLUMNS",
    "REVERSAL_PREFIX",
    "UPFRONT",
    "DeclarationResult",
    "ImportSummary",
    "RunSummary",
    "account_balance",
    "active_counts",
    "active_status",
    "allocate",
    "approve_run",
    "approved_runs",
    "arrears",
    "bills_for_period",
    "declare_wages",
    "fact_chunk",
    "import_payments",
    "list_runs",
    "month_contributions",
    "paid_cutoff",
    "reject_run",
    "reversal_reference",
    "reverse_payment",
    "run_billing",
    "run_lines",
    "run_report",
    "same_person_possible",
    "statement",
]
