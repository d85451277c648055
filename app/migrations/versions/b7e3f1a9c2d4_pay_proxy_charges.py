"""Paying with the card, proxies (issue 22): a family entry's switch letting the guardian's proxy
codes be charged (app.card.family.set_proxy_charges; off by default).

Revision ID: b7e3f1a9c2d4
Revises: c4d2e8a1f7b3
Create Date: 2026-12-06 01:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3f1a9c2d4'
down_revision = 'c4d2e8a1f7b3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('family_members', sa.Column('proxy_charges', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    op.drop_column('family_members', 'proxy_charges')
