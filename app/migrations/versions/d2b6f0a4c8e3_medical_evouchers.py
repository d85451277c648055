"""The medical-insurance e-voucher reference (issue 22 item 7): medical_evouchers, the bureau's
latest report per citizen, the reference encrypted at rest (null: withdrawn).

Revision ID: d2b6f0a4c8e3
Revises: c1a5e9f3b7d2
Create Date: 2026-12-06 04:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd2b6f0a4c8e3'
down_revision = 'c1a5e9f3b7d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('medical_evouchers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('bureau_partner_id', sa.Integer(), nullable=False),
    sa.Column('reference_enc', sa.Text(), nullable=True),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bureau_partner_id'], ['partners.id'], name=op.f('fk_medical_evouchers_bureau_partner_id_partners')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_medical_evouchers_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_evouchers')),
    sa.UniqueConstraint('citizen_id', name=op.f('uq_medical_evouchers_citizen_id'))
    )


def downgrade():
    op.drop_table('medical_evouchers')
