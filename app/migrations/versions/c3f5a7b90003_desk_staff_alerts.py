"""staff_alerts: misuse of the caller check, shown to supervisors (issue 15 item 3)

Revision ID: c3f5a7b90003
Revises: b2e4f6a80008
Create Date: 2026-12-05 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f5a7b90003'
down_revision = 'b2e4f6a80008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('ticket_number', sa.String(length=24), nullable=True),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_alerts_at'), ['at'], unique=False)


def downgrade():
    with op.batch_alter_table('staff_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_alerts_at'))
    op.drop_table('staff_alerts')
