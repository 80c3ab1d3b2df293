"""attendance: who joined each booking's meeting and when, no-show outcome, org time zone,
participant audio file names

Revision ID: 0008
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('organizations', sa.Column('time_zone', sa.Text(), nullable=False, server_default='UTC'))
    op.add_column('bookings', sa.Column('attendance_status', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('bookings', sa.Column('attendance_source', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('bookings', sa.Column('host_joined_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('bookings', sa.Column('interviewee_minutes', sa.Integer(), nullable=True))
    op.add_column('recording_files', sa.Column('file_name', sa.Text(), nullable=True))
    op.create_table(
        'attendees',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), primary_key=True),
        sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('bookings.id'), nullable=False),
        sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('organizations.id'), nullable=False),
        sa.Column('participant_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('matched_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('segments', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('booking_id', 'participant_key', name='uq_attendee'),
    )
    op.create_index('ix_attendees_booking_id', 'attendees', ['booking_id'])
    op.create_index('ix_attendees_org_id', 'attendees', ['org_id'])


def downgrade() -> None:
    op.drop_index('ix_attendees_org_id', table_name='attendees')
    op.drop_index('ix_attendees_booking_id', table_name='attendees')
    op.drop_table('attendees')
    op.drop_column('recording_files', 'file_name')
    op.drop_column('bookings', 'interviewee_minutes')
    op.drop_column('bookings', 'host_joined_at')
    op.drop_column('bookings', 'attendance_source')
    op.drop_column('bookings', 'attendance_status')
    op.drop_column('organizations', 'time_zone')
