"""host reservations: the host each booking holds (system host pool capacity)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'host_reservations',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('host_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('host_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('connection_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('fallback_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('end_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('create_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], ),
        sa.ForeignKeyConstraint(['connection_id'], ['zoom_connections.id'], ),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_host_reservations_booking_id'), 'host_reservations', ['booking_id'], unique=True)
    op.create_index(op.f('ix_host_reservations_org_id'), 'host_reservations', ['org_id'], unique=False)
    op.create_index('ix_host_reservations_host_window', 'host_reservations',
                    ['host_key', 'start_time', 'end_time'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_host_reservations_host_window', table_name='host_reservations')
    op.drop_index(op.f('ix_host_reservations_org_id'), table_name='host_reservations')
    op.drop_index(op.f('ix_host_reservations_booking_id'), table_name='host_reservations')
    op.drop_table('host_reservations')
