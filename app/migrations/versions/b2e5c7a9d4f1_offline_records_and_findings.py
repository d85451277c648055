"""offline_records and offline_findings: DGC2 record upload and the replay/clone detector (issue 16)

Revision ID: b2e5c7a9d4f1
Revises: d7e1a4c9b2f0
Create Date: 2026-12-05 19:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b2e5c7a9d4f1'
down_revision = 'd7e1a4c9b2f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'offline_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), sa.ForeignKey('partners.id'), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('terminal_id', sa.String(length=64), nullable=False),
        sa.Column('scene', sa.String(length=32), nullable=False),
        sa.Column('serial', sa.String(length=16), nullable=True),
        sa.Column('ctr', sa.Integer(), nullable=True),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
        sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('verification_id', sa.String(length=32), nullable=True),
        sa.Column('subject_enc', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_offline_records_partner_record', 'offline_records', ['partner_id', 'record_id'], unique=True)
    op.create_index('ix_offline_records_serial_ctr', 'offline_records', ['serial', 'ctr'])
    op.create_index('ix_offline_records_verification', 'offline_records', ['verification_id'])
    op.create_table(
        'offline_findings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), sa.ForeignKey('partners.id'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('serial', sa.String(length=16), nullable=False),
        sa.Column('ctr', sa.Integer(), nullable=False),
        sa.Column('record_ids', sa.String(length=200), nullable=False),
        sa.Column('lag_seconds', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_offline_findings_partner', 'offline_findings', ['partner_id', 'id'])


def downgrade():
    op.drop_index('ix_offline_findings_partner', table_name='offline_findings')
    op.drop_table('offline_findings')
    op.drop_index('ix_offline_records_verification', table_name='offline_records')
    op.drop_index('ix_offline_records_serial_ctr', table_name='offline_records')
    op.drop_index('uq_offline_records_partner_record', table_name='offline_records')
    op.drop_table('offline_records')
