"""recordings and inbox retry: a file's download URL, and when a pending webhook is tried again

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('recording_files', sa.Column('download_url', sa.Text(), nullable=True))
    op.add_column('webhook_events', sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_webhook_events_due', 'webhook_events', ['route_status', 'next_attempt_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_webhook_events_due', table_name='webhook_events')
    op.drop_column('webhook_events', 'next_attempt_at')
    op.drop_column('recording_files', 'download_url')
