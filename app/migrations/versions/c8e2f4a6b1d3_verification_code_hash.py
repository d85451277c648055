"""verifications.code_hash: a DGC2 code accepted online keeps the SHA-256 of its bytes, so that an
upload of another code with the same serial and ctr is told as a clone (issue 16)

Revision ID: c8e2f4a6b1d3
Revises: b2e5c7a9d4f1
Create Date: 2026-12-05 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c8e2f4a6b1d3'
down_revision = 'b2e5c7a9d4f1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.drop_column('code_hash')
