"""fix-b: staff.session_epoch, raised by console log-out and staff disable to end every session

Revision ID: b6d2f19c0a7e
Revises: ce7b04ebb37a
Create Date: 2026-11-29 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b6d2f19c0a7e'
down_revision = 'ce7b04ebb37a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
