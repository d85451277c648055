"""Benefit notices on the shared outbox (app.outbox.outbox): ``notifications`` gains ``platform``
(every row so far is WeChat's) and keeps a platform's refusal as ``last_error`` (``wechat:43101``)
instead of ``last_errcode``, the columns the outbox drives.

Revision ID: b7e2c4a9d1f6
Revises: e3c7a1b5d9f4
Create Date: 2026-12-06 10:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e2c4a9d1f6'
down_revision = 'e3c7a1b5d9f4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sa.String(length=16), nullable=False, server_default='wechat'))
        batch_op.add_column(sa.Column('last_error', sa.String(length=64), nullable=True))
    op.execute("UPDATE notifications SET last_error = 'wechat:' || CAST(last_errcode AS VARCHAR(16)) "
               "WHERE last_errcode IS NOT NULL")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('platform', server_default=None)
        batch_op.drop_column('last_errcode')


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_errcode', sa.Integer(), nullable=True))
    # Only WeChat's numeric codes go back; anything else was never written by the old runner.
    op.execute("UPDATE notifications SET last_errcode = CAST(SUBSTR(last_error, 8) AS INTEGER) "
               "WHERE last_error LIKE 'wechat:%'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('last_error')
        batch_op.drop_column('platform')
