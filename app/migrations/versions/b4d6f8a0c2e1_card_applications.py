"""E-card applications of residents off the roster (issue 17 item 1, M-5): card_applications,
at most one open application per account and per document (partial unique indexes).

Revision ID: b4d6f8a0c2e1
Revises: c4f18a2e6b90
Create Date: 2026-12-06 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4d6f8a0c2e1'
down_revision = 'c4f18a2e6b90'
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('pending', 'more_info')")


def upgrade():
    op.create_table(
        'card_applications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=24), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('document_type', sa.String(length=32), nullable=False),
        sa.Column('document_checked', sa.Boolean(), nullable=False),
        sa.Column('document_index', sa.String(length=64), nullable=False),
        sa.Column('document_enc', sa.String(length=300), nullable=False),
        sa.Column('permit_enc', sa.String(length=300), nullable=True),
        sa.Column('name_enc', sa.String(length=300), nullable=False),
        sa.Column('phone_enc', sa.String(length=200), nullable=False),
        sa.Column('address_enc', sa.String(length=1000), nullable=True),
        sa.Column('employer_enc', sa.String(length=1000), nullable=True),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('question', sa.Text(), nullable=True),
        sa.Column('answer_enc', sa.Text(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('refusal_reason', sa.String(length=500), nullable=True),
        sa.Column('assurance', sa.String(length=16), nullable=True),
        sa.Column('citizen_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['mp_accounts.id']),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id']),
        sa.ForeignKeyConstraint(['decided_by'], ['staff.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('reference'),
    )
    with op.batch_alter_table('card_applications', schema=None) as batch_op:
        batch_op.create_index('ix_card_applications_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_card_applications_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('uq_card_applications_open_account', ['account_id'], unique=True,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)
        batch_op.create_index('uq_card_applications_open_document', ['document_index'], unique=True,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)


    op.create_index('ix_audit_records_ticket_number', 'audit_records', ['ticket_number'], unique=False)


def downgrade():
    op.drop_index('ix_audit_records_ticket_number', table_name='audit_records')
    op.drop_table('card_applications')
