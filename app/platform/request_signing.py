"""The partner request signature ``CC-HMAC-SHA256`` (docs/partner-api.md §Signing), as pure
functions: the string to sign, the signature and the complete ``Authorization`` header.

``signature = base64(HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n))``. Used by the
partner API's verification (scenes/signing.py) and by our own signed calls to partners (the data
hub's feeds, app/hub/feeds.py; the demo); it knows no partner, store or request.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

SCHEME = "CC-HMAC-SHA256"


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n`` as bytes (each part ends with a newline)."""
    return b"".join(part + b"\n" for part in (method.encode(), path.encode(), timestamp.encode(), nonce.encode(), body))


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 signature a partner sends (also used by our demo and tests)."""
    digest = hmac.new(secret.encode(), string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def authorization_header(partner_id: str, secret: str, method: str, path: str, body: bytes, timestamp: int, nonce: str) -> str:
    """A complete ``Authorization`` header value for a request: ``CC-HMAC-SHA256 partner_id="…",
    timestamp="…",nonce="…",signature="…"`` (``timestamp`` Unix seconds, ``nonce`` 8-64 of
    ``[A-Za-z0-9_-]``, single-use)."""
    signature = sign(secret, method, path, str(timestamp), nonce, body)
    return f'{SCHEME} partner_id="{partner_id}",timestamp="{timestamp}",nonce="{nonce}",signature="{signature}"'
