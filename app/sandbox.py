"""The sandbox (issue 20 item 2): ``CARD_SANDBOX=1``, refused with ``CARD_ENV=production``
(app.config). An integrator in any language gets, over plain HTTP with no WeChat and no Python:
a test partner, a WeChat login code for a test resident, and a valid e-card code of a test
resident's card (docs/partner-api.md "The sandbox").

The test residents are the sample roster (app/samples/roster.csv, invented people with valid
check digits), numbered from 1 in its order. In sandbox mode the WeChat login is
:class:`SandboxWeChat`: it accepts the login codes this module makes (single-use, 5 minutes) and
never calls WeChat. Everything else is the real platform.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import select

from app.card.binding import bind
from app.identity.auth import account_for_token, login_wechat, revoke_token
from app.identity.models import Citizen
from app.identity.people import id_index
from app.identity.roster import import_roster
from app.integrations.identity import PlatformIdentity
from app.integrations.sms import ConsoleSmsSender, SmsMessage
from app.integrations.wechat_face import FaceResult
from app.partners.partners import create_partner
from app.partners.terminals import register_terminals
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.store import Store
from app.runtime import Runtime
from app.scanning.card_code import IssuedCode, issue_code

LOGIN_CODE_SECONDS = 300
SMS_KEEP_SECONDS, SMS_KEEP = 600, 20  # the sandbox's SMS inbox: the last 20 per phone, 10 minutes
TERMINALS = ("sandbox-gate-1", "sandbox-gate-2", "sandbox-gate-3")
ALREADY_BOUND = ("already_bound", "account_already_bound")  # a concurrent first call bound it: fine


@dataclass(frozen=True)
class Resident:
    number: int
    name: str
    id_number: str
    phone: str
    insured: bool


def _roster_text() -> str:
    return resources.files("app").joinpath("samples/roster.csv").read_text(encoding="utf-8")


def residents() -> list[Resident]:
    """The test residents, numbered from 1."""
    rows = csv.DictReader(io.StringIO(_roster_text()))
    return [Resident(n, row["name"], row["id_number"], row["phone"], row["insured"] == "1") for n, row in enumerate(rows, 1)]


def resident(number: int) -> Resident:
    """Test resident ``number``; 404 ``resident_unknown``."""
    found = [r for r in residents() if r.number == number]
    if not found:
        raise AppError("resident_unknown", 404, f"test residents are numbered 1 to {len(residents())}")
    return found[0]


def require_seeded(rt: Runtime, person: Resident) -> None:
    """409 ``sandbox_not_seeded`` unless test resident ``person`` is on the roster: checked before
    anything counts a binding attempt (a bind against an empty roster would use the resident's
    attempts up and lock it). ``citizencard sandbox seed`` (or ``sandbox up``) puts them there."""
    index = id_index(rt, person.id_number)
    if db.session.scalar(select(Citizen.id).where(Citizen.id_number_index == index)) is None:
        raise AppError("sandbox_not_seeded", 409, "the test residents are not on the roster: run "
                       "`citizencard sandbox seed` (or start with `citizencard sandbox up`)")


def seed(rt: Runtime) -> None:
    """Put the test residents on the roster (idempotent). ``citizencard sandbox up`` runs it."""
    import_roster(rt, io.StringIO(_roster_text()))


def new_partner(rt: Runtime, scenes: tuple[str, ...], known_scenes: tuple[str, ...]) -> dict[str, Any]:
    """A test partner with ``scenes`` and the terminals :data:`TERMINALS`:
    ``{"partner_id", "secret", "scenes", "terminals"}``."""
    kind = "government" if "government" in scenes else "organisation"
    credentials = create_partner(rt, f"Sandbox partner {secrets.token_hex(3)}", scenes, known_scenes, kind)
    register_terminals(rt, credentials.partner_id, [(t, t, "Sandbox") for t in TERMINALS])
    return {"partner_id": credentials.partner_id, "secret": credentials.secret, "scenes": list(scenes),
            "terminals": list(TERMINALS)}


def _openid(number: int) -> str:
    return f"sandbox-resident-{number}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _mac(key: bytes, text: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()[:12]).decode()


def login_code(rt: Runtime, number: int) -> str:
    """A WeChat login code for test resident ``number``, as ``wx.login()`` would give: send it to
    ``POST /api/mp/v1/auth/wechat``. Single-use, valid :data:`LOGIN_CODE_SECONDS`."""
    require_seeded(rt, resident(number))
    text = f"sbx.{number}.{int(rt.clock.time())}.{secrets.token_hex(6)}"
    return f"{text}.{_mac(rt.config['SECRET_KEY'].encode(), text)}"


def ecard_code(rt: Runtime, number: int) -> IssuedCode:
    """A valid e-card code (DGC1) of test resident ``number``'s card, as the mini-program shows it:
    logs the resident's sandbox account in, binds it on first use, issues one code."""
    person = resident(number)
    require_seeded(rt, person)
    token = login_wechat(rt, login_code(rt, number)).token
    try:
        if account_for_token(rt, token).citizen_id is None:
            try:
                bind(rt, account_for_token(rt, token), person.name, person.id_number, person.phone)
            except AppError as exc:
                if exc.code not in ALREADY_BOUND:
                    raise
        return issue_code(rt, token)
    finally:
        revoke_token(rt, token)


