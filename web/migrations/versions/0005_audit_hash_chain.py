"""Audit hash chain: prev_hash and hash on every audit_log row, and a trigger that makes it append-only.

Existing rows are chained here (per user, in id order, from the genesis value) so a trail that
predates the chain verifies intact. The trigger refuses UPDATE, DELETE and TRUNCATE to every role
but the table's owner, which keeps the right to migrate (and the tests' TRUNCATE between tests).

Revision ID: 0005_audit_hash_chain
Revises: 0004_mail_claims
Create Date: 2026-12-01 13:40:00

"""
from alembic import op
import sqlalchemy as sa

from shared.audit_chain import GENESIS, link_hash, row_document

# revision identifiers, used by Alembic.
revision = '0005_audit_hash_chain'
down_revision = '0004_mail_claims'
branch_labels = None
depends_on = None

CHUNK = 5000

REFUSE_CHANGE = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused for role %', TG_OP, current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'only the table owner (migrations) may change or remove audit rows';
END
$$
"""
TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
"""


def _chain_existing_rows(bind):
    """Compute prev_hash and hash for every existing row, per user in id order, in keyset chunks."""
    select_chunk = sa.text(
        "SELECT id, event_id, event_type, user_id, task_id, timestamp, event_data FROM audit_log "
        "WHERE (user_id, id) > (:user_id, :id) ORDER BY user_id, id LIMIT :limit"
    )
    bind.execute(sa.text("CREATE TEMP TABLE audit_chain_backfill (id bigint, prev_hash bytea, hash bytea)"))
    raw = bind.connection.driver_connection
    position, head_user, head = ("", 0), None, GENESIS
    while True:
        rows = bind.execute(select_chunk, {"user_id": position[0], "id": position[1], "limit": CHUNK}).all()
        if not rows:
            break
        with raw.cursor() as cursor, cursor.copy("COPY audit_chain_backfill FROM STDIN") as copy:
            for row in rows:
                prev = head if row.user_id == head_user else GENESIS
                document = row_document(
                    event_id=row.event_id, event_type=row.event_type, user_id=row.user_id,
                    task_id=row.task_id, timestamp=row.timestamp, event_data=row.event_data,
                )
                head, head_user = link_hash(prev, document), row.user_id
                copy.write_row((row.id, prev, head))
        position = (rows[-1].user_id, rows[-1].id)
    bind.execute(sa.text(
        "UPDATE audit_log SET prev_hash = b.prev_hash, hash = b.hash FROM audit_chain_backfill b "
        "WHERE audit_log.id = b.id"
    ))
    bind.execute(sa.text("DROP TABLE audit_chain_backfill"))


def upgrade():
    op.create_index('ix_audit_log_user_id_id', 'audit_log', ['user_id', 'id'], unique=False)
    op.add_column('audit_log', sa.Column('prev_hash', sa.LargeBinary(), nullable=True))
    op.add_column('audit_log', sa.Column('hash', sa.LargeBinary(), nullable=True))
    _chain_existing_rows(op.get_bind())
    op.alter_column('audit_log', 'prev_hash', nullable=False)
    op.alter_column('audit_log', 'hash', nullable=False)
    op.create_check_constraint(
        'hash_lengths', 'audit_log', 'octet_length(prev_hash) = 32 AND octet_length(hash) = 32'
    )
    op.execute(REFUSE_CHANGE)
    op.execute(TRIGGER)


def downgrade():
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_constraint(op.f('ck_audit_log_hash_lengths'), 'audit_log', type_='check')
    op.drop_column('audit_log', 'hash')
    op.drop_column('audit_log', 'prev_hash')
    op.drop_index('ix_audit_log_user_id_id', table_name='audit_log')
