"""working calendars as registry data; each item's clock start for recomputation

Revision ID: 0005_calendar
Revises: 0004_feed_order
Create Date: 2026-11-29 17:10:00
"""
import sqlalchemy as sa
from alembic import op

import hub.store.models

revision = '0005_calendar'
down_revision = '0004_feed_order'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('working_calendars',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('notice', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', hub.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('year', 'version')
    )
    with op.batch_alter_table('case_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_started_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('promised_fixed', sa.Boolean(), server_default='0',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('case_items', schema=None) as batch_op:
        batch_op.drop_column('promised_fixed')
        batch_op.drop_column('clock_started_on')
    op.drop_table('working_calendars')
