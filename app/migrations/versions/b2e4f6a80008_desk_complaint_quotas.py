"""complaint_quotas: complaints per citizen per day and open at once, counted first (issue 15 item 8)

Revision ID: b2e4f6a80008
Revises: a1d3e5c70017
Create Date: 2026-12-05 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2e4f6a80008'
down_revision = 'a1d3e5c70017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('complaint_quotas',
    sa.Column('citizen_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('filed_on_day', sa.Integer(), nullable=False),
    sa.Column('open_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], ),
    sa.PrimaryKeyConstraint('citizen_id')
    )
    # Tickets open today count against the open limit at once; the day's count starts at zero.
    op.execute("INSERT INTO complaint_quotas (citizen_id, day, filed_on_day, open_count) "
               "SELECT citizen_id, CURRENT_DATE, 0, COUNT(*) FROM complaints WHERE status <> 'closed' GROUP BY citizen_id")


def downgrade():
    op.drop_table('complaint_quotas')
