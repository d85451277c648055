"""Real-name binding (M-17): a logged-in account proves a roster identity and gets its card.

``bind`` checks name, ID number and phone against the roster, then creates the citizen's card
(a random, non-identifying card number) and its first e-card device, and binds the account.

Guessing identities is an attack, so every attempt is counted first, atomically (the store's
``count``), and the decision is made on that count (issue 15 item 6): 5 attempts per account per
hour; optionally ``CARD_BINDING_ATTEMPTS_PER_ADDRESS`` per client address. The guesser is
throttled, never the resident (item 9): after 20 attempts on one ID number in an hour, binding
that ID number needs, besides name and phone, a code sent by SMS to the roster phone; a
guesser learns nothing more (the same answer whether the data matched or not, and an SMS goes
out only when it matched). Not being on the roster is answered as ``identity_mismatch``.
"""
from __future__ import annotations

import contextlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.card.devices import new_device
from app.card.models import Card, Device
from app.card.unbinding import evict
from app.identity import idnumber
from app.identity.models import Citizen, MpAccount
from app.identity.people import CONTACT_PHONE, PHONE, checked_phone, citizen_by_id_number, citizen_name, id_index, normalize_name
from app.identity.real_person import KNOWLEDGE, REAL_PERSON, confirm, meets
from app.integrations.sms import SmsFailed, binding_code
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

MAX_ATTEMPTS_PER_ACCOUNT = 5
STEP_UP_AFTER_PER_ID_NUMBER = 20
WINDOW_SECONDS = 3600
CODE_TTL_SECONDS, RESEND_SECONDS, MAX_CODE_ATTEMPTS, MAX_CODES_PER_ID_NUMBER = 600, 60, 5, 10
CARD_NUMBER_DIGITS = 16


@dataclass(frozen=True)
class BindResult:
    """``card_number``: the citizen's card; ``insured``: entitled to the physical card (M-5);
    ``assurance``: how the binding was proven; ``evicted_account_id``: the account whose
    knowledge-only binding this one ended, if any (to audit; never shown); ``citizen_id``: whose."""

    card_number: str
    insured: bool
    assurance: str = "knowledge"
    evicted_account_id: int | None = None
    citizen_id: int | None = None


def bind(rt: Runtime, account: MpAccount, name: str, id_number: str, phone: str,
         sms_code: str | None = None, address: str | None = None, real_person_token: str | None = None) -> BindResult:
    """Bind ``account`` to the roster identity with this name, ID number and phone (M-17).

    All three must match the roster: a name and an ID number alone are too often known to
    others. Errors: 422 ``validation_error`` (malformed ID number or phone); 429
    ``too_many_attempts`` (5 attempts per account per hour, counted before anything is checked);
    422 ``identity_mismatch`` (no match, or not on the roster, without saying which); 403
    ``sms_code_required`` (the ID number had 20 attempts this hour: a code was sent to the roster
    phone if the data matched); 422 ``sms_code_invalid``; 409 ``account_already_bound`` /
    ``already_bound`` (another account of the same app holds the identity: a citizen has at most
    one account per app, WeChat and Alipay, each bound by its own check; issue 17 item 3).

    With ``real_person_token`` (issue 17 item 2: a WeChat ``verifyResult`` or an Alipay
    ``certify_id`` for this name and ID number, checked with the platform first, before anything
    about the roster is said) the binding's assurance is ``real_person``, the SMS step-up is not
    needed, and an account that bound the identity with knowledge only is evicted
    (app/card/unbinding.py) instead of 409 ``already_bound``.
    """
    id_number, phone = _validated(id_number, phone)
    account_attempts = _count_account_and_address(rt, account.id, address)
    index = id_index(rt, id_number)
    stepped_up = rt.store.incr(f"bind:id:{index}", WINDOW_SECONDS) > STEP_UP_AFTER_PER_ID_NUMBER
    left = {"attempts_left": max(MAX_ATTEMPTS_PER_ACCOUNT - account_attempts, 0)}
    if real_person_token is not None:
        confirm(rt, account, name, id_number, real_person_token)
    citizen = citizen_by_id_number(rt, id_number)
    matches = citizen is not None and _matches(rt, citizen, name, phone)
    if stepped_up and real_person_token is None:
        _step_up(rt, account.id, index, citizen if matches else None, sms_code)
    if citizen is None or not matches:
        raise AppError("identity_mismatch", 422, "the name, ID number and phone do not match our records", left)
    return _bind_citizen(rt, account, citizen, phone, left, REAL_PERSON if real_person_token is not None else KNOWLEDGE)


