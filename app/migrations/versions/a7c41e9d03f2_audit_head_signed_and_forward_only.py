"""audit_chain_head: key_id + signature (the head is signed), and a trigger: it only moves forward

Revision ID: a7c41e9d03f2
Revises: c3f5a7b9d1e2
Create Date: 2026-12-05 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c41e9d03f2'
down_revision = 'c3f5a7b9d1e2'
branch_labels = None
depends_on = None

# The same statements as app/service_desk/models.py HEAD_FORWARD_DDL (kept here as they were).
HEAD_FORWARD = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN
        RAISE EXCEPTION 'audit_chain_head only moves forward';
    END IF;
    RETURN NEW;
END $$""",
        "CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head "
        "FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_chain_head only moves forward'); END",
        "CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head "
        "WHEN NEW.id <> OLD.id OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) "
        "BEGIN SELECT RAISE(ABORT, 'audit_chain_head only moves forward'); END",
    ],
}
DROP = {
    "postgresql": ["DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_chain_head",
                   "DROP FUNCTION IF EXISTS audit_chain_head_forward_only()"],
    "sqlite": ["DROP TRIGGER IF EXISTS audit_chain_head_no_delete", "DROP TRIGGER IF EXISTS audit_chain_head_forward_only"],
}


def upgrade():
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('signature', sa.String(length=128), nullable=True))
    for statement in HEAD_FORWARD[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade():
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.drop_column('signature')
        batch_op.drop_column('key_id')
