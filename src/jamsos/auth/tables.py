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
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("replaced_by", Integer, ForeignKey("api_token.id")),  # a rotation: the token that took its place
)

# Web sessions, held by the server: the browser's cookie names one (its hash is the key), so logging out,
# locking the user or the absolute lifetime ends it wherever the cookie was copied.
web_session = Table(
    "web_session",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the session's random token
    Column("user_id", Integer, ForeignKey("app_user.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Index("ix_web_session_user", "user_id"),
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
    # Set at the append: a keyed MAC of the entry's own fields (the key is kept outside the database), so a row
    # written into the table by anyone but jamsos is found and never sealed. Empty for entries made before 0004.
    Column("mac", String(64)),
    Index("ix_audit_log_at", "at"),
)

# One row: the hash and position of the newest sealed entry. The sealer locks it, so one seals at a time.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_hash", String(64), nullable=False),
    Column("last_seq", Integer, nullable=False, server_default="0"),
    Column("head_mac", String(64)),  # keyed MAC of (last_seq, last_hash): the head cannot be moved by hand
)

# One row: how far the chain has been verified (by the sealer, after each round), so the administration page
# and `jamsos audit verify --since-checkpoint` need not recompute it all. Keyed like the head.
audit_checkpoint = Table(
    "audit_checkpoint",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("checked_at", DateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("first_bad_id", Integer),
    Column("mac", String(64), nullable=False),
)
