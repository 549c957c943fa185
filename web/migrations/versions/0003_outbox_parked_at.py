"""Outbox parking: outbox.parked_at, set when the broker refused an event for good.

The relay skips a parked row until `flask --app web outbox retry` clears it, so one event the
broker will never take cannot hold the outbox (or its user) back for ever.

Revision ID: 0003_outbox_parked_at
Revises: 0001_initial
Create Date: 2026-12-01 13:40:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0003_outbox_parked_at'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('outbox', sa.Column('parked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('outbox', 'parked_at')
