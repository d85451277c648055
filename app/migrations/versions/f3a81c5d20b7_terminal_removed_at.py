"""terminals.removed_at: `citizencard partner terminal remove` keeps the row (verification records name it)

Revision ID: f3a81c5d20b7
Revises: b6d2f19c0a7e
Create Date: 2026-11-29 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a81c5d20b7'
down_revision = 'b6d2f19c0a7e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('terminals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('terminals', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
