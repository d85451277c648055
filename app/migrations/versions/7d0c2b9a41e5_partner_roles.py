"""partner roles: bank, disburse, medical_insurance

Revision ID: 7d0c2b9a41e5
Revises: e23df4ca716d
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d0c2b9a41e5'
down_revision = 'e23df4ca716d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roles', sa.String(length=200), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('roles')
