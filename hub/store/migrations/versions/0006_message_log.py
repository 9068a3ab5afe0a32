"""message log: head, leaves (with their nodes), checkpoints, verifications, archived cases

Revision ID: 0006_message_log
Revises: 0005_calendar
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_message_log"
down_revision = "0005_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
    )
    # records stored before the log began have no leaves: verification starts after them
    conn = op.get_bind()
    baseline = {name: conn.execute(sa.text(f"SELECT coalesce(max({col}), 0) FROM {name}")).scalar()
                for name, col in (("events", "seq"), ("deliveries", "id"),
                                  ("delivery_attempts", "id"))}
    op.bulk_insert(head, [{"id": 1, "size": 0, "frontier": [], "baseline": baseline}])
    op.create_table(
        "log_leaves",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("ref", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=True),
        sa.Column("attempt_max", sa.BigInteger(), nullable=True),
        sa.Column("leaf", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("completes", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_log_leaves_ref", "log_leaves", ["kind", "ref"])
    op.create_index("ix_log_leaves_case_id", "log_leaves", ["case_id"])
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("keyid", sa.String(128), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("cosignatures", sa.JSON(), nullable=False),
    )
    op.create_index("ix_log_checkpoints_at", "log_checkpoints", ["at"])
    op.create_table(
        "log_verifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
    )
    op.create_table(
        "archived_cases",
        sa.Column("case_id", sa.String(100), primary_key=True),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("archived_cases", "log_verifications", "log_checkpoints", "log_leaves", "log_head"):
        op.drop_table(table)
