"""Tables of the registry: reference regions and offices, employers, workers, sponsors, memberships.

Facts that change are kept on two time axes: ``valid_from``/``valid_to`` (when the fact was true)
and ``recorded_at`` (when jamsos learned it). Version rows are only ever inserted.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    Text,
)

from jamsos.infra.db import metadata
from jamsos.rules import codes as c


def one_of(column: str, choices: tuple[str, ...], *, nullable: bool = False) -> str:
    """A CHECK that ``column`` holds one of the vocabulary's codes (``rules.codes``), or NULL when ``nullable``."""
    listed = f"{column} IN ({', '.join(repr(v) for v in choices)})"
    return f"{column} IS NULL OR {listed}" if nullable else listed


SEGMENT_CHECK = one_of("segment", c.SEGMENTS)
RISK_CHECK = one_of("risk_class", c.RISK_CLASSES, nullable=True)
SIZE_CHECK = one_of("size_class", c.EMPLOYER_SIZES)
SOURCE_CHECK = one_of("payer_source", c.PAYER_SOURCES)
ECOSYSTEM_CHECK = one_of("ecosystem", c.ECOSYSTEMS, nullable=True)
EXIT_CHECK = one_of("exit_reason", c.EXIT_REASONS, nullable=True)
PERIOD_CHECK = "valid_to IS NULL OR valid_to >= valid_from"

province = Table(
    "province",
    metadata,
    Column("code", String(2), primary_key=True),
    Column("name", String(100), nullable=False),
    CheckConstraint("length(code) = 2", name="code_length"),
)

regency = Table(
    "regency",
    metadata,
    Column("code", String(4), primary_key=True),
    Column("province_code", String(2), ForeignKey("province.code"), nullable=False),
    Column("name", String(100), nullable=False),
    CheckConstraint("length(code) = 4", name="code_length"),
)

kanwil = Table(
    "kanwil",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("name", String(100), nullable=False),
)

kanwil_province = Table(
    "kanwil_province",
    metadata,
    Column("province_code", String(2), ForeignKey("province.code"), primary_key=True),
    Column("kanwil_code", String(20), ForeignKey("kanwil.code"), nullable=False),
)

branch = Table(
    "branch",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kanwil_code", String(20), ForeignKey("kanwil.code"), nullable=False),
)

branch_regency = Table(
    "branch_regency",
    metadata,
    Column("regency_code", String(4), ForeignKey("regency.code"), primary_key=True),
    Column("branch_code", String(20), ForeignKey("branch.code"), nullable=False),
)

