"""One card on several apps (issue 17 item 3): one bound account per citizen and platform, one
live e-card device per card and platform (devices.platform, backfilled from the bound account).

Revision ID: a7c3e5f9b2d4
Revises: f8b2d4e6a1c9
Create Date: 2026-12-05 22:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e5f9b2d4'
down_revision = 'f8b2d4e6a1c9'
branch_labels = None
depends_on = None

_LIVE = sa.text("revoked_at IS NULL")


def upgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sa.String(length=16), server_default='wechat', nullable=False))
    op.execute("UPDATE devices SET platform = (SELECT a.platform FROM mp_accounts a JOIN cards c ON c.citizen_id = a.citizen_id "
               "WHERE c.id = devices.card_id) WHERE EXISTS (SELECT 1 FROM mp_accounts a JOIN cards c "
               "ON c.citizen_id = a.citizen_id WHERE c.id = devices.card_id)")
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('uq_devices_active_card', postgresql_where=_LIVE, sqlite_where=_LIVE)
        batch_op.create_index('uq_devices_active_card_platform', ['card_id', 'platform'], unique=True,
                              postgresql_where=_LIVE, sqlite_where=_LIVE)
    with op.batch_alter_table('mp_accounts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_mp_accounts_citizen_id', type_='unique')
        batch_op.create_unique_constraint('uq_mp_accounts_citizen_platform', ['citizen_id', 'platform'])


def downgrade():
    with op.batch_alter_table('mp_accounts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_mp_accounts_citizen_platform', type_='unique')
        batch_op.create_unique_constraint('uq_mp_accounts_citizen_id', ['citizen_id'])
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('uq_devices_active_card_platform', postgresql_where=_LIVE, sqlite_where=_LIVE)
        batch_op.create_index('uq_devices_active_card', ['card_id'], unique=True,
                              postgresql_where=_LIVE, sqlite_where=_LIVE)
        batch_op.drop_column('platform')
