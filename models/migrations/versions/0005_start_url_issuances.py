"""start url issuances: every start URL handed out, with who asked

Revision ID: 0005
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'start_url_issuances',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('bookings.id'), nullable=False),
        sa.Column('meeting_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('meetings.id'), nullable=False),
        sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('organizations.id'), nullable=False),
        sa.Column('host_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('host_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('client_ip', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_start_url_issuances_booking_id', 'start_url_issuances', ['booking_id'])
    op.create_index('ix_start_url_issuances_org_id', 'start_url_issuances', ['org_id'])


def downgrade() -> None:
    op.drop_index('ix_start_url_issuances_org_id', table_name='start_url_issuances')
    op.drop_index('ix_start_url_issuances_booking_id', table_name='start_url_issuances')
    op.drop_table('start_url_issuances')