FACE_RESULT_SECONDS = 300
FACE_FAILED = 10004  # WeChat's identify_ret for a face that does not match


def face_result(rt: Runtime, number: int, passed: bool = True) -> str:
    """A WeChat ``verifyResult`` for test resident ``number``, as ``wx.startFacialRecognitionVerify``
    would give after the face check (``passed=False``: a face that did not match, identify_ret
    10004). Bring it to the endpoints that ask for a real-person check (``real_person_token``);
    :class:`SandboxFaceVerifier` checks it server-side as WeChat's getinfo would. Valid
    :data:`FACE_RESULT_SECONDS`; single-use as the real ones (app.identity.real_person)."""
    require_seeded(rt, resident(number))
    text = f"sbxface.{number}.{int(rt.clock.time())}.{int(passed)}.{secrets.token_hex(6)}"
    return f"{text}.{_mac(rt.config['SECRET_KEY'].encode(), text)}"


class SandboxFaceVerifier:
    """The WeChat face check of the sandbox: getinfo for :func:`face_result`'s tokens only, so
    government and finance scenes, evictions and password resets can be tried without WeChat."""

    def __init__(self, secret_key: str, clock: Any) -> None:
        self._key, self._clock = secret_key.encode(), clock

    def result(self, verify_result: str) -> FaceResult:
        """What the test token stands for: the resident's sandbox openid and the MD5s of their ID
        number and name, at the token's time; 422 ``real_person_invalid`` for a forged or expired
        token (as WeChat's errcode for an unknown one)."""
        text, _, mac = verify_result.rpartition(".")
        parts = text.split(".")
        valid = (len(parts) == 5 and parts[0] == "sbxface" and parts[1].isdigit() and parts[2].isdigit()
                 and parts[3] in ("0", "1") and hmac.compare_digest(mac, _mac(self._key, text))
                 and 0 <= self._clock.time() - int(parts[2]) <= FACE_RESULT_SECONDS)
        if not valid:
            raise AppError("real_person_invalid", 422, "the real-person check result is unknown or expired",
                           {"platform": "wechat"})
        if parts[3] == "0":
            return FaceResult(FACE_FAILED, "", "", "", 0)
        person = resident(int(parts[1]))
        return FaceResult(0, _openid(person.number), _md5(person.id_number.upper()), _md5(person.name), int(parts[2]))


class SandboxWeChat:
    """The WeChat login of the sandbox: code2Session for :func:`login_code`'s codes only."""

    def __init__(self, secret_key: str, store: Store, clock: Any) -> None:
        self._key, self._store, self._clock = secret_key.encode(), store, clock

    def code_to_session(self, js_code: str) -> PlatformIdentity:
        """The test resident's identity; 401 ``login_code_invalid`` for a code that is forged,
        older than 5 minutes or already used (as WeChat's 40029/40163)."""
        text, _, mac = js_code.rpartition(".")
        parts = text.split(".")
        fresh = (len(parts) == 4 and parts[0] == "sbx" and parts[1].isdigit() and parts[2].isdigit()
                 and hmac.compare_digest(mac, _mac(self._key, text))
                 and 0 <= self._clock.time() - int(parts[2]) <= LOGIN_CODE_SECONDS)
        if not fresh or self._store.incr(f"sandbox:login:{hashlib.sha256(js_code.encode()).hexdigest()}",
                                         LOGIN_CODE_SECONDS + 60) != 1:
            raise AppError("login_code_invalid", 401, "the login code is invalid or was already used")
        return PlatformIdentity("wechat", _openid(int(parts[1])), None)


class SandboxSms(ConsoleSmsSender):
    """The SMS of the sandbox: logged as the console's, and kept per phone in the store (the last
    20, 10 minutes) so an integrator reads what a test resident received, e.g. the bank-consent
    code a bank needs before registering an account (:func:`sms_inbox`). Never fails. Two messages
    to one phone at the same instant may keep only one (a read then a write: test data only)."""

    def __init__(self, store: Store, clock: Any) -> None:
        super().__init__(show_text=True)
        self._store, self._clock = store, clock

    def send(self, phone: str, message: SmsMessage) -> None:
        """Log and keep ``message`` for ``phone``."""
        super().send(phone, message)
        key = f"sandbox:sms:{phone}"
        kept = json.loads(self._store.get(key) or "[]")
        kept.append({"kind": message.kind, "text": message.text, "sent_at": int(self._clock.time())})
        self._store.put(key, json.dumps(kept[-SMS_KEEP:], ensure_ascii=False), SMS_KEEP_SECONDS)


def sms_inbox(rt: Runtime, number: int) -> list[dict[str, Any]]:
    """The SMS test resident ``number`` received in the last 10 minutes, newest first:
    ``[{"kind", "text", "sent_at": datetime}]``; 404 ``resident_unknown``."""
    person = resident(number)
    kept = json.loads(rt.store.get(f"sandbox:sms:{person.phone}") or "[]")
    return [{**item, "sent_at": datetime.fromtimestamp(item["sent_at"], UTC)} for item in reversed(kept)]
