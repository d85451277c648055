"""mp_accounts.cancelled_at: account cancellation (issue 17 item 6, PIPL art. 47)

Revision ID: f8b2d4e6a1c9
Revises: e6a9c3b5d8f1
Create Date: 2026-12-05 22:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f8b2d4e6a1c9'
down_revision = 'e6a9c3b5d8f1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('mp_accounts', schema=None) as batch_op:
        batch_op.drop_column('cancelled_at')
