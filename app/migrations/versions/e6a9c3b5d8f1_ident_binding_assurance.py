"""mp_accounts.assurance (knowledge / real_person / counter) and binding_ended_at / _reason:
real-person checks, unbinding and eviction (issue 17 items 2 and 4)

Revision ID: e6a9c3b5d8f1
Revises: d4b7e1f9a2c6
Create Date: 2026-12-05 22:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6a9c3b5d8f1'
down_revision = 'd4b7e1f9a2c6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assurance', sa.String(length=16), server_default='knowledge', nullable=False))
        batch_op.add_column(sa.Column('binding_ended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('binding_ended_reason', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('mp_accounts', schema=None) as batch_op:
        batch_op.drop_column('binding_ended_reason')
        batch_op.drop_column('binding_ended_at')
        batch_op.drop_column('assurance')
