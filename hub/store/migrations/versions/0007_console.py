"""console: users, audit, item warnings, notice handling, deadline indexes

Revision ID: 0007_console
Revises: 0006_message_log
Create Date: 2026-11-29 17:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_console'
down_revision = '0006_message_log'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'console_users',
        sa.Column('username', sa.String(64), primary_key=True),
        sa.Column('role', sa.String(20), nullable=False),
        sa.Column('password_hash', sa.String(200), nullable=False),
        sa.Column('totp_secret', sa.String(64)),
        sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('locked_until', sa.DateTime(timezone=True)),
        sa.Column('disabled_at', sa.DateTime(timezone=True)),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_login_at', sa.DateTime(timezone=True)),
    )
    op.create_table(
        'console_audit',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('target', sa.String(300), nullable=False),
        sa.Column('reason', sa.Text()),
        sa.Column('detail', sa.JSON()),
    )
    op.create_index('ix_console_audit_at', 'console_audit', ['at'])
    op.create_table(
        'item_warnings',
        sa.Column('case_id', sa.String(100), primary_key=True),
        sa.Column('code', sa.String(64), primary_key=True),
        sa.Column('level', sa.String(20), primary_key=True),
        sa.Column('member_id', sa.String(64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('notice_id', BigId),
        sa.Column('event_id', sa.String(200)),
    )
    op.create_index('ix_item_warnings_at', 'item_warnings', ['at'])
    op.create_table(
        'notice_handling',
        sa.Column('notice_id', BigId, primary_key=True),
        sa.Column('state', sa.String(20), nullable=False),
        sa.Column('acknowledged_by', sa.String(64)),
        sa.Column('acknowledged_at', sa.DateTime(timezone=True)),
        sa.Column('resolved_by', sa.String(64)),
        sa.Column('resolved_at', sa.DateTime(timezone=True)),
    )
    # the overview and the deadline job count open items by deadline, per department and city
    op.create_index('ix_case_items_deadlines', 'case_items', ['state', 'promised_by',
                                                              'statutory_by'])
    op.create_index('ix_case_items_member_state', 'case_items', ['member_id', 'state'])
    op.create_index('ix_cases_created_at', 'cases', ['created_at'])
    # completions in a window (medians, trend, monthly report)
    op.create_index('ix_case_item_history_state_at', 'case_item_history', ['to_state', 'at'])


def downgrade() -> None:
    op.drop_index('ix_case_item_history_state_at', 'case_item_history')
    op.drop_index('ix_cases_created_at', 'cases')
    op.drop_index('ix_case_items_member_state', 'case_items')
    op.drop_index('ix_case_items_deadlines', 'case_items')
    op.drop_table('notice_handling')
    op.drop_index('ix_item_warnings_at', 'item_warnings')
    op.drop_table('item_warnings')
    op.drop_index('ix_console_audit_at', 'console_audit')
    op.drop_table('console_audit')
    op.drop_table('console_users')
