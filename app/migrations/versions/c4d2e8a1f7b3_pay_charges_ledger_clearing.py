"""Paying with the card (issue 22): charges, refunds, the append-only ledger, the daily totals
that count the per-card daily limit, clearing statements and their items, fare tables, payment notices.

Revision ID: c4d2e8a1f7b3
Revises: d1e5c0a7b3f2
Create Date: 2026-12-06 00:31:40.331915

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d2e8a1f7b3'
down_revision = 'd1e5c0a7b3f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('clearings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('reversed_fen', sa.BigInteger(), nullable=False),
    sa.Column('fee_fen', sa.BigInteger(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_clearings_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clearings')),
    sa.UniqueConstraint('party', 'partner_id', 'day', name=op.f('uq_clearings_party'))
    )
    op.create_table('fare_tables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('rules', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_fare_tables_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fare_tables')),
    sa.UniqueConstraint('partner_id', name=op.f('uq_fare_tables_partner_id'))
    )
    op.create_table('charge_day_totals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_charge_day_totals_card_id_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_day_totals')),
    sa.UniqueConstraint('card_id', 'day', name=op.f('uq_charge_day_totals_card_id'))
    )
    op.create_table('charges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_partner_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('verification_id', sa.String(length=32), nullable=False),
    sa.Column('scene', sa.String(length=32), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('financial_account_id', sa.Integer(), nullable=False),
    sa.Column('bank_partner_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.String(length=100), nullable=False),
    sa.Column('fare', sa.String(length=300), nullable=True),
    sa.Column('ride_entry_id', sa.String(length=32), nullable=True),
    sa.Column('ride_exit_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('declines', sa.Integer(), nullable=False),
    sa.Column('decline_reason', sa.String(length=200), nullable=True),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['bank_partner_id'], ['partners.id'], name=op.f('fk_charges_bank_partner_id_partners')),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_charges_card_id_cards')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_charges_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['financial_account_id'], ['financial_accounts.id'], name=op.f('fk_charges_financial_account_id_financial_accounts')),
    sa.ForeignKeyConstraint(['merchant_partner_id'], ['partners.id'], name=op.f('fk_charges_merchant_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charges')),
    sa.UniqueConstraint('merchant_partner_id', 'idempotency_key', name=op.f('uq_charges_merchant_partner_id'))
    )
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.create_index('ix_charges_bank_status', ['bank_partner_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_charges_card_ride_exit', ['card_id', 'ride_exit_at'], unique=False)
        batch_op.create_index('ix_charges_card_status', ['card_id', 'status'], unique=False)
        batch_op.create_index('ix_charges_citizen_created', ['citizen_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('uq_charges_ride_entry', ['ride_entry_id'], unique=True)
        batch_op.create_index('uq_charges_verification', ['verification_id'], unique=True)

    op.create_table('charge_refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('charge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['charge_id'], ['charges.id'], name=op.f('fk_charge_refunds_charge_id_charges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_refunds')),
    sa.UniqueConstraint('charge_id', 'idempotency_key', name=op.f('uq_charge_refunds_charge_id'))
    )
    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_key', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('charge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_partner_id', sa.Integer(), nullable=False),
    sa.Column('bank_partner_id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('merchant_fen', sa.BigInteger(), nullable=False),
    sa.Column('debt_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['charge_id'], ['charges.id'], name=op.f('fk_ledger_entries_charge_id_charges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_bank', ['bank_partner_id', 'id'], unique=False)
        batch_op.create_index('ix_ledger_entries_charge', ['charge_id'], unique=False)
        batch_op.create_index('ix_ledger_entries_merchant', ['merchant_partner_id', 'id'], unique=False)
        batch_op.create_index('uq_ledger_entries_event', ['event_key'], unique=True)

    op.create_table('payment_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['charge_id'], ['charges.id'], name=op.f('fk_payment_notices_charge_id_charges')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_payment_notices_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_notices')),
    sa.UniqueConstraint('charge_id', 'kind', name=op.f('uq_payment_notices_charge_id'))
    )
    with op.batch_alter_table('payment_notices', schema=None) as batch_op:
        batch_op.create_index('ix_payment_notices_citizen', ['citizen_id', 'id'], unique=False)

    op.create_table('clearing_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('party', sa.String(length=8), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger(), nullable=False),
    sa.Column('clearing_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clearing_items')),
    sa.UniqueConstraint('party', 'ledger_entry_id', name=op.f('uq_clearing_items_party'))
    )
    with op.batch_alter_table('clearing_items', schema=None) as batch_op:
        batch_op.create_index('ix_clearing_items_clearing', ['clearing_id'], unique=False)



def downgrade():
    with op.batch_alter_table('clearing_items', schema=None) as batch_op:
        batch_op.drop_index('ix_clearing_items_clearing')

    op.drop_table('clearing_items')
    with op.batch_alter_table('payment_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_notices_citizen')

    op.drop_table('payment_notices')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_ledger_entries_event')
        batch_op.drop_index('ix_ledger_entries_merchant')
        batch_op.drop_index('ix_ledger_entries_charge')
        batch_op.drop_index('ix_ledger_entries_bank')

    op.drop_table('ledger_entries')
    op.drop_table('charge_refunds')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index('uq_charges_verification')
        batch_op.drop_index('uq_charges_ride_entry')
        batch_op.drop_index('ix_charges_citizen_created')
        batch_op.drop_index('ix_charges_card_status')
        batch_op.drop_index('ix_charges_card_ride_exit')
        batch_op.drop_index('ix_charges_bank_status')

    op.drop_table('charges')
    op.drop_table('charge_day_totals')
    op.drop_table('fare_tables')
    op.drop_table('clearings')
