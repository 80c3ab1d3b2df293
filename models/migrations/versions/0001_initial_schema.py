"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 12:58:16.913583
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('organizations',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('api_key_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_organizations_api_key_hash'), 'organizations', ['api_key_hash'], unique=True)
    op.create_table('webhook_events',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('zoom_meeting_uuid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('download_token_enc', sa.Text(), nullable=True),
    sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('route_status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('routed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index(op.f('ix_webhook_events_booking_id'), 'webhook_events', ['booking_id'], unique=False)
    op.create_index(op.f('ix_webhook_events_event_type'), 'webhook_events', ['event_type'], unique=False)
    op.create_index(op.f('ix_webhook_events_zoom_meeting_id'), 'webhook_events', ['zoom_meeting_id'], unique=False)
    op.create_table('idi_sessions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('meeting_provider', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_idi_sessions_org_id'), 'idi_sessions', ['org_id'], unique=False)
    op.create_table('zoom_connections',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_user_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_user_type', sa.Integer(), nullable=False),
    sa.Column('scopes', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('access_token_enc', sa.Text(), nullable=True),
    sa.Column('refresh_token_enc', sa.Text(), nullable=True),
    sa.Column('access_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('connected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disconnected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_zoom_connections_org_id'), 'zoom_connections', ['org_id'], unique=True)
    op.create_index(op.f('ix_zoom_connections_zoom_account_id'), 'zoom_connections', ['zoom_account_id'], unique=False)
    op.create_index(op.f('ix_zoom_connections_zoom_user_id'), 'zoom_connections', ['zoom_user_id'], unique=False)
    op.create_table('bookings',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('participant_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('participant_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status_message', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['idi_sessions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'idempotency_key', name='uq_bookings_org_idem')
    )
    op.create_index(op.f('ix_bookings_org_id'), 'bookings', ['org_id'], unique=False)
    op.create_index(op.f('ix_bookings_session_id'), 'bookings', ['session_id'], unique=False)
    op.create_table('meetings',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_uuid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('host_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('host_user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('host_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('host_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('connection_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('fallback_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('join_url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], ),
    sa.ForeignKeyConstraint(['connection_id'], ['zoom_connections.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_meetings_booking_id'), 'meetings', ['booking_id'], unique=True)
    op.create_index(op.f('ix_meetings_org_id'), 'meetings', ['org_id'], unique=False)
    op.create_index(op.f('ix_meetings_zoom_meeting_id'), 'meetings', ['zoom_meeting_id'], unique=False)
    op.create_table('recording_files',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('meeting_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('booking_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_file_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('zoom_meeting_uuid', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('file_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('file_extension', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('recording_type', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('expected_size', sa.BigInteger(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('storage_path', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], ),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('meeting_id', 'zoom_file_id', name='uq_recording_file')
    )
    op.create_index(op.f('ix_recording_files_booking_id'), 'recording_files', ['booking_id'], unique=False)
    op.create_index(op.f('ix_recording_files_meeting_id'), 'recording_files', ['meeting_id'], unique=False)
    op.create_index(op.f('ix_recording_files_org_id'), 'recording_files', ['org_id'], unique=False)
    


def downgrade() -> None:
    
    op.drop_index(op.f('ix_recording_files_org_id'), table_name='recording_files')
    op.drop_index(op.f('ix_recording_files_meeting_id'), table_name='recording_files')
    op.drop_index(op.f('ix_recording_files_booking_id'), table_name='recording_files')
    op.drop_table('recording_files')
    op.drop_index(op.f('ix_meetings_zoom_meeting_id'), table_name='meetings')
    op.drop_index(op.f('ix_meetings_org_id'), table_name='meetings')
    op.drop_index(op.f('ix_meetings_booking_id'), table_name='meetings')
    op.drop_table('meetings')
    op.drop_index(op.f('ix_bookings_session_id'), table_name='bookings')
    op.drop_index(op.f('ix_bookings_org_id'), table_name='bookings')
    op.drop_table('bookings')
    op.drop_index(op.f('ix_zoom_connections_zoom_user_id'), table_name='zoom_connections')
    op.drop_index(op.f('ix_zoom_connections_zoom_account_id'), table_name='zoom_connections')
    op.drop_index(op.f('ix_zoom_connections_org_id'), table_name='zoom_connections')
    op.drop_table('zoom_connections')
    op.drop_index(op.f('ix_idi_sessions_org_id'), table_name='idi_sessions')
    op.drop_table('idi_sessions')
    op.drop_index(op.f('ix_webhook_events_zoom_meeting_id'), table_name='webhook_events')
    op.drop_index(op.f('ix_webhook_events_event_type'), table_name='webhook_events')
    op.drop_index(op.f('ix_webhook_events_booking_id'), table_name='webhook_events')
    op.drop_table('webhook_events')
    op.drop_index(op.f('ix_organizations_api_key_hash'), table_name='organizations')
    op.drop_table('organizations')
    
