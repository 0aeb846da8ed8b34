"""the audit log is sealed after the append: entries are inserted without a lock and chained by a sealer

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# What may change in an entry: its chain fields, once, from empty (sealing). Nothing else, ever.
_UNCHANGED = ("id", "at", "actor", "role", "action", "entity", "entity_key", "source", "detail")
_PG_SEALING = " AND ".join(
    ["TG_OP = 'UPDATE'", "OLD.seq IS NULL", "NEW.seq IS NOT NULL", "NEW.hash IS NOT NULL", "NEW.prev_hash IS NOT NULL"]
    + [f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _UNCHANGED]
)
_SQLITE_SEALING = " AND ".join(
    ["OLD.seq IS NULL", "NEW.seq IS NOT NULL", "NEW.hash IS NOT NULL", "NEW.prev_hash IS NOT NULL"]
    + [f"NEW.{c} IS OLD.{c}" for c in _UNCHANGED]
)


def _drop_guards(postgres: bool) -> None:
    if postgres:
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_guards(postgres)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False))
    # Entries chained before this revision were chained in id order.
    op.execute("UPDATE audit_log SET seq = id")
    op.execute("UPDATE audit_head SET last_seq = (SELECT COALESCE(MAX(id), 0) FROM audit_log)")
    if postgres:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {_PG_SEALING} THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN NOT ({_SQLITE_SEALING}) "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


def downgrade() -> None:
    """Back to appends under the head's lock; entries not sealed yet must be sealed first."""
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_guards(postgres)
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_seq"), type_="unique")
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("seq")
    if postgres:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
