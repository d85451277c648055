"""devices.token_digest: the session a seed copy was handed to (issue 15 item 12)

Revision ID: b2e4f6a8c0d1
Revises: a1d3e5f7b9c2
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b2e4f6a8c0d1"
down_revision = "a1d3e5f7b9c2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("token_digest", sa.String(length=64), nullable=True))
    op.create_index("ix_devices_token_digest", "devices", ["token_digest"])


def downgrade() -> None:
    op.drop_index("ix_devices_token_digest", table_name="devices")
    op.drop_column("devices", "token_digest")
