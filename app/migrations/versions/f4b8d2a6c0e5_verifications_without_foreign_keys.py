"""Verification records without foreign keys (issue 25): ``verifications.partner_id`` and
``card_id`` no longer reference ``partners`` and ``cards``. Every scan writes a record, and each
check locked the card's and the partner's row (``FOR KEY SHARE``; one partner row shared by every
concurrent batch) for ids the request had just read; neither table ever loses a row. On
PostgreSQL the partitioned table's constraints go with their partitions'; on SQLite the table is
copied without them (batch mode). The downgrade adds them back (checked against existing rows).

Revision ID: f4b8d2a6c0e5
Revises: b7e2c4a9d1f6
Create Date: 2026-12-06 13:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f4b8d2a6c0e5'
down_revision = 'b7e2c4a9d1f6'
branch_labels = None
depends_on = None

FOREIGN_KEYS = (('fk_verifications_card_id_cards', 'card_id', 'cards'),
                ('fk_verifications_partner_id_partners', 'partner_id', 'partners'))


def upgrade():
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        for name, _, _ in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_='foreignkey')


def downgrade():
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        for name, column, table in FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ['id'])
