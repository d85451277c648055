"""The service desk at city scale (issue 21): the queue's trigram search index (pg_trgm on
PostgreSQL, a plain index on SQLite), the fair order's partial index, the official working-day
calendar and the help centre's articles.

Revision ID: d1e5c0a7b3f2
Revises: b4d8f2a6c1e3
Create Date: 2026-12-06 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd1e5c0a7b3f2'
down_revision = 'b4d8f2a6c1e3'
branch_labels = None
depends_on = None

_OPEN = sa.text("status <> 'closed'")


def upgrade():
    op.create_table('help_articles',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('title', sa.String(length=100), nullable=False),
                    sa.Column('body', sa.Text(), nullable=False),
                    sa.Column('category', sa.String(length=32), nullable=True),
                    sa.Column('published', sa.Boolean(), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('updated_by', sa.String(length=64), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_help_articles')))
    with op.batch_alter_table('help_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_help_articles_category'), ['category'], unique=False)
    op.create_table('official_days',
                    sa.Column('day', sa.Date(), nullable=False),
                    sa.Column('kind', sa.String(length=8), nullable=False),
                    sa.Column('name', sa.String(length=32), nullable=False),
                    sa.PrimaryKeyConstraint('day', name=op.f('pk_official_days')))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='complaint', nullable=False))
        batch_op.create_index('ix_complaints_description_trgm', ['description'], unique=False,
                              postgresql_using='gin', postgresql_ops={'description': 'gin_trgm_ops'})
        batch_op.create_index('ix_complaints_open_turn', ['citizen_id', 'created_at', 'id'], unique=False,
                              postgresql_where=_OPEN, sqlite_where=_OPEN, postgresql_include=[
                                  'status', 'category', 'department', 'assignee_id', 'resolution_due',
                                  'first_response_due', 'first_responded_at'])


def downgrade():
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index('ix_complaints_open_turn', postgresql_where=_OPEN, sqlite_where=_OPEN)
        batch_op.drop_column('kind')
        batch_op.drop_index('ix_complaints_description_trgm', postgresql_using='gin',
                            postgresql_ops={'description': 'gin_trgm_ops'})
    op.drop_table('official_days')
    op.drop_table('help_articles')
