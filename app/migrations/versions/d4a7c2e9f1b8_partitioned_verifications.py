"""verifications partitioned by the code's time step (issue 19 item 10): a `code_step` column (the
code's 30-s step; app/scanning/partitions.py), primary key (id, code_step), the one-time key unique
on (use_key, code_step); on PostgreSQL the table becomes PARTITION BY RANGE (code_step) with monthly
partitions and a default one. SQLite: the same columns and keys on a plain table.

Existing rows get their step from their use key (DGC1: the moving factor // 100; DGC2: the step of
its certificate's not_before, i.e. nbf) or, without one, from created_at.

Revision ID: d4a7c2e9f1b8
Revises: c8e2f4a6b1d3
Create Date: 2026-12-05 21:50:00.000000

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4a7c2e9f1b8'
down_revision = 'c8e2f4a6b1d3'
branch_labels = None
depends_on = None

MONTHS_AHEAD = 2  # as `citizencard partitions ensure`'s default: this month and the next two
COLUMNS = ("id", "partner_id", "terminal_id", "scene", "card_id", "accepted", "reason", "created_at", "use_key",
           "disclosed", "direction", "linked_verification_id", "carrier", "code_hash")

# The step of a row (PostgreSQL), `c` the certificate of a DGC2 use key (outer join).
PG_STEP = """CASE
  WHEN v.use_key LIKE 'dgc2:%' AND c.not_before IS NOT NULL THEN floor(extract(epoch FROM c.not_before) / 30)::bigint
  WHEN v.use_key IS NOT NULL AND v.use_key NOT LIKE 'dgc2:%' THEN split_part(v.use_key, ':', 2)::bigint / 100
  ELSE floor(extract(epoch FROM v.created_at) / 30)::bigint END"""
PG_SOURCE = ("verifications_unpartitioned v LEFT JOIN offline_certificates c "
             "ON v.use_key LIKE 'dgc2:%' AND c.serial = split_part(v.use_key, ':', 2)")
SQLITE_STEP = """CASE
  WHEN use_key LIKE 'dgc2:%' THEN coalesce(
    (SELECT CAST(strftime('%s', c.not_before) AS INTEGER) / 30 FROM offline_certificates c WHERE c.serial = substr(use_key, 6, 16)),
    CAST(strftime('%s', created_at) AS INTEGER) / 30)
  WHEN use_key IS NOT NULL THEN CAST(substr(use_key, instr(use_key, ':') + 1) AS INTEGER) / 100
  ELSE CAST(strftime('%s', created_at) AS INTEGER) / 30 END"""


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _upgrade_postgresql()
        return
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_step', sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE verifications SET code_step = {SQLITE_STEP}")
    with op.batch_alter_table('verifications', schema=None, recreate='always') as batch_op:
        batch_op.alter_column('code_step', existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_constraint('uq_verifications_use_key', type_='unique')
        batch_op.drop_constraint('pk_verifications', type_='primary')
        batch_op.create_primary_key('pk_verifications', ['id', 'code_step'])
        batch_op.create_index('uq_verifications_use_key_step', ['use_key', 'code_step'], unique=True)


def _columns():
    return [
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('terminal_id', sa.String(length=64), nullable=False),
        sa.Column('scene', sa.String(length=32), nullable=False),
        sa.Column('card_id', sa.Integer(), nullable=True),
        sa.Column('accepted', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('use_key', sa.String(length=40), nullable=True),
        sa.Column('disclosed', sa.String(length=300), nullable=True),
        sa.Column('direction', sa.String(length=8), nullable=True),
        sa.Column('linked_verification_id', sa.String(length=32), nullable=True),
        sa.Column('carrier', sa.String(length=8), server_default='ecard', nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
    ]


def _month_steps(year, month):
    low = int(datetime(year, month, 1, tzinfo=UTC).timestamp()) // 30
    year2, month2 = year + month // 12, month % 12 + 1
    return low, int(datetime(year2, month2, 1, tzinfo=UTC).timestamp()) // 30


def _upgrade_postgresql():
    op.execute("ALTER TABLE verifications RENAME TO verifications_unpartitioned")
    for old in ('pk_verifications', 'uq_verifications_use_key'):
        op.execute(f"ALTER TABLE verifications_unpartitioned RENAME CONSTRAINT {old} TO {old}_old")
    for old in ('ix_verifications_card_created', 'ix_verifications_created'):
        op.execute(f"ALTER INDEX {old} RENAME TO {old}_old")
    for old in ('fk_verifications_card_id_cards', 'fk_verifications_partner_id_partners'):
        op.execute(f"ALTER TABLE verifications_unpartitioned DROP CONSTRAINT {old}")
    op.create_table(
        'verifications', *_columns(),
        sa.Column('code_step', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name='fk_verifications_card_id_cards'),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_verifications_partner_id_partners'),
        sa.PrimaryKeyConstraint('id', 'code_step', name='pk_verifications'),
        postgresql_partition_by='RANGE (code_step)',
    )
    op.create_index('uq_verifications_use_key_step', 'verifications', ['use_key', 'code_step'], unique=True)
    op.create_index('ix_verifications_card_created', 'verifications', ['card_id', 'created_at'])
    op.create_index('ix_verifications_created', 'verifications', ['created_at', 'id'])
    op.execute("CREATE TABLE verifications_default PARTITION OF verifications DEFAULT")
    bind = op.get_bind()
    months = set(bind.execute(sa.text(
        f"SELECT DISTINCT extract(year FROM to_timestamp(s * 30) AT TIME ZONE 'UTC')::int, "
        f"extract(month FROM to_timestamp(s * 30) AT TIME ZONE 'UTC')::int "
        f"FROM (SELECT {PG_STEP} AS s FROM {PG_SOURCE}) steps")).all())
    now = datetime.now(UTC)
    for ahead in range(MONTHS_AHEAD + 1):
        index = now.year * 12 + now.month - 1 + ahead
        months.add((index // 12, index % 12 + 1))
    for year, month in sorted(months):
        low, high = _month_steps(year, month)
        op.execute(f"CREATE TABLE verifications_p{year:04d}{month:02d} PARTITION OF verifications "
                   f"FOR VALUES FROM ({low}) TO ({high})")
    names = ", ".join(COLUMNS)
    selected = ", ".join(f"v.{name}" for name in COLUMNS)
    op.execute(f"INSERT INTO verifications ({names}, code_step) SELECT {selected}, {PG_STEP} FROM {PG_SOURCE}")
    op.execute("DROP TABLE verifications_unpartitioned")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _downgrade_postgresql()
        return
    with op.batch_alter_table('verifications', schema=None, recreate='always') as batch_op:
        batch_op.drop_index('uq_verifications_use_key_step')
        batch_op.drop_constraint('pk_verifications', type_='primary')
        batch_op.create_primary_key('pk_verifications', ['id'])
        batch_op.create_unique_constraint('uq_verifications_use_key', ['use_key'])
        batch_op.drop_column('code_step')


def _downgrade_postgresql():
    op.execute("ALTER TABLE verifications RENAME TO verifications_partitioned")
    for old in ('ix_verifications_card_created', 'ix_verifications_created', 'uq_verifications_use_key_step'):
        op.execute(f"ALTER INDEX {old} RENAME TO {old}_old")
    op.execute("ALTER TABLE verifications_partitioned RENAME CONSTRAINT pk_verifications TO pk_verifications_old")
    for old in ('fk_verifications_card_id_cards', 'fk_verifications_partner_id_partners'):
        op.execute(f"ALTER TABLE verifications_partitioned DROP CONSTRAINT {old}")
    op.create_table(
        'verifications', *_columns(),
        sa.ForeignKeyConstraint(['card_id'], ['cards.id'], name='fk_verifications_card_id_cards'),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_verifications_partner_id_partners'),
        sa.PrimaryKeyConstraint('id', name='pk_verifications'),
        sa.UniqueConstraint('use_key', name='uq_verifications_use_key'),
    )
    op.create_index('ix_verifications_card_created', 'verifications', ['card_id', 'created_at'])
    op.create_index('ix_verifications_created', 'verifications', ['created_at', 'id'])
    names = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO verifications ({names}) SELECT {names} FROM verifications_partitioned")
    op.execute("DROP TABLE verifications_partitioned")  # its partitions go with it
