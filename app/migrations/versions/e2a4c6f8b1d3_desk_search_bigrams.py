"""The queue's two-character search (issue 21): on PostgreSQL a GIN index over each complaint's
character bigrams (``desk_bigrams(description)``, an immutable SQL function), since pg_trgm
cannot use trigrams for a two-character term. SQLite: nothing (its search scans).

Revision ID: e2a4c6f8b1d3
Revises: c9d2e4f6a8b1
Create Date: 2026-12-06 03:50:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e2a4c6f8b1d3'
down_revision = 'c9d2e4f6a8b1'
branch_labels = None
depends_on = None

# as app/service_desk/models.py BIGRAMS_FUNCTION at this revision
BIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION desk_bigrams(body text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(folded, n, 2)), '{}'::text[])
    FROM lower(body) AS folded, generate_series(1, char_length(folded) - 1) AS n
$$"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(BIGRAMS_FUNCTION)
    op.execute("CREATE INDEX ix_complaints_description_bigrams ON complaints USING gin (desk_bigrams(description))")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_complaints_description_bigrams")
    op.execute("DROP FUNCTION desk_bigrams(text)")
