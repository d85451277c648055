"""Payment notices sent to the holder's mini-program (issue 22 item 6): the payments' outbox
(payment_notice_messages, driven by app.outbox.outbox) and payment_notices.queued_at. Notices
recorded before this revision are marked queued: they were shown in the app and are not sent late.

Revision ID: c1a5e9f3b7d2
Revises: e2a4c6f8b1d3
Create Date: 2026-12-06 03:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1a5e9f3b7d2'
down_revision = 'e2a4c6f8b1d3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('payment_notices', sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE payment_notices SET queued_at = created_at")
    op.create_index('ix_payment_notices_queued', 'payment_notices', ['queued_at', 'id'], unique=False)
    op.create_table('payment_notice_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=64), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['mp_accounts.id'], name=op.f('fk_payment_notice_messages_account_id_mp_accounts')),
    sa.ForeignKeyConstraint(['notice_id'], ['payment_notices.id'], name=op.f('fk_payment_notice_messages_notice_id_payment_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_notice_messages')),
    sa.UniqueConstraint('notice_id', 'account_id', name=op.f('uq_payment_notice_messages_notice_id'))
    )
    op.create_index('ix_payment_notice_messages_status_next', 'payment_notice_messages', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    op.drop_index('ix_payment_notice_messages_status_next', table_name='payment_notice_messages')
    op.drop_table('payment_notice_messages')
    op.drop_index('ix_payment_notices_queued', table_name='payment_notices')
    op.drop_column('payment_notices', 'queued_at')