def _count_account_and_address(rt: Runtime, account_id: int, address: str | None) -> int:
    attempts = rt.store.incr(f"bind:account:{account_id}", WINDOW_SECONDS)
    if attempts > MAX_ATTEMPTS_PER_ACCOUNT:
        raise _too_many()
    per_address = rt.config.get("CARD_BINDING_ATTEMPTS_PER_ADDRESS", 0)
    if per_address and address and rt.store.incr(f"bind:address:{address}", WINDOW_SECONDS) > per_address:
        raise _too_many()
    return attempts


def _too_many() -> AppError:
    return AppError("too_many_attempts", 429, "too many binding attempts; try again later",
                    headers={"Retry-After": str(WINDOW_SECONDS)})


def _step_up(rt: Runtime, account_id: int, index: str, citizen: Citizen | None, sms_code: str | None) -> None:
    """The ID number is under attack: the roster phone must confirm. Returns when ``sms_code`` is
    the code sent to that phone for this account; otherwise raises the same answers whether the
    data matched (``citizen``) or not."""
    key = f"bind-code:{index}:{account_id}"
    if sms_code is None:
        if citizen is not None:
            _send_code(rt, key, index, account_id, citizen)
        raise AppError("sms_code_required", 403, "confirm with the code sent by SMS to the phone on the resident roster "
                       "(if the details match); send it as sms_code", {"code_ttl_seconds": CODE_TTL_SECONDS})
    kept = rt.store.get(key)
    attempts = rt.store.incr(f"{key}:attempts:{kept}", CODE_TTL_SECONDS) if kept else MAX_CODE_ATTEMPTS + 1
    right = hmac.compare_digest(kept or "", _code_digest(rt, index, account_id, sms_code))
    if citizen is None or attempts > MAX_CODE_ATTEMPTS or not right:
        raise AppError("sms_code_invalid", 422, "the code is wrong, expired or void; ask for a new one")


def _send_code(rt: Runtime, key: str, index: str, account_id: int, citizen: Citizen) -> None:
    if not rt.store.claim(f"{key}:resend", RESEND_SECONDS):
        return
    if rt.store.incr(f"bind-codes:{index}", WINDOW_SECONDS) > MAX_CODES_PER_ID_NUMBER:
        return
    code = f"{secrets.randbelow(10**6):06d}"
    rt.store.put(key, _code_digest(rt, index, account_id, code), CODE_TTL_SECONDS)
    # A failure is logged by the sender; the answer must not differ from a mismatch's (it would tell
    # that the details matched): the citizen asks again after RESEND_SECONDS and a new code is sent.
    with contextlib.suppress(SmsFailed):
        rt.sms.send(rt.keyring.decrypt(citizen.phone_enc, PHONE), binding_code(code))


def _code_digest(rt: Runtime, index: str, account_id: int, code: str) -> str:
    """Keyed, so that the store does not hold a 6-digit code in a reversible form."""
    return hmac.new(rt.config["SECRET_KEY"].encode(), f"bind\n{index}\n{account_id}\n{code}".encode(), "sha256").hexdigest()


def _matches(rt: Runtime, citizen: Citizen, name: str, phone: str) -> bool:
    same_name = hmac.compare_digest(citizen_name(rt, citizen).encode(), normalize_name(name).encode())
    same_phone = hmac.compare_digest(rt.keyring.decrypt(citizen.phone_enc, PHONE).encode(), phone.encode())
    return same_name and same_phone


