"""bookings.workflow_started_at (the reconciler starts what a dying API left unstarted) and
orphaned_meetings (a losing create's second Zoom meeting, deleted by a later sweep)

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('bookings', sa.Column('workflow_started_at', sa.DateTime(timezone=True), nullable=True))
    # Bookings made before this column existed were started by the request that made them.
    op.execute("UPDATE bookings SET workflow_started_at = created_at")
    op.create_index('ix_bookings_unstarted', 'bookings', ['created_at'],
                    postgresql_where=sa.text("workflow_started_at IS NULL"))
    op.create_table(
        'orphaned_meetings',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), primary_key=True),
        sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('bookings.id'), nullable=False),
        sa.Column('zoom_meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False, unique=True),
        sa.Column('host_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('connection_id', sqlmodel.sql.sqltypes.AutoString(), sa.ForeignKey('zoom_connections.id'), nullable=True),
        sa.Column('host_user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_orphaned_meetings_booking_id', 'orphaned_meetings', ['booking_id'])


def downgrade() -> None:
    op.drop_index('ix_orphaned_meetings_booking_id', table_name='orphaned_meetings')
    op.drop_table('orphaned_meetings')
    op.drop_index('ix_bookings_unstarted', table_name='bookings')
    op.drop_column('bookings', 'workflow_started_at')
