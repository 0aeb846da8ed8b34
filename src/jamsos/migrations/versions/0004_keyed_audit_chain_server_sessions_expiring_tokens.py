"""keyed audit chain (entry MACs, a keyed head, a verification checkpoint), server-side web sessions, expiring and
rotating API tokens, transfer requests between branches

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What may change in an entry: its chain fields, once, from empty (sealing). Nothing else, ever (now its MAC too).
_UNCHANGED = ("id", "at", "actor", "role", "action", "entity", "entity_key", "source", "detail", "mac")
_PG_SEALING = " AND ".join(
    ["TG_OP = 'UPDATE'", "OLD.seq IS NULL", "NEW.seq IS NOT NULL", "NEW.hash IS NOT NULL", "NEW.prev_hash IS NOT NULL"]
    + [f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _UNCHANGED]
)
_SQLITE_SEALING = " AND ".join(
    ["OLD.seq IS NULL", "NEW.seq IS NOT NULL", "NEW.hash IS NOT NULL", "NEW.prev_hash IS NOT NULL"]
    + [f"NEW.{c} IS OLD.{c}" for c in _UNCHANGED]
)
# Tokens made before this revision had no expiry: they expire a year after they were made.
LEGACY_TOKEN_DAYS = 365


def _drop_guards(postgres: bool) -> None:
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _guards(postgres: bool, sealing_pg: str, sealing_sqlite: str) -> None:
    if postgres:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {sealing_pg} THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN NOT ({sealing_sqlite}) "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_guards(postgres)
    op.add_column("audit_log", sa.Column("mac", sa.String(length=64), nullable=True))
    op.add_column("audit_head", sa.Column("head_mac", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("first_bad_id", sa.Integer(), nullable=True),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_web_session_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
    )
    op.create_index("ix_web_session_user", "web_session", ["user_id"], unique=False)
    op.create_table(
        "transfer_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nik", sa.String(length=16), nullable=False),
        sa.Column("npp", sa.String(length=20), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=60), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_transfer_request_status")),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["membership.id"], name=op.f("fk_transfer_request_membership_id_membership")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_request")),
    )
    op.create_index("ix_transfer_request_nik", "transfer_request", ["nik"], unique=False)
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("replaced_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_token_replaced_by_api_token"), "api_token", ["replaced_by"], ["id"]
        )
    bind = op.get_bind()
    tokens = sa.table("api_token", sa.column("id", sa.Integer), sa.column("created_at", sa.DateTime),
                      sa.column("expires_at", sa.DateTime))  # fmt: skip
    for token_id, created in bind.execute(sa.select(tokens.c.id, tokens.c.created_at)).all():
        expires = created + dt.timedelta(days=LEGACY_TOKEN_DAYS)
        bind.execute(sa.update(tokens).where(tokens.c.id == token_id).values(expires_at=expires))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(), nullable=False)
    _guards(postgres, _PG_SEALING, _SQLITE_SEALING)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_guards(postgres)
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_token_replaced_by_api_token"), type_="foreignkey")
        batch_op.drop_column("replaced_by")
        batch_op.drop_column("expires_at")
    op.drop_index("ix_transfer_request_nik", table_name="transfer_request")
    op.drop_table("transfer_request")
    op.drop_index("ix_web_session_user", table_name="web_session")
    op.drop_table("web_session")
    op.drop_table("audit_checkpoint")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("head_mac")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("mac")
    unchanged = _UNCHANGED[:-1]
    _guards(
        postgres,
        " AND ".join(
            ["TG_OP = 'UPDATE'", "OLD.seq IS NULL", "NEW.seq IS NOT NULL", "NEW.hash IS NOT NULL",
             "NEW.prev_hash IS NOT NULL"] + [f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in unchanged]
        ),
        " AND ".join(
            ["OLD.seq IS NULL", "NEW.seq IS NOT NULL", "NEW.hash IS NOT NULL", "NEW.prev_hash IS NOT NULL"]
            + [f"NEW.{c} IS OLD.{c}" for c in unchanged]
        ),
    )  # fmt: skip
