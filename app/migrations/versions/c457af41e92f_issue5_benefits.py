"""benefits: financial accounts, disbursements, medical insurance, notifications

Revision ID: c457af41e92f
Revises: e0a3e9738a57
Create Date: 2026-11-29 08:59:57.839526

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c457af41e92f'
down_revision = 'e0a3e9738a57'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('disbursement_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('batch_reference', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['partners.id'], name=op.f('fk_disbursement_batches_department_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursement_batches')),
    sa.UniqueConstraint('department_id', 'batch_reference', name=op.f('uq_disbursement_batches_department_id'))
    )
    op.create_table('medical_insurance_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('bureau_partner_id', sa.Integer(), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bureau_partner_id'], ['partners.id'], name=op.f('fk_medical_insurance_accounts_bureau_partner_id_partners')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_medical_insurance_accounts_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_insurance_accounts')),
    sa.UniqueConstraint('citizen_id', name=op.f('uq_medical_insurance_accounts_citizen_id'))
    )
    op.create_table('financial_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('bank_partner_id', sa.Integer(), nullable=False),
    sa.Column('account_number_enc', sa.String(length=200), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_partner_id'], ['partners.id'], name=op.f('fk_financial_accounts_bank_partner_id_partners')),
    sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_financial_accounts_card_id_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_financial_accounts')),
    sa.UniqueConstraint('card_id', name=op.f('uq_financial_accounts_card_id'))
    )
    op.create_table('notification_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['mp_accounts.id'], name=op.f('fk_notification_subscriptions_account_id_mp_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_subscriptions')),
    sa.UniqueConstraint('account_id', 'template_id', name=op.f('uq_notification_subscriptions_account_id'))
    )
    op.create_table('disbursements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('line_reference', sa.String(length=64), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('financial_account_id', sa.Integer(), nullable=False),
    sa.Column('bank_partner_id', sa.Integer(), nullable=False),
    sa.Column('benefit_type', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('return_reason', sa.String(length=200), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['disbursement_batches.id'], name=op.f('fk_disbursements_batch_id_disbursement_batches')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_disbursements_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['financial_account_id'], ['financial_accounts.id'], name=op.f('fk_disbursements_financial_account_id_financial_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursements')),
    sa.UniqueConstraint('department_id', 'line_reference', name=op.f('uq_disbursements_department_id'))
    )
    with op.batch_alter_table('disbursements', schema=None) as batch_op:
        batch_op.create_index('ix_disbursements_bank_status', ['bank_partner_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_disbursements_batch_status', ['batch_id', 'status'], unique=False)
        batch_op.create_index('ix_disbursements_citizen_posted', ['citizen_id', 'posted_at', 'id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('disbursement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_errcode', sa.Integer(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['mp_accounts.id'], name=op.f('fk_notifications_account_id_mp_accounts')),
    sa.ForeignKeyConstraint(['disbursement_id'], ['disbursements.id'], name=op.f('fk_notifications_disbursement_id_disbursements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('disbursement_id', name=op.f('uq_notifications_disbursement_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_status_next', ['status', 'next_attempt_at'], unique=False)



def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_status_next')

    op.drop_table('notifications')
    with op.batch_alter_table('disbursements', schema=None) as batch_op:
        batch_op.drop_index('ix_disbursements_citizen_posted')
        batch_op.drop_index('ix_disbursements_batch_status')
        batch_op.drop_index('ix_disbursements_bank_status')

    op.drop_table('disbursements')
    op.drop_table('notification_subscriptions')
    op.drop_table('financial_accounts')
    op.drop_table('medical_insurance_accounts')
    op.drop_table('disbursement_batches')
