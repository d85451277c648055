"""The gate algorithm (issue 16): decide on a scanned DGC2 code with no network.

Steps, in this order; the first that fails gives the refusal (reasons are the partner API's words)::

     1  prefix, base45, length, ver_alg, reserved bits, fare class, nbf <= exp   code_invalid
     2  kid in the trust list and its alg matches ver_alg (and is supported)     code_invalid
     3  certificate within the key's [not_before, not_after], exp - nbf <= 72 h   code_invalid
     4  issuer signature                                                         code_invalid
     5  device signature                                                         code_invalid
     6  now <= exp + 20 s                                                        code_expired
     7  nbf <= t <= exp and t <= now + 20 s                                      code_invalid
     8  t >= now - 60 s                                                          code_expired
     9  the terminal's scene bit is set                                          scene_not_permitted
    10  the deny list is at most 15 minutes old (exactly 15 is fresh)            scene_unavailable
    11  the serial is not on the deny list                                       card_inactive
    12  (serial, ctr) not seen at this terminal; with the anti-passback flag,
        no use of the serial at this terminal within 120 s, whatever the direction  code_used
    13  accept, and keep the record for upload

Steps 1-11 depend only on the code, the lists, the scene and the clock (:func:`check`); steps
12-13 need the terminal's memory (:class:`Gate`). The platform re-verifies uploads with
:func:`verify_code` (steps 1-8).
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .denylist import DenyList
from .format import Certificate, Code, FormatError, LifetimeError, check_lifetime, code_signing_input, parse, scene_names
from .format import cert_signing_input as _cert_input
from .keys import KeyFormatError, VerifyingKey, supported
from .trust import TrustList

FUTURE_GRACE = 20  # seconds a phone clock may run ahead (steps 6 and 7)
MAX_CODE_AGE = 60  # seconds a code stays valid (step 8)
DENY_LIST_MAX_AGE = 15 * 60  # step 10
ANTI_PASSBACK_SECONDS = 120  # step 12
ACCEPT_STEP = 13

CODE_INVALID, CODE_EXPIRED, CODE_USED = "code_invalid", "code_expired", "code_used"
SCENE_NOT_PERMITTED, SCENE_UNAVAILABLE, CARD_INACTIVE = "scene_not_permitted", "scene_unavailable", "card_inactive"


@dataclass(frozen=True)
class Record:
    """An accepted scan kept for ``POST /api/partner/v1/offline/records`` (:meth:`to_json` is its shape)."""

    record_id: str
    terminal_id: str
    scene: str
    scanned_at: int
    code: str
    direction: str | None = None

    def to_json(self) -> dict:
        body = {"record_id": self.record_id, "terminal_id": self.terminal_id, "scene": self.scene,
                "scanned_at": self.scanned_at, "code": self.code}
        if self.direction is not None:
            body["direction"] = self.direction
        return body


@dataclass(frozen=True)
class Decision:
    """``accepted``; ``reason`` (None when accepted); ``step`` (1-12 refused, 13 accepted); the
    parsed ``code`` once step 1 passed; the ``record`` of an accepted scan at a :class:`Gate`."""

    accepted: bool
    reason: str | None
    step: int
    code: Code | None = None
    record: Record | None = None

    def to_json(self) -> dict:
        """What ``dgc2-verify`` prints: ``{"accepted", "reason", "step"}``."""
        return {"accepted": self.accepted, "reason": self.reason, "step": self.step}


def _refuse(step: int, reason: str, code: Code | None = None) -> Decision:
    return Decision(False, reason, step, code)


@dataclass
class CertificateCache:
    """Steps 2-4 and the device key's decoding, remembered per certificate for one trust list.

    A batch of uploads holds many codes of one phone, and they share its certificate: its issuer
    signature is verified once. The key is the certificate's **whole** bytes (118, SM2 119,
    signature included), never the serial or kid alone: a forged certificate that shares a serial
    with a good one is another key, checked on its own. Failures are remembered too (the step
    depends only on the certificate and the trust list). Keep one for a bounded run (a batch), as
    the trust list it was made for does not change under it.
    """

    trust: TrustList
    outcomes: dict[bytes, int | VerifyingKey] = field(default_factory=dict)


def _check_certificate(cert: Certificate, trust: TrustList) -> int | VerifyingKey:
    """Steps 2-4, then the device key's decoding (step 5): the failing step, or the device key."""
    key = trust.keys.get(cert.kid)
    if key is None or key.alg != cert.alg or not supported(key.alg):
        return 2
    try:
        check_lifetime(cert)
    except LifetimeError:
        return 3
    if not key.not_before <= cert.nbf or not cert.exp <= key.not_after:
        return 3
    if not key.key.verify(_cert_input(cert.tbs()), cert.isig):
        return 4
    try:
        return cert.device_key()
    except KeyFormatError:
        return 5


def _check_signatures(code: Code, trust: TrustList, cache: CertificateCache | None) -> Decision | None:
    """Steps 2-5 (2-4 from ``cache`` when it has seen the certificate)."""
    if cache is None:
        outcome = _check_certificate(code.certificate, trust)
    else:
        if cache.trust is not trust:
            raise ValueError("certificate cache made for another trust list")
        certificate = code.certificate.to_bytes()
        outcome = cache.outcomes.get(certificate)
        if outcome is None:
            outcome = cache.outcomes[certificate] = _check_certificate(code.certificate, trust)
    if isinstance(outcome, int):
        return _refuse(outcome, CODE_INVALID, code)
    if not outcome.verify(code_signing_input(code.unsigned()), code.dsig):
        return _refuse(5, CODE_INVALID, code)
    return None


