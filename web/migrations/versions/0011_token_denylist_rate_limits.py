"""Token denylist and rate limits: revoked_tokens (jti or session family until expiry), rate_limits.

Both live in PostgreSQL so every gunicorn worker and every replica sees the same revocations and
the same attempt counts.

Revision ID: 0011_token_denylist_rate_limits
Revises: 0010_webhooks
Create Date: 2026-12-01 13:40:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0011_token_denylist_rate_limits'
down_revision = '0010_webhooks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'revoked_tokens',
        sa.Column('token_id', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('token_id', name=op.f('pk_revoked_tokens')),
    )
    op.create_index(op.f('ix_revoked_tokens_expires_at'), 'revoked_tokens', ['expires_at'], unique=False)
    op.create_table(
        'rate_limits',
        sa.Column('key', sa.String(length=320), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limits')),
    )
    op.create_index(op.f('ix_rate_limits_window_start'), 'rate_limits', ['window_start'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_rate_limits_window_start'), table_name='rate_limits')
    op.drop_table('rate_limits')
    op.drop_index(op.f('ix_revoked_tokens_expires_at'), table_name='revoked_tokens')
    op.drop_table('revoked_tokens')
