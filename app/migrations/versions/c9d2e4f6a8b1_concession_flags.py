"""Concession-misuse flags (issue 24 item 4): a lending flag's kind (``distance``: two terminals
too far apart; ``concession``: a concession card boarding at too many gates in a short window,
app.hub.concessions) and, for the latter, how many boardings it counted.

Revision ID: c9d2e4f6a8b1
Revises: b7e3f1a9c2d4
Create Date: 2026-12-06 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9d2e4f6a8b1'
down_revision = 'b7e3f1a9c2d4'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('lending_flags', sa.Column('kind', sa.String(length=16), server_default='distance', nullable=False))
    op.add_column('lending_flags', sa.Column('scans', sa.Integer(), nullable=True))


def downgrade():
    op.drop_column('lending_flags', 'scans')
    op.drop_column('lending_flags', 'kind')
