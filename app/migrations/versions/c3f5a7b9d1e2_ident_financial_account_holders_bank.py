"""financial accounts: closed, not overwritten; the holder's consent to a bank (issue 15 item 11)

- financial_accounts: ``closed_at``, ``closed_reason``; the unique ``card_id`` becomes a partial
  unique index over open accounts (at most one open account per card, closed ones kept).
- financial_account_consents: the holder's SMS-confirmed consent that a bank may register.

Revision ID: c3f5a7b9d1e2
Revises: b2e4f6a8c0d1
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c3f5a7b9d1e2"
down_revision = "b2e4f6a8c0d1"
branch_labels = None
depends_on = None

OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("financial_accounts") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(length=200), nullable=True))
        batch.drop_constraint("uq_financial_accounts_card_id", type_="unique")
        batch.create_index("ix_financial_accounts_card_id", ["card_id"])
    op.create_index("uq_financial_accounts_open_card", "financial_accounts", ["card_id"], unique=True,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_table(
        "financial_account_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("bank_partner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bank_partner_id"], ["partners.id"],
                                name=op.f("fk_financial_account_consents_bank_partner_id_partners")),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_financial_account_consents_card_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financial_account_consents")),
    )
    op.create_index("ix_financial_account_consents_card_id", "financial_account_consents", ["card_id"])


def downgrade() -> None:
    """Closed accounts are deleted (the unique card_id comes back): only the open one per card stays."""
    op.drop_index("ix_financial_account_consents_card_id", table_name="financial_account_consents")
    op.drop_table("financial_account_consents")
    op.drop_index("uq_financial_accounts_open_card", table_name="financial_accounts")
    op.execute("DELETE FROM financial_accounts WHERE closed_at IS NOT NULL "
               "AND id NOT IN (SELECT financial_account_id FROM disbursements)")
    with op.batch_alter_table("financial_accounts") as batch:
        batch.drop_index("ix_financial_accounts_card_id")
        batch.create_unique_constraint("uq_financial_accounts_card_id", ["card_id"])
        batch.drop_column("closed_reason")
        batch.drop_column("closed_at")
