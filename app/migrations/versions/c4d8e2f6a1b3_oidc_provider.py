"""The OpenID Connect provider (issue 23, M-20): relying parties, consents, codes, tokens.

Revision ID: c4d8e2f6a1b3
Revises: b4d6f8a0c2e1
Create Date: 2026-12-06 00:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4d8e2f6a1b3'
down_revision = 'b4d6f8a0c2e1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'oidc_relying_parties',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=40), nullable=False),
        sa.Column('secret_digest', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('scopes', sa.String(length=300), nullable=False),
        sa.Column('redirect_uris', sa.Text(), nullable=False),
        sa.Column('logout_uri', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id'),
    )
    op.create_table(
        'oidc_consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('rp_id', sa.Integer(), nullable=False),
        sa.Column('sub', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.String(length=300), nullable=False),
        sa.Column('claims', sa.String(length=300), nullable=False),
        sa.Column('acr', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['mp_accounts.id']),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id']),
        sa.ForeignKeyConstraint(['rp_id'], ['oidc_relying_parties.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_oidc_consents_citizen', 'oidc_consents', ['citizen_id', 'created_at'])
    op.create_index('ix_oidc_consents_sub', 'oidc_consents', ['sub'])
    op.create_table(
        'oidc_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('rp_id', sa.Integer(), nullable=False),
        sa.Column('consent_id', sa.Integer(), nullable=False),
        sa.Column('redirect_uri', sa.String(length=500), nullable=False),
        sa.Column('scope', sa.String(length=300), nullable=False),
        sa.Column('nonce', sa.String(length=255), nullable=True),
        sa.Column('code_challenge', sa.String(length=128), nullable=False),
        sa.Column('auth_time', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['consent_id'], ['oidc_consents.id']),
        sa.ForeignKeyConstraint(['rp_id'], ['oidc_relying_parties.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('digest'),
    )
    op.create_table(
        'oidc_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('access_digest', sa.String(length=64), nullable=False),
        sa.Column('refresh_digest', sa.String(length=64), nullable=True),
        sa.Column('rp_id', sa.Integer(), nullable=False),
        sa.Column('consent_id', sa.Integer(), nullable=False),
        sa.Column('grant_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=300), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('refresh_expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['consent_id'], ['oidc_consents.id']),
        sa.ForeignKeyConstraint(['grant_id'], ['oidc_codes.id']),
        sa.ForeignKeyConstraint(['rp_id'], ['oidc_relying_parties.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('access_digest'),
        sa.UniqueConstraint('refresh_digest'),
    )
    op.create_index('ix_oidc_tokens_consent', 'oidc_tokens', ['consent_id'])
    op.create_index('ix_oidc_tokens_grant', 'oidc_tokens', ['grant_id'])


def downgrade():
    op.drop_table('oidc_tokens')
    op.drop_table('oidc_codes')
    op.drop_index('ix_oidc_consents_sub', table_name='oidc_consents')
    op.drop_index('ix_oidc_consents_citizen', table_name='oidc_consents')
    op.drop_table('oidc_consents')
    op.drop_table('oidc_relying_parties')