def _validated(id_number: str, phone: str) -> tuple[str, str]:
    return validated_id_number(id_number), checked_phone(phone)


def validated_id_number(id_number: str) -> str:
    """The normalised resident ID number; 422 ``validation_error`` on the ``id_number`` field."""
    try:
        return idnumber.validate(id_number)
    except idnumber.IdNumberError as exc:
        raise AppError("validation_error", 422, "id_number is not a valid resident ID number",
                       {"fields": {"json": {"id_number": [exc.reason]}}}) from None


def issue_card(rt: Runtime, account: MpAccount, citizen: Citizen, phone: str, assurance: str) -> BindResult:
    """Bind ``account`` to ``citizen`` (a person already checked by other means: an approved
    e-card application, issue 17 item 1) and give them their card and e-card device, as
    :func:`bind` does after its checks; ``assurance`` is recorded on the account. Commits the
    caller's transaction with it. 409 ``account_already_bound`` / ``already_bound``."""
    return _bind_citizen(rt, account, citizen, phone, {}, assurance)


def _bind_citizen(rt: Runtime, account: MpAccount, citizen: Citizen, phone: str, left: dict[str, int],
                  assurance: str) -> BindResult:
    if account.citizen_id not in (None, citizen.id):
        raise AppError("account_already_bound", 409, "this account is already bound to another identity")
    other = db.session.scalar(select(MpAccount).where(MpAccount.citizen_id == citizen.id, MpAccount.platform == account.platform,
                                                      MpAccount.id != account.id))
    if other is not None and not (assurance == REAL_PERSON and other.assurance == KNOWLEDGE):
        raise AppError("already_bound", 409, "this identity is already bound to another account of this app", left)
    assurance = assurance if meets(assurance, account.assurance) or account.citizen_id is None else account.assurance
    try:
        card = db.session.scalar(select(Card).where(Card.citizen_id == citizen.id)) or _new_card(rt, citizen, phone)
        if other is not None:
            evict(rt, other.id, card)
        elif not _has_device(card, account.platform):  # the first binding on this app (item 3)
            db.session.add(new_device(rt, card.id, None, account.platform))
        _claim_account(account.id, citizen.id, assurance)
        db.session.commit()
    except IntegrityError:  # another account created this identity's card, or bound it on this app, at the same moment
        db.session.rollback()
        raise AppError("already_bound", 409, "this identity was bound to another account at the same time") from None
    return BindResult(card.card_number, citizen.insured, assurance, other.id if other is not None else None, citizen.id)


def _has_device(card: Card, platform: str) -> bool:
    return card.status == "cancelled" or db.session.scalar(select(Device.id).where(
        Device.card_id == card.id, Device.platform == platform, Device.revoked_at.is_(None))) is not None


def _claim_account(account_id: int, citizen_id: int, assurance: str) -> None:
    """Bind the account unless it got bound to someone else meanwhile (one conditional UPDATE:
    two identities bound to one account at the same moment cannot both succeed)."""
    claimed = db.session.execute(
        update(MpAccount).where(MpAccount.id == account_id, or_(MpAccount.citizen_id.is_(None), MpAccount.citizen_id == citizen_id))
        .values(citizen_id=citizen_id, assurance=assurance).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise AppError("account_already_bound", 409, "this account was bound to another identity at the same time")


def _new_card(rt: Runtime, citizen: Citizen, phone: str) -> Card:
    card = Card(card_number=new_card_number(), citizen_id=citizen.id, status="active",
                contact_phone_enc=rt.keyring.encrypt(phone, CONTACT_PHONE), created_at=rt.clock.now())
    db.session.add(card)
    db.session.flush()
    return card


def new_card_number() -> str:
    """16 digits: 15 random digits (leading 8) and a Luhn check digit; carries nothing personal."""
    body = "8" + "".join(secrets.choice("0123456789") for _ in range(CARD_NUMBER_DIGITS - 2))
    return body + luhn_check_digit(body)


def luhn_check_digit(body: str) -> str:
    """The Luhn (ISO/IEC 7812-1) check digit for ``body``."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)
