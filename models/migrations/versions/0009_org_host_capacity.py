"""org host capacity: how many meetings the org's connected Zoom user may run at once

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing connections get 1, Zoom's limit for Basic users and Pro accounts
    # (docs/zoom.md#concurrency); the org can raise it.
    op.add_column('zoom_connections', sa.Column('concurrent_meetings', sa.Integer(), nullable=False,
                                                server_default='1'))
    # default (set at connect) or org (set with PATCH …/integrations/zoom).
    op.add_column('zoom_connections', sa.Column('concurrent_meetings_source', sa.Text(), nullable=False,
                                                server_default='default'))


def downgrade() -> None:
    op.drop_column('zoom_connections', 'concurrent_meetings_source')
    op.drop_column('zoom_connections', 'concurrent_meetings')
