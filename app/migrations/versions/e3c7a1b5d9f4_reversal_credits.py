"""Telling the bank of voids and refunds (issue 22 item 3): reversal_credits, the bank's
confirmation per reversal ledger entry that it credited its customer back.

Revision ID: e3c7a1b5d9f4
Revises: d2b6f0a4c8e3
Create Date: 2026-12-06 04:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3c7a1b5d9f4'
down_revision = 'd2b6f0a4c8e3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reversal_credits',
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bank_partner_id', sa.Integer(), nullable=False),
    sa.Column('credited_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_partner_id'], ['partners.id'], name=op.f('fk_reversal_credits_bank_partner_id_partners')),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_reversal_credits_ledger_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('ledger_entry_id', name=op.f('pk_reversal_credits'))
    )


def downgrade():
    op.drop_table('reversal_credits')
