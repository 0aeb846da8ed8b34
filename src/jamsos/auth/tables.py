"""Tables of the auth context: users, API tokens, and the audit log (append-only, hash-chained)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from jamsos.auth.domain import ROLES
from jamsos.infra.db import metadata

ROLE_CHECK = "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")"

app_user = Table(
    "app_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(60), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("kanwil_code", String(20), ForeignKey("kanwil.code")),
    Column("branch_code", String(20), ForeignKey("branch.code")),
    Column("npp", String(20)),
    Column("nik", String(16)),
    Column("active", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint(ROLE_CHECK, name="role"),
    CheckConstraint("role <> 'kanwil' OR kanwil_code IS NOT NULL", name="kanwil_scope"),
    CheckConstraint("role <> 'branch' OR branch_code IS NOT NULL", name="branch_scope"),
    CheckConstraint("role <> 'employer' OR npp IS NOT NULL", name="employer_scope"),
    CheckConstraint("role <> 'worker' OR nik IS NOT NULL", name="worker_scope"),
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("app_user.id"), nullable=False),
    Column("name", String(60), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(60), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("entity_key", String(80)),
    Column("source", String(80), nullable=False),
    Column("detail", Text, nullable=False),
    # Set once by the sealer (auth.service.seal): the position in the chain and the two hashes.
    Column("seq", Integer, unique=True),
    Column("prev_hash", String(64), unique=True),
    Column("hash", String(64), unique=True),
    Index("ix_audit_log_at", "at"),
)

# One row: the hash and position of the newest sealed entry. The sealer locks it, so one seals at a time.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_hash", String(64), nullable=False),
    Column("last_seq", Integer, nullable=False, server_default="0"),
)
