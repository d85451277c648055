"""DGC2, the offline-verifiable e-card code (issue 16, docs/offline-codes.md): the platform's entry point.

The implementation is the ``dgc2`` package in ``terminal/dgc2``, the very code gate vendors install
as the ``dgc2-terminal`` distribution (one implementation, not two); the ``citizencard``
distribution installs the same package (pyproject ``packages.find.where``). Domains import it
from here, so the layering rule "domains -> qr" holds. Pure Python: no app, Flask or SQLAlchemy.

What the server side uses:

- keys: ``generate(alg)``, ``SigningKey(alg, raw)`` (``.sign``, ``.public_key``), ``VerifyingKey(alg, raw)``
  (``.verify``); ``ED25519``/``SM2``; ``sm2_available()`` (the ``gm`` extra is installed); ``sm2``, the
  SM2-with-SM3 primitives themselves (``sign``, ``verify``, ``prepare``, ``public_key``, ``compress``,
  ``decompress``: the SM2 id_tokens of the identity provider, app/oidc/sm2.py);
- certificates and codes: ``issue_certificate``, ``make_code``, ``decode`` (strict), ``parse``,
  ``certificate_from_bytes``, ``code_from_bytes``, ``verify_proof_of_possession``, ``scene_mask``,
  ``scene_names``, ``Certificate``, ``Code``, ``FormatError``, and the signing-input builders;
- trust list: ``write_trust_list``, ``read_trust_list``, ``read_root_key``, ``IssuingKey``, ``RootKey``;
- deny list: ``write_deny_list``, ``write_deny_delta``, ``read_deny_list``, ``read_deny_delta``;
- re-verification of uploads and online DGC2: ``verify_code(text, trust, now)`` (gate steps 1-8),
  ``check`` (steps 1-11; both take a ``CertificateCache`` for a batch), ``Gate`` (a simulated
  terminal, steps 1-13); the windows ``MAX_CODE_AGE`` (60 s back) and ``FUTURE_GRACE`` (20 s ahead);
- printed codes (DGP1, issue 18): ``printed`` (``issue``, ``parse``, ``verify_signature``, ``check``);
- ``b64url_encode``/``b64url_decode`` (the JSON encoding of keys and signatures), ``base45``.
"""
from __future__ import annotations

from dgc2 import base45, printed, sm2
from dgc2.b64 import decode as b64url_decode
from dgc2.b64 import encode as b64url_encode
from dgc2.denylist import DenyDelta, DenyList, DenyListError, read_deny_delta, read_deny_list, write_deny_delta, write_deny_list
from dgc2.format import (
    FARE_CLASSES,
    MAX_LIFETIME,
    PREFIX,
    SCENE_BITS,
    Certificate,
    Code,
    FormatError,
    cert_signing_input,
    certificate_from_bytes,
    code_from_bytes,
    code_signing_input,
    decode,
    deny_signing_input,
    issue_certificate,
    make_code,
    parse,
    pop_signing_input,
    proof_of_possession,
    scene_mask,
    scene_names,
    trust_signing_input,
    verify_proof_of_possession,
)
from dgc2.gate import FUTURE_GRACE, MAX_CODE_AGE, CertificateCache, Decision, Gate, Record, check, verify_code
from dgc2.keys import ED25519, SM2, KeyFormatError, SigningKey, VerifyingKey, generate
from dgc2.sm2 import SM2Unavailable
from dgc2.sm2 import available as sm2_available
from dgc2.trust import IssuingKey, RootKey, TrustList, TrustListError, read_root_key, read_trust_list, write_trust_list

__all__ = [
    "ED25519", "FARE_CLASSES", "FUTURE_GRACE", "CertificateCache", "MAX_CODE_AGE",
    "MAX_LIFETIME", "PREFIX", "SCENE_BITS", "SM2", "Certificate", "Code", "Decision",
    "DenyDelta", "DenyList", "DenyListError", "FormatError", "Gate", "IssuingKey", "KeyFormatError", "Record", "RootKey",
    "SM2Unavailable", "SigningKey", "TrustList", "TrustListError", "VerifyingKey", "b64url_decode", "b64url_encode", "base45",
    "cert_signing_input", "certificate_from_bytes", "check", "code_from_bytes", "code_signing_input", "decode",
    "deny_signing_input", "generate", "issue_certificate", "make_code", "parse", "pop_signing_input", "proof_of_possession",
    "read_deny_delta", "read_deny_list", "read_root_key", "read_trust_list", "scene_mask", "scene_names", "sm2_available",
    "printed", "sm2",
    "trust_signing_input", "verify_code", "verify_proof_of_possession", "write_deny_delta", "write_deny_list", "write_trust_list",
]
