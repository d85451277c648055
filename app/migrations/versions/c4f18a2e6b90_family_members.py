"""Family members and printed codes (issue 18, M-15): family_members (quota slots under unique partial
indexes) and printed_codes (one live per card).

Revision ID: c4f18a2e6b90
Revises: b5d1e3f7a9c2
Create Date: 2026-12-06 00:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4f18a2e6b90'
down_revision = 'b5d1e3f7a9c2'
branch_labels = None
depends_on = None

_LIVE = sa.text("removed_at IS NULL")


def upgrade():
    op.create_table(
        'family_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('guardian_citizen_id', sa.Integer(), nullable=False),
        sa.Column('member_citizen_id', sa.Integer(), nullable=False),
        sa.Column('relation', sa.String(length=16), nullable=False),
        sa.Column('category', sa.String(length=8), nullable=False),
        sa.Column('guardian_slot', sa.Integer(), nullable=False),
        sa.Column('member_slot', sa.Integer(), nullable=False),
        sa.Column('minor', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('added_by', sa.String(length=64), nullable=False),
        sa.Column('confirmed_by', sa.String(length=64), nullable=True),
        sa.Column('share_benefits', sa.Boolean(), nullable=False),
        sa.Column('share_history', sa.Boolean(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('removed_by', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_family_members_device_id_devices')),
        sa.ForeignKeyConstraint(['guardian_citizen_id'], ['citizens.id'], name=op.f('fk_family_members_guardian_citizen_id_citizens')),
        sa.ForeignKeyConstraint(['member_citizen_id'], ['citizens.id'], name=op.f('fk_family_members_member_citizen_id_citizens')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_family_members')),
        sa.UniqueConstraint('device_id', name=op.f('uq_family_members_device_id')),
    )
    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_members_member_citizen_id'), ['member_citizen_id'], unique=False)
        batch_op.create_index('uq_family_members_guardian_slot', ['guardian_citizen_id', 'category', 'guardian_slot'],
                              unique=True, postgresql_where=_LIVE, sqlite_where=_LIVE)
        batch_op.create_index('uq_family_members_member_slot', ['member_citizen_id', 'member_slot'],
                              unique=True, postgresql_where=_LIVE, sqlite_where=_LIVE)
        batch_op.create_index('uq_family_members_pair', ['guardian_citizen_id', 'member_citizen_id'],
                              unique=True, postgresql_where=_LIVE, sqlite_where=_LIVE)


    op.create_table(
        'printed_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('serial', sa.String(length=16), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('kid', sa.Integer(), nullable=False),
        sa.Column('scenes', sa.Integer(), nullable=False),
        sa.Column('fare_class', sa.Integer(), nullable=False),
        sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('issued_by', sa.String(length=64), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_by', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_printed_codes_card_id_cards')),
        sa.ForeignKeyConstraint(['kid'], ['offline_keys.id'], name=op.f('fk_printed_codes_kid_offline_keys')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_printed_codes')),
        sa.UniqueConstraint('serial', name=op.f('uq_printed_codes_serial')),
    )
    with op.batch_alter_table('printed_codes', schema=None) as batch_op:
        batch_op.create_index('ix_printed_codes_revoked_expires', ['revoked_at', 'expires_at'], unique=False)
        batch_op.create_index('uq_printed_codes_live_card', ['card_id'], unique=True,
                              postgresql_where=sa.text("revoked_at IS NULL"), sqlite_where=sa.text("revoked_at IS NULL"))


def downgrade():
    op.drop_table('printed_codes')
    op.drop_table('family_members')
