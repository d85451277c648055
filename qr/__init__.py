"""The dynamic e-card code: payload format, TOTP, replay guard, rendering (docs/qr-format.md).

Pure Python: no Flask, no SQLAlchemy, no imports from ``app``.
"""
