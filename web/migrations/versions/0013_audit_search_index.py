"""Audit search indexes: pg_trgm GIN indexes on each event's title and on its description.

`GET /api/<user>/audit?q=` is a substring match (ILIKE) on the task's title and description.
Walking a user's time index and filtering is fast when the word is common (the first page fills
at once) but read all 50,000 rows of a big user for a rare word (p99 186 ms, issue 9). Trigrams
find the few matching rows directly. One index per field, not one over both joined: the query
stays `title ILIKE p OR description ILIKE p`, and each index's statistics let the planner tell
a rare word (start from the index) from a common one (walk the user's time index). Built CONCURRENTLY so an existing trail stays writable; the
extension stays on downgrade (other objects may use it, and it costs nothing idle).

Revision ID: 0013_audit_search_index
Revises: 0012_email_verification
Create Date: 2026-12-01 13:45:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013_audit_search_index'
down_revision = '0012_email_verification'
branch_labels = None
depends_on = None

# Exactly shared.models.AUDIT_SEARCH_FIELDS (what the search query says), so the planner matches them.
FIELDS = {
    "title": "(event_data['task_data'] ->> 'title')",
    "description": "(event_data['task_data'] ->> 'description')",
}


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.get_context().autocommit_block():
        for name, sql in FIELDS.items():
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_audit_log_search_{name} ON audit_log "
                f"USING gin ({sql} gin_trgm_ops)"
            )


def downgrade():
    with op.get_context().autocommit_block():
        for name in FIELDS:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS ix_audit_log_search_{name}")