minimum_wage = Table(
    "minimum_wage",
    metadata,
    Column("province_code", String(2), ForeignKey("province.code"), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("reference", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    CheckConstraint("amount > 0", name="positive"),
    CheckConstraint("status IN ('verified', 'unverified')", name="status"),
)

# Payer accounts: who receives bills and pays them; each has a unique virtual-account number.
account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("va_number", String(20), nullable=False, unique=True),
    Column("kind", String(12), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint("kind IN ('employer', 'participant', 'sponsor')", name="kind"),
)

employer = Table(
    "employer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("npp", String(20), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False, unique=True),
    Column("recorded_at", DateTime, nullable=False),
)

employer_version = Table(
    "employer_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("employer_id", Integer, ForeignKey("employer.id"), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    Column("recorded_at", DateTime, nullable=False),
    Column("recorded_by", String(60), nullable=False),
    Column("name", String(200), nullable=False),
    Column("legal_form", String(20), nullable=False),
    Column("sector", String(100), nullable=False),
    Column("risk_class", String(20)),
    Column("size_class", String(10), nullable=False),
    Column("labour_intensive", Boolean, nullable=False),
    Column("regency_code", String(4), ForeignKey("regency.code"), nullable=False),
    Column("branch_code", String(20), ForeignKey("branch.code"), nullable=False),
    Column("ecosystems", String(200), nullable=False),
    CheckConstraint(RISK_CHECK, name="risk_class"),
    CheckConstraint(SIZE_CHECK, name="size_class"),
    CheckConstraint(PERIOD_CHECK, name="valid_period"),
    Index("ix_employer_version_lookup", "employer_id", "recorded_at"),
)

worker = Table(
    "worker",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nik", String(16), nullable=False, unique=True),
    Column("kpj", String(11), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False, unique=True),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint("length(nik) = 16", name="nik_length"),
    CheckConstraint("length(kpj) = 11", name="kpj_length"),
)

worker_version = Table(
    "worker_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("worker_id", Integer, ForeignKey("worker.id"), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    Column("recorded_at", DateTime, nullable=False),
    Column("recorded_by", String(60), nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_key", String(200), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(1), nullable=False),
    Column("regency_code", String(4), ForeignKey("regency.code"), nullable=False),
    CheckConstraint("sex IN ('M', 'F')", name="sex"),
    CheckConstraint(PERIOD_CHECK, name="valid_period"),
    Index("ix_worker_version_lookup", "worker_id", "recorded_at"),
    Index("ix_worker_version_name_birth", "name_key", "birth_date"),
)

sponsor = Table(
    "sponsor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("payer_source", String(10), nullable=False),
    Column("regency_code", String(4), ForeignKey("regency.code")),
    Column("account_id", Integer, ForeignKey("account.id"), nullable=False, unique=True),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint(one_of("payer_source", c.SPONSOR_SOURCES), name="payer_source"),
)

project = Table(
    "project",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("employer_id", Integer, ForeignKey("employer.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("contract_value", BigInteger, nullable=False),
    Column("spk_date", Date, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("regency_code", String(4), ForeignKey("regency.code"), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint("contract_value > 0", name="contract_value"),
    CheckConstraint("end_date >= start_date", name="dates"),
)

membership = Table(
    "membership",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("worker_id", Integer, ForeignKey("worker.id"), nullable=False),
    Column("segment", String(5), nullable=False),
    Column("employer_id", Integer, ForeignKey("employer.id")),
    Column("project_id", Integer, ForeignKey("project.id")),
    Column("recorded_at", DateTime, nullable=False),
    CheckConstraint(SEGMENT_CHECK, name="segment"),
    CheckConstraint("segment <> 'pu' OR employer_id IS NOT NULL", name="pu_employer"),
    CheckConstraint("segment <> 'jakon' OR project_id IS NOT NULL", name="jakon_project"),
    Index("ix_membership_worker", "worker_id"),
    Index("ix_membership_employer", "employer_id"),
)

membership_version = Table(
    "membership_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("membership_id", Integer, ForeignKey("membership.id"), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
    Column("recorded_at", DateTime, nullable=False),
    Column("recorded_by", String(60), nullable=False),
    Column("wage", BigInteger),
    Column("income", BigInteger),
    Column("programs", SmallInteger, nullable=False),
    Column("payer_source", String(10), nullable=False),
    Column("sponsor_id", Integer, ForeignKey("sponsor.id")),
    Column("ecosystem", String(20)),
    Column("channel", String(40)),
    Column("agent", String(60)),
    Column("transport", Boolean, nullable=False),
    Column("contract_months", SmallInteger),
    Column("jht_amount", BigInteger),
    Column("exit_reason", String(20)),
    Column("exit_date", Date),
    CheckConstraint(SOURCE_CHECK, name="payer_source"),
    CheckConstraint(ECOSYSTEM_CHECK, name="ecosystem"),
    CheckConstraint(EXIT_CHECK, name="exit_reason"),
    CheckConstraint(PERIOD_CHECK, name="valid_period"),
    CheckConstraint("wage IS NULL OR wage >= 0", name="wage"),
    CheckConstraint("income IS NULL OR income >= 0", name="income"),
    CheckConstraint("(exit_reason IS NULL) = (exit_date IS NULL)", name="exit_pair"),
    CheckConstraint(
        f"NOT ({one_of('payer_source', c.SPONSOR_SOURCES)}) OR sponsor_id IS NOT NULL", name="sponsor_needed"
    ),
    Index("ix_membership_version_lookup", "membership_id", "recorded_at"),
)

# Counters for generated numbers (KPJ, NPP, virtual accounts); a block is reserved in one UPDATE.
number_sequence = Table(
    "number_sequence",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

# An enrolment a branch asks for a worker registered elsewhere: the worker's own branch decides (issue 14). The NIK
# is kept as given, so a request for a NIK nobody has answers as one for a NIK registered elsewhere.
transfer_request = Table(
    "transfer_request",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nik", String(16), nullable=False),
    Column("npp", String(20), nullable=False),
    Column("request", Text, nullable=False),  # the enrolment's fields, as JSON
    Column("requested_by", String(60), nullable=False),
    Column("requested_at", DateTime, nullable=False),
    Column("status", String(10), nullable=False),
    Column("decided_by", String(60)),
    Column("decided_at", DateTime),
    Column("membership_id", Integer, ForeignKey("membership.id")),
    CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
    Index("ix_transfer_request_nik", "nik"),
)
