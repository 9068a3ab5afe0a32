"""feed order: each delivery remembers the transaction that inserted it

Revision ID: 0004_feed_order
Revises: 0003
Create Date: 2026-11-29 17:00:00

The feed pages by (feed_xid, id) and serves only rows whose inserting transaction is older
than every transaction still in flight (see hub/services/deliveries.py). Rows already stored
keep feed_xid 0: they were all committed before this migration took its table lock, so they
sort first, in id order, and a member's old numeric cursor keeps its meaning.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_feed_order'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_xid', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.drop_index('ix_deliveries_member_id')
        batch_op.create_index('ix_deliveries_feed', ['member_id', 'feed_xid', 'id'],
                              unique=False)
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ack_xid', sa.BigInteger(), server_default='0',
                                      nullable=False))
    if op.get_bind().dialect.name == 'postgresql':
        # the inserting transaction's 64-bit id (epoch-extended: it never wraps around)
        op.execute("ALTER TABLE deliveries ALTER COLUMN feed_xid "
                   "SET DEFAULT (pg_current_xact_id()::text)::bigint")


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('ack_xid')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_feed')
        batch_op.create_index('ix_deliveries_member_id', ['member_id', 'id'], unique=False)
        batch_op.drop_column('feed_xid')
