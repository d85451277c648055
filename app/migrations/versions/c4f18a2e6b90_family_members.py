"""Family members (issue 18, M-15): family_members with quota slots under unique partial indexes.

Revision ID: c4f18a2e6b90
Revises: a7c3e5f9b2d4
Create Date: 2026-12-06 00:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4f18a2e6b90'
down_revision = 'a7c3e5f9b2d4'
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


def downgrade():
    op.drop_table('family_members')
