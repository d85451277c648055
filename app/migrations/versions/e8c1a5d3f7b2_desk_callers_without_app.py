"""Callers without the app (issue 21 item 3): a ticket's channel and the caller's verification,
and unbinding requests a supervisor decides; the service desk's notice outbox (item 6).

Revision ID: e8c1a5d3f7b2
Revises: a7e3c9d1b5f2
Create Date: 2026-12-06 01:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e8c1a5d3f7b2'
down_revision = 'a7e3c9d1b5f2'
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade():
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=8), server_default='app', nullable=False))
        batch_op.add_column(sa.Column('caller_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('caller_verified_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_complaints_caller_verified_by_staff'), 'staff',
                                    ['caller_verified_by'], ['id'])
    op.create_table('unbinding_requests',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('complaint_id', sa.Integer(), nullable=False),
                    sa.Column('citizen_id', sa.Integer(), nullable=False),
                    sa.Column('status', sa.String(length=16), nullable=False),
                    sa.Column('reason', sa.String(length=200), nullable=False),
                    sa.Column('requested_by', sa.Integer(), nullable=False),
                    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('decided_by', sa.Integer(), nullable=True),
                    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('accounts_ended', sa.Integer(), nullable=True),
                    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'],
                                            name=op.f('fk_unbinding_requests_complaint_id_complaints')),
                    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'],
                                            name=op.f('fk_unbinding_requests_citizen_id_citizens')),
                    sa.ForeignKeyConstraint(['requested_by'], ['staff.id'],
                                            name=op.f('fk_unbinding_requests_requested_by_staff')),
                    sa.ForeignKeyConstraint(['decided_by'], ['staff.id'],
                                            name=op.f('fk_unbinding_requests_decided_by_staff')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_unbinding_requests')))
    with op.batch_alter_table('unbinding_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unbinding_requests_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index('uq_unbinding_requests_pending', ['citizen_id'], unique=True,
                              postgresql_where=_PENDING, sqlite_where=_PENDING)

    op.create_table('desk_notices',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('complaint_id', sa.Integer(), nullable=False),
                    sa.Column('message_id', sa.Integer(), nullable=False),
                    sa.Column('account_id', sa.Integer(), nullable=False),
                    sa.Column('platform', sa.String(length=16), nullable=False),
                    sa.Column('template_id', sa.String(length=64), nullable=False),
                    sa.Column('event', sa.String(length=8), nullable=False),
                    sa.Column('status', sa.String(length=8), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.Column('last_error', sa.String(length=64), nullable=True),
                    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
                    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_desk_notices_complaint_id_complaints')),
                    sa.ForeignKeyConstraint(['message_id'], ['complaint_messages.id'],
                                            name=op.f('fk_desk_notices_message_id_complaint_messages')),
                    sa.ForeignKeyConstraint(['account_id'], ['mp_accounts.id'], name=op.f('fk_desk_notices_account_id_mp_accounts')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_notices')),
                    sa.UniqueConstraint('message_id', 'account_id', name=op.f('uq_desk_notices_message_id')))
    with op.batch_alter_table('desk_notices', schema=None) as batch_op:
        batch_op.create_index('ix_desk_notices_status_next', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    op.drop_table('desk_notices')
    with op.batch_alter_table('unbinding_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_unbinding_requests_pending')
        batch_op.drop_index(batch_op.f('ix_unbinding_requests_complaint_id'))
    op.drop_table('unbinding_requests')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_complaints_caller_verified_by_staff'), type_='foreignkey')
        batch_op.drop_column('caller_verified_by')
        batch_op.drop_column('caller_verified_at')
        batch_op.drop_column('channel')
