"""Field encryption at rest and blind indexes (M-19).

Ciphertexts are text: ``<key id>$<base64(nonce || AES-256-GCM ciphertext+tag)>``. The key id
lets keys rotate: the first key of ``CARD_DATA_KEYS`` encrypts, every listed key decrypts. The
column's purpose (e.g. ``"resident.id_number"``) is bound in as associated data, so a value
copied into another column does not decrypt.

A blind index is ``HMAC-SHA256(CARD_BLIND_INDEX_KEY, purpose || 0x00 || value)`` in hex: equal
values give equal indexes, so a unique index and a look-up work without the plaintext.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

NONCE_BYTES = 12
# The shape of a data-key id (``keys rotate`` makes ``k`` + 6 hex digits; the development key is
# ``dev1``): a letter, then letters, digits or ``_``. The text before ``$`` of a stored value that
# is not this shape (a phone number stored unencrypted by mistake) is never printed.
KEY_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


def shown_key_id(key_id: str) -> str:
    """``key_id`` quoted for a message if it has the :data:`KEY_ID` shape; else a placeholder that shows nothing of it."""
    return f"'{key_id}'" if KEY_ID.fullmatch(key_id) else "(an id of unexpected characters, not shown)"


class KeyringError(ValueError):
    """A key list that cannot be used, or a ciphertext that no listed key opens."""


def parse_key_list(setting: str, name: str = "CARD_DATA_KEYS", noun: str = "data key") -> dict[str, bytes]:
    """``"k2:BASE64,k1:BASE64"`` -> {key id: key bytes}, in order (the first is the current key).

    Error messages name a key by its position, never by its text (it may be the key itself)."""
    keys: dict[str, bytes] = {}
    for position, item in enumerate(filter(None, (part.strip() for part in setting.split(","))), start=1):
        key_id, _, encoded = item.partition(":")
        if key_id in keys:
            raise KeyringError(f"{noun} {position} repeats an earlier key id")
        try:
            keys[key_id] = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise KeyringError(f"{noun} {position} is not 'id:base64'") from None
    if not keys:
        raise KeyringError(f"{name} lists no key")
    return keys


class Keyring:
    """AES-256-GCM keys by id; ``current`` encrypts, all decrypt."""

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        for position, (key_id, key) in enumerate(keys.items(), start=1):
            if len(key) != 32 or not KEY_ID.fullmatch(key_id):
                raise KeyringError(f"data key {position} must be 'id:base64(32 bytes)' with an id of a letter, then letters, "
                                   "digits, _ (at most 32)")
        if current not in keys:
            raise KeyringError("current data key id is not in the key list")
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current

    @classmethod
    def from_setting(cls, setting: str) -> Keyring:
        """Parse ``"k2:BASE64,k1:BASE64"`` (first = current) as in ``CARD_DATA_KEYS``.

        Error messages name a key by its position, never by its text (it may be the key itself).
        """
        keys = parse_key_list(setting)
        return cls(keys, next(iter(keys)))

    def has_key(self, key_id: str) -> bool:
        """Whether ``key_id`` is listed (the id only: never the key)."""
        return key_id in self._aead

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Encrypt ``plaintext`` for the column ``purpose``; returns ``"<key id>$<base64>"``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{self.current}${base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, purpose: str) -> str:
        """Open a value made by :meth:`encrypt` for the same ``purpose``; raises KeyringError, whose
        message shows the value's key id only if it has the :data:`KEY_ID` shape (it is logged)."""
        key_id, _, encoded = ciphertext.partition("$")
        aead = self._aead.get(key_id)
        if aead is None:
            raise KeyringError(f"no data key with id {shown_key_id(key_id)}")
        blob = base64.b64decode(encoded)
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], purpose.encode()).decode()
        except Exception as exc:  # InvalidTag: wrong key, wrong purpose or tampered
            raise KeyringError("ciphertext does not open") from exc


class BlindIndex:
    """Keyed, deterministic look-up values for encrypted columns."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise KeyringError("the blind-index key must be at least 32 bytes")
        self._key = key

    def __call__(self, value: str, purpose: str) -> str:
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.digest(self._key, message, "sha256").hex()  # one-shot: the same value as hmac.new(...).hexdigest(), faster


def token_digest(token: str) -> str:
    """SHA-256 hex of a bearer token: tokens are stored only as digests."""
    return hashlib.sha256(token.encode()).hexdigest()


class SigningKeys:
    """Ed25519 signing keys by id (``CARD_AUDIT_KEYS``: ``id:base64(32-byte private key)``, the
    same list shape as ``CARD_DATA_KEYS``): the first signs, every listed key verifies."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        for position, (key_id, key) in enumerate(keys.items(), start=1):
            if len(key) != 32 or not KEY_ID.fullmatch(key_id):
                raise KeyringError(f"signing key {position} must be 'id:base64(32 bytes)' with an id of a letter, then "
                                   "letters, digits, _ (at most 32)")
        self._private = {key_id: Ed25519PrivateKey.from_private_bytes(key) for key_id, key in keys.items()}
        self.current = next(iter(keys))
        # libsodium's form of the current key (seed || public key): it signs in 29 µs against OpenSSL's
        # 54 µs here, and every partner answer is signed (Ed25519 is deterministic: the same bytes)
        self._signing = crypto_sign_seed_keypair(keys[self.current])[1]

    @classmethod
    def from_setting(cls, setting: str, name: str = "CARD_AUDIT_KEYS") -> SigningKeys:
        return cls(parse_key_list(setting, name, "signing key"))

    def sign(self, message: bytes) -> tuple[str, str]:
        """(key id, base64 signature) by the current key: Ed25519, RFC 8032 §5.1.6."""
        return self.current, base64.b64encode(crypto_sign(message, self._signing)[:64]).decode()

    def public_keys(self) -> dict[str, bytes]:
        """{key id: raw 32-byte Ed25519 public key}, in the listed order (the current key first)."""
        return {key_id: key.public_key().public_bytes_raw() for key_id, key in self._private.items()}

    def has(self, key_id: str) -> bool:
        """Whether ``key_id`` is one of the listed keys."""
        return key_id in self._private

    def verify(self, key_id: str | None, signature: str | None, message: bytes) -> bool:
        """Whether ``signature`` (base64) is a listed key's signature of ``message``."""
        key = self._private.get(key_id or "")
        if key is None or not signature:
            return False
        try:
            key.public_key().verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def holds_key(self, raw: bytes) -> bool:
        """Whether one of the listed keys is ``raw`` (compared by key material, whatever its id)."""
        wanted = Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()
        return any(hmac.compare_digest(key.public_key().public_bytes_raw(), wanted) for key in self._private.values())
