"""DGC2 offline codes (issue 16): offline_keys, offline_certificates, offline_lists

Revision ID: d7e1a4c9b2f0
Revises: a7c41e9d03f2
Create Date: 2026-12-05 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7e1a4c9b2f0'
down_revision = 'a7c41e9d03f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'offline_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('alg', sa.String(length=8), nullable=False),
        sa.Column('public_key', sa.String(length=64), nullable=False),
        sa.Column('private_enc', sa.String(length=200), nullable=False),
        sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
        sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_offline_keys')),
    )
    op.create_index('uq_offline_keys_single_role', 'offline_keys', ['role'], unique=True,
                    postgresql_where=sa.text("role IN ('root', 'deny')"), sqlite_where=sa.text("role IN ('root', 'deny')"))
    op.create_table(
        'offline_certificates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('serial', sa.String(length=16), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('kid', sa.Integer(), nullable=False),
        sa.Column('alg', sa.String(length=8), nullable=False),
        sa.Column('device_public_key', sa.String(length=64), nullable=False),
        sa.Column('scenes', sa.Integer(), nullable=False),
        sa.Column('fare_class', sa.Integer(), nullable=False),
        sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_offline_certificates_card_id_cards')),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_offline_certificates_device_id_devices')),
        sa.ForeignKeyConstraint(['kid'], ['offline_keys.id'], name=op.f('fk_offline_certificates_kid_offline_keys')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_offline_certificates')),
        sa.UniqueConstraint('serial', name=op.f('uq_offline_certificates_serial')),
    )
    op.create_index('ix_offline_certificates_device_expires', 'offline_certificates', ['device_id', 'expires_at'])
    op.create_index('ix_offline_certificates_card_expires', 'offline_certificates', ['card_id', 'expires_at'])
    op.create_index('ix_offline_certificates_revoked_expires', 'offline_certificates', ['revoked_at', 'expires_at'])
    op.create_table(
        'offline_lists',
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'version', name=op.f('pk_offline_lists')),
    )


def downgrade():
    op.drop_table('offline_lists')
    op.drop_index('ix_offline_certificates_revoked_expires', table_name='offline_certificates')
    op.drop_index('ix_offline_certificates_card_expires', table_name='offline_certificates')
    op.drop_index('ix_offline_certificates_device_expires', table_name='offline_certificates')
    op.drop_table('offline_certificates')
    op.drop_index('uq_offline_keys_single_role', table_name='offline_keys')
    op.drop_table('offline_keys')
