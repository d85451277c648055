"""Log in with the citizen card (M-20): an OpenID Connect provider built on Authlib.

Owns the relying parties (websites that let citizens log in with the card), the one-time login
requests a citizen confirms in the mini-program, authorization codes, access and refresh tokens,
and the consents that record each release of claims (docs/identity-provider.md).
"""
