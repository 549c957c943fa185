"""Mail claims: a sent_notifications row is a claim until its mail is sent, and can be taken over.

sent_at is NULL while claimed; a claim whose worker died before sending is taken over once
claimed_at is older than MAIL_CLAIM_TIMEOUT_SECONDS. claimed_by tells the holder whether it still
holds the claim, and event_data is the event, so whoever takes over builds the same mail.
Existing rows were all sent.

Revision ID: 0004_mail_claims
Revises: 0003_outbox_parked_at
Create Date: 2026-12-01 13:50:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0004_mail_claims'
down_revision = '0003_outbox_parked_at'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('sent_notifications', sa.Column(
        'claimed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
    op.add_column('sent_notifications', sa.Column('claimed_by', sa.Uuid(), nullable=True))
    op.add_column('sent_notifications', sa.Column(
        'event_data', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.alter_column('sent_notifications', 'sent_at', nullable=True, server_default=None)
    op.create_index('ix_sent_notifications_unsent', 'sent_notifications', ['claimed_at'], unique=False,
                    postgresql_where=sa.text('sent_at IS NULL'))


def downgrade():
    op.drop_index('ix_sent_notifications_unsent', table_name='sent_notifications',
                  postgresql_where=sa.text('sent_at IS NULL'))
    # A claim not yet sent counts as sent in the old schema: never mail twice.
    op.execute("UPDATE sent_notifications SET sent_at = claimed_at WHERE sent_at IS NULL")
    op.alter_column('sent_notifications', 'sent_at', nullable=False, server_default=sa.text('now()'))
    op.drop_column('sent_notifications', 'event_data')
    op.drop_column('sent_notifications', 'claimed_by')
    op.drop_column('sent_notifications', 'claimed_at')
