"""bank_reports.digest: blank the unkeyed SHA-256 digests (issue 15 item 4)

New rows carry an HMAC under the blind-index key (app.card.bank_reports.body_digest). The old
digests are plain SHA-256 of bodies whose only unknown may be a phone number, so they are
removed; a retry of such a report replays its first answer without the body comparison.

Revision ID: a1d3e5f7b9c2
Revises: c3f5a7b90003
Create Date: 2026-12-05
"""
from __future__ import annotations

from alembic import op

revision = "a1d3e5f7b9c2"
down_revision = "c3f5a7b90003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE bank_reports SET digest = '' WHERE length(digest) = 64")


def downgrade() -> None:
    """Nothing to restore: the unkeyed digests are gone on purpose (blank digests still replay)."""
