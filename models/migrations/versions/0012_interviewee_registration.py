"""interviewee registration: the registrant id and personal join link on each booking

Revision ID: 0012
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('bookings', sa.Column('zoom_registrant_id', sa.Text(), nullable=True))
    op.add_column('bookings', sa.Column('interviewee_join_url', sa.Text(), nullable=True))
    op.add_column('bookings', sa.Column('registration_status', sa.Text(), nullable=True))
    op.add_column('bookings', sa.Column('registration_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    for name in ('registration_reason', 'registration_status', 'interviewee_join_url', 'zoom_registrant_id'):
        op.drop_column('bookings', name)
