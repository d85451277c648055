"""Paying with the card, proxies and the payment deny list (issue 22): a family entry's switch
letting the guardian's proxy codes be charged (app.card.proxy_charges; off by default), and the
card's debt for declined charges (kept by app.money.ledger.append).

Revision ID: b7e3f1a9c2d4
Revises: a7f3c9e1b2d4
Create Date: 2026-12-06 01:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3f1a9c2d4'
down_revision = 'a7f3c9e1b2d4'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('family_members', sa.Column('proxy_charges', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('cards', sa.Column('payment_debt_fen', sa.BigInteger(), server_default='0', nullable=False))
    # the debts of charges declined before this revision
    op.execute("UPDATE cards SET payment_debt_fen = d.fen FROM (SELECT card_id, sum(debt_fen) AS fen FROM ledger_entries "
               "GROUP BY card_id HAVING sum(debt_fen) <> 0) d WHERE d.card_id = cards.id")


def downgrade():
    op.drop_column('cards', 'payment_debt_fen')
    op.drop_column('family_members', 'proxy_charges')
