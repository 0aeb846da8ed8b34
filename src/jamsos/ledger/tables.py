"""Tables of the ledger: wage declarations, billing runs and bill lines, bills, payments, allocations, fines.

Entries are only inserted; a correction is a reversal plus a replacement. Balances, arrears and
active status are derived from these rows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from jamsos.infra.db import metadata

declaration = Table(
    "declaration",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("employer_id", Integer, ForeignKey("employer.id"), nullable=False),
    Column("period", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("filename", String(300), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("recorded_by", String(60), nullable=False),
    UniqueConstraint("employer_id", "period", "version", name="uq_declaration_version"),
    CheckConstraint("version >= 1", name="version"),
)

declaration_line = Table(
    "declaration_line",
    metadata,
    Column("declaration_id", Integer, ForeignKey("declaration.id"), primary_key=True),
    Column("worker_id", Integer, ForeignKey("worker.id"), primary_key=True),
    Column("wage", BigInteger, nullable=False),
    CheckConstraint("wage > 0", name="wage"),
)

billing_run = Table(
    "billing_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("maker", String(60), nullable=False),
    Column("checker", String(60)),
    Column("started_at", DateTime, nullable=False),
    Column("decided_at", DateTime),
    Column("rules_fingerprint", String(64), nullable=False),
    Column("memberships", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("exceptions", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("status IN ('draft', 'approved', 'superseded', 'rejected', 'empty')", name="status"),
    CheckConstraint("checker IS NULL OR checker <> maker", name="four_eyes"),
    Index("ix_billing_run_period", "period", "status"),
)

billing_exception = Table(
    "billing_exception",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("billing_run.id"), nullable=False),
    Column("membership_id", Integer, ForeignKey("membership.id")),
    Column("project_id", Integer, ForeignKey("project.id")),
    Column("code", String(40), nullable=False),
    Column("message", String(300), nullable=False),
    Index("ix_billing_exception_run", "run_id"),
)

rule_citation = Table(
    "rule_citation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parameter", String(200), nullable=False),
    Column("start", String(10), nullable=False),
    Column("reference", String(400), nullable=False),
    Column("status", String(20), nullable=False),
    UniqueConstraint("parameter", "start", "reference", "status", name="uq_rule_citation"),
)

bill = Table(
    "bill",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("period", Integer, nullable=False),
    Column("segment", String(5), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("fines", SmallInteger, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    UniqueConstraint("account_id", "period", "segment", name="uq_bill_account_period"),
)

# One row per contribution line; entry 'original' or 'reversal' (the negation of an earlier net amount).
# On PostgreSQL the lines are partitioned by run: a run's lines are loaded into a table of their own
# and attached, so that foreign keys are checked in one set-based pass instead of row by row.
bill_line = Table(
    "bill_line",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("run_id", Integer, ForeignKey("billing_run.id"), primary_key=True),
    Column("bill_id", Integer, ForeignKey("bill.id")),
    Column("period", Integer, nullable=False),
    Column("cover_from", Integer, nullable=False),
    Column("cover_to", Integer, nullable=False),
    Column("membership_id", Integer, ForeignKey("membership.id")),
    Column("project_id", Integer, ForeignKey("project.id")),
    Column("program", SmallInteger, nullable=False),
    Column("payer", SmallInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("seq", SmallInteger, nullable=False),  # tells apart lines of one key (JKP gets two recompositions)
    Column("entry", SmallInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("rate", Integer),
    Column("basis", BigInteger, nullable=False),
    Column("citation_id", Integer, ForeignKey("rule_citation.id"), nullable=False),
    CheckConstraint("(membership_id IS NULL) <> (project_id IS NULL)", name="one_subject"),
    CheckConstraint("entry IN (0, 1)", name="entry"),
    CheckConstraint("cover_to >= cover_from", name="cover"),
    Index("ix_bill_line_period_membership", "period", "membership_id"),
    Index("ix_bill_line_bill", "bill_id"),
    postgresql_partition_by="LIST (run_id)",
)

payment_import = Table(
    "payment_import",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("filename", String(300), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("posted", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("recorded_by", String(60), nullable=False),
)

payment = Table(
    "payment",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("reference", String(64), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("channel", String(40), nullable=False),
    Column("import_id", Integer, ForeignKey("payment_import.id")),
    Column("reverses_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("payment.id"), unique=True),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint("(reverses_id IS NULL AND amount > 0) OR (reverses_id IS NOT NULL AND amount < 0)", name="sign"),
    Index("ix_payment_account", "account_id"),
)

fine = Table(
    "fine",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("bill_id", Integer, ForeignKey("bill.id"), nullable=False),
    Column("payment_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("payment.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("late_amount", BigInteger, nullable=False),
    Column("months_late", SmallInteger, nullable=False),
    Column("citation_id", Integer, ForeignKey("rule_citation.id"), nullable=False),
    Column("reverses_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("fine.id"), unique=True),
    Column("recorded_at", DateTime, nullable=False),
    Index("ix_fine_bill", "bill_id"),
)

# Money moved from a payment to a bill's contribution or fine; a negative row reverses an earlier one.
allocation = Table(
    "allocation",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("payment_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("payment.id"), nullable=False),
    Column("bill_id", Integer, ForeignKey("bill.id"), nullable=False),
    Column("target", String(12), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("reverses_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("allocation.id"), unique=True),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint("target IN ('contribution', 'fine')", name="target"),
    CheckConstraint("(reverses_id IS NULL AND amount > 0) OR (reverses_id IS NOT NULL AND amount < 0)", name="sign"),
    Index("ix_allocation_payment", "payment_id"),
    Index("ix_allocation_bill", "bill_id"),
)
