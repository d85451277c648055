"""Family members (issue 18 follow-up): the assurance of a member's confirmation, and the roster's
optional household key (a keyed hash of the household register number) for checking a child's
relation.

Revision ID: a7f3c9e1b2d4
Revises: e8c1a5d3f7b2
Create Date: 2026-12-06 01:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a7f3c9e1b2d4'
down_revision = 'e8c1a5d3f7b2'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('family_members', sa.Column('confirmed_assurance', sa.String(length=16), nullable=True))
    op.add_column('family_members', sa.Column('household_checked', sa.Boolean(), nullable=True))
    op.add_column('citizens', sa.Column('household_key', sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column('citizens', 'household_key')
    op.drop_column('family_members', 'household_checked')
    op.drop_column('family_members', 'confirmed_assurance')
