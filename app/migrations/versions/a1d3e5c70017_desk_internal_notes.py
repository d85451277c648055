"""complaint_messages.internal: staff notes the citizen never sees (issue 15 item 17)

Revision ID: a1d3e5c70017
Revises: f3a81c5d20b7
Create Date: 2026-12-05 18:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1d3e5c70017'
down_revision = 'f3a81c5d20b7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('complaint_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('internal', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('complaint_messages', schema=None) as batch_op:
        batch_op.drop_column('internal')
