"""Email verification: users.email_verified_at, set by the link mailed at registration; mails by user.

Accounts that exist before this migration are marked verified as of their creation: they were
already receiving completion mail, and there was no link to follow then.

Revision ID: 0012_email_verification
Revises: 0011_token_denylist_rate_limits
Create Date: 2026-12-01 14:20:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0012_email_verification'
down_revision = '0011_token_denylist_rate_limits'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")
    # The hourly cap counts a user's recent mails on every completion.
    op.create_index('ix_sent_notifications_user_id', 'sent_notifications', ['user_id', 'claimed_at'])


def downgrade():
    op.drop_index('ix_sent_notifications_user_id', table_name='sent_notifications')
    op.drop_column('users', 'email_verified_at')
