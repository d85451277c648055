"""partners.request_key_alg / request_public_key: a partner's own public key for asymmetric request
signing (issue 20 item 3: Ed25519 or SM2 with SM3, for banks and departments that need
non-repudiation). Set, it replaces the HMAC secret for requests (scenes/signing.py).

Revision ID: b5d1e3f7a9c2
Revises: a7c3e5f9b2d4
Create Date: 2026-12-06 00:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d1e3f7a9c2'
down_revision = 'a7c3e5f9b2d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_key_alg', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('request_public_key', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('request_public_key')
        batch_op.drop_column('request_key_alg')
