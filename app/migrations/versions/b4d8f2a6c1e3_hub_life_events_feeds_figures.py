"""The city data hub (issue 24, docs/data-hub.md): life events, corrections history, feeds and
their webhook outbox, daily figures, misuse cases and credit exports; citizens.town.

Revision ID: b4d8f2a6c1e3
Revises: d5e9f3a7b2c4
Create Date: 2026-12-06 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4d8f2a6c1e3'
down_revision = 'd5e9f3a7b2c4'
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('town', sa.String(length=32), nullable=True))
    op.create_table(
        'citizen_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('effects', sa.String(length=300), server_default='', nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_citizen_events_citizen_id_citizens')),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_citizen_events_partner_id_partners')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_citizen_events')),
        sa.UniqueConstraint('event_id', name=op.f('uq_citizen_events_event_id')),
    )
    op.create_index('ix_citizen_events_citizen_occurred', 'citizen_events', ['citizen_id', 'occurred_at'])
    op.create_table(
        'citizen_life',
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_event_id', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('card_ends_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_citizen_life_citizen_id_citizens')),
        sa.PrimaryKeyConstraint('citizen_id', name=op.f('pk_citizen_life')),
    )
    op.create_index('ix_citizen_life_status_ends', 'citizen_life', ['status', 'card_ends_at'])
    op.create_table(
        'citizen_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=16), nullable=False),
        sa.Column('old_value_enc', sa.String(length=300), nullable=False),
        sa.Column('old_index', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_citizen_corrections_citizen_id_citizens')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_citizen_corrections')),
    )
    op.create_index(op.f('ix_citizen_corrections_citizen_id'), 'citizen_corrections', ['citizen_id'])
    op.create_table(
        'feed_events',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('feed', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=48), nullable=True),
        sa.Column('bank_partner_id', sa.Integer(), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['bank_partner_id'], ['partners.id'], name=op.f('fk_feed_events_bank_partner_id_partners')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_events')),
        sa.UniqueConstraint('source', name=op.f('uq_feed_events_source')),
    )
    op.create_index('ix_feed_events_feed_id', 'feed_events', ['feed', 'id'])
    op.create_table(
        'feed_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('feed', sa.String(length=32), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_feed_subscriptions_partner_id_partners')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_subscriptions')),
        sa.UniqueConstraint('partner_id', 'feed', name=op.f('uq_feed_subscriptions_partner_id')),
    )
    op.create_table(
        'feed_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('feed_event_id', _BIG, nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=100), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['feed_event_id'], ['feed_events.id'], name=op.f('fk_feed_deliveries_feed_event_id_feed_events')),
        sa.ForeignKeyConstraint(['subscription_id'], ['feed_subscriptions.id'],
                                name=op.f('fk_feed_deliveries_subscription_id_feed_subscriptions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_deliveries')),
        sa.UniqueConstraint('subscription_id', 'feed_event_id', name=op.f('uq_feed_deliveries_subscription_id')),
    )
    op.create_index('ix_feed_deliveries_status_next', 'feed_deliveries', ['status', 'next_attempt_at'])
    op.create_table(
        'hub_cursors',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_hub_cursors')),
    )
    op.create_table(
        'daily_figures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('town', sa.String(length=32), nullable=False),
        sa.Column('department', sa.String(length=64), nullable=False),
        sa.Column('metric', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_daily_figures')),
        sa.UniqueConstraint('day', 'town', 'department', 'metric', 'key', name=op.f('uq_daily_figures_day')),
    )
    for name, table, column in _FIGURE_INDEXES:
        op.create_index(name, table, [column])
    op.create_table(
        'misuse_cases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_number', sa.String(length=24), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('flag_ids', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('opened_by', sa.Integer(), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('statement_enc', sa.Text(), nullable=True),
        sa.Column('decision_reason', sa.String(length=500), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('appeal_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('appeal_enc', sa.Text(), nullable=True),
        sa.Column('appeal_outcome', sa.String(length=500), nullable=True),
        sa.Column('final_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('repair_on', sa.Date(), nullable=True),
        sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('withdrawal_exported_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name=op.f('fk_misuse_cases_card_id_cards')),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_misuse_cases_citizen_id_citizens')),
        sa.ForeignKeyConstraint(['opened_by'], ['staff.id'], name=op.f('fk_misuse_cases_opened_by_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_misuse_cases')),
        sa.UniqueConstraint('case_number', name=op.f('uq_misuse_cases_case_number')),
    )
    op.create_index(op.f('ix_misuse_cases_card_id'), 'misuse_cases', ['card_id'])
    op.create_index('ix_misuse_cases_status', 'misuse_cases', ['status'])


_FIGURE_INDEXES = (("ix_cards_created_at", "cards", "created_at"), ("ix_carrier_events_created_at", "carrier_events", "created_at"),
                   ("ix_disbursements_settled_at", "disbursements", "settled_at"),
                   ("ix_complaints_created_at", "complaints", "created_at"), ("ix_complaints_closed_at", "complaints", "closed_at"))


def downgrade():
    for name, table, _column in _FIGURE_INDEXES:
        op.drop_index(name, table_name=table)
    for table in ('misuse_cases', 'daily_figures', 'hub_cursors', 'feed_deliveries', 'feed_subscriptions', 'feed_events',
                  'citizen_corrections', 'citizen_life', 'citizen_events'):
        op.drop_table(table)
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.drop_column('town')