def _check_times(code: Code, now: int) -> Decision | None:
    """Steps 6-8."""
    cert = code.certificate
    if now > cert.exp + FUTURE_GRACE:
        return _refuse(6, CODE_EXPIRED, code)
    if not cert.nbf <= code.t <= cert.exp or code.t > now + FUTURE_GRACE:
        return _refuse(7, CODE_INVALID, code)
    if code.t < now - MAX_CODE_AGE:
        return _refuse(8, CODE_EXPIRED, code)
    return None


def verify_code(text: str, trust: TrustList, now: int, cache: CertificateCache | None = None) -> Decision:
    """Steps 1-8: format, key, both signatures and the time windows at ``now`` (Unix seconds).
    ``cache`` (made for ``trust``; ValueError otherwise) spares steps 2-4 for a certificate seen before.

    Returns a refusal, or ``Decision(True, None, 9, code)`` meaning "steps 1-8 passed" (the
    platform then applies its own scene, card-status and one-time rules).
    """
    try:
        code = parse(text)
    except FormatError:
        return _refuse(1, CODE_INVALID)
    return _check_signatures(code, trust, cache) or _check_times(code, now) or Decision(True, None, 9, code)


def check(text: str, trust: TrustList, deny: DenyList | None, scene: str, now: int,
          cache: CertificateCache | None = None) -> Decision:
    """Steps 1-11 for a terminal of ``scene`` at ``now``; ``Decision(True, None, 12, code)`` when
    they pass. ``cache``: as :func:`verify_code`."""
    decision = verify_code(text, trust, now, cache)
    if not decision.accepted:
        return decision
    code = decision.code
    if scene not in scene_names(code.certificate.scenes):
        return _refuse(9, SCENE_NOT_PERMITTED, code)
    if deny is None or deny.age(now) > DENY_LIST_MAX_AGE:
        return _refuse(10, SCENE_UNAVAILABLE, code)
    if code.certificate.serial in deny:
        return _refuse(11, CARD_INACTIVE, code)
    return Decision(True, None, 12, code)


def _new_record_id() -> str:
    return secrets.token_hex(16)


@dataclass
class Gate:
    """One terminal: its lists, its scene, the seen-set and anti-passback memory, and the records.

    ``clock`` returns Unix seconds; ``record_id`` makes record ids (random 32 hex by default).
    :meth:`scan` is safe to call from several threads.
    """

    terminal_id: str
    scene: str
    trust: TrustList
    deny: DenyList | None = None
    direction: str | None = None
    clock: Callable[[], float] = time.time
    record_id: Callable[[], str] = _new_record_id
    records: list[Record] = field(default_factory=list)
    _seen: dict[tuple[bytes, int], int] = field(default_factory=dict)
    _last_use: dict[bytes, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_trust_list(self, trust: TrustList) -> None:
        """Install a newer trust list; ValueError for an older version (a replayed list)."""
        if trust.version < self.trust.version:
            raise ValueError("trust list older than the one held")
        self.trust = trust

    def set_deny_list(self, deny: DenyList) -> None:
        """Install a newer deny list (full, or the result of :meth:`DenyList.apply`); ValueError for an older one."""
        if self.deny is not None and deny.version < self.deny.version:
            raise ValueError("deny list older than the one held")
        self.deny = deny

    def scan(self, text: str, now: int | None = None) -> Decision:
        """Decide on ``text`` (steps 1-13) and, when accepted, keep a :class:`Record`."""
        now = int(self.clock()) if now is None else now
        decision = check(text, self.trust, self.deny, self.scene, now)
        if not decision.accepted:
            return decision
        cert = decision.code.certificate
        with self._lock:  # steps 12-13 as one step: two readers of one code cannot both pass
            self._forget(now)
            if (cert.serial, decision.code.ctr) in self._seen:
                return _refuse(12, CODE_USED, decision.code)
            last = self._last_use.get(cert.serial)
            if cert.anti_passback and last is not None and now - last < ANTI_PASSBACK_SECONDS:
                return _refuse(12, CODE_USED, decision.code)
            self._seen[(cert.serial, decision.code.ctr)] = now
            self._last_use[cert.serial] = now
            record = Record(self.record_id(), self.terminal_id, self.scene, now, text, self.direction)
            self.records.append(record)
        return Decision(True, None, ACCEPT_STEP, decision.code, record)

    def _forget(self, now: int) -> None:
        """Drop memory no code can need: a code is accepted at most 80 s after its first scan
        (t >= now - 60, t <= now + 20), anti-passback lasts 120 s."""
        horizon = now - ANTI_PASSBACK_SECONDS
        for key in [key for key, at in self._seen.items() if at < horizon]:
            del self._seen[key]
        for serial in [serial for serial, at in self._last_use.items() if at < horizon]:
            del self._last_use[serial]

    def take_records(self, limit: int = 1000) -> list[Record]:
        """Remove and return up to ``limit`` records for one upload (the endpoint takes <= 1,000)."""
        with self._lock:
            taken, self.records[:] = self.records[:limit], self.records[limit:]
        return taken

    def state(self) -> dict:
        """The terminal's memory as JSON (to survive a restart)."""
        return {"seen": [[serial.hex(), ctr, at] for (serial, ctr), at in self._seen.items()],
                "last_use": [[serial.hex(), at] for serial, at in self._last_use.items()],
                "records": [record.to_json() for record in self.records]}

    def restore(self, state: dict) -> None:
        """Load what :meth:`state` saved."""
        self._seen = {(bytes.fromhex(serial), ctr): at for serial, ctr, at in state.get("seen", [])}
        self._last_use = {bytes.fromhex(serial): at for serial, at in state.get("last_use", [])}
        self.records = [Record(r["record_id"], r["terminal_id"], r["scene"], r["scanned_at"], r["code"], r.get("direction"))
                        for r in state.get("records", [])]
