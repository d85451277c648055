"""OpenID Connect relying parties: their registered id_token signing algorithm (ES256 or EdDSA).

Revision ID: a7e3c9d1b5f2
Revises: c4d2e8a1f7b3
Create Date: 2026-12-06 01:45:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7e3c9d1b5f2'
down_revision = 'c4d2e8a1f7b3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('oidc_relying_parties',
                  sa.Column('id_token_alg', sa.String(length=8), server_default='ES256', nullable=False))


def downgrade():
    op.drop_column('oidc_relying_parties', 'id_token_alg')
