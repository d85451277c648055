"""Staff accounts of the customer-service console: argon2id passwords, TOTP second factor.

Login (:func:`authenticate`) checks the password and a TOTP code (RFC 6238, 30 s, one step of
drift); a code is accepted once (the last accepted step is raised in one conditional UPDATE, as
django-otp does). Failures are counted per username and per client address in the store: after
``MAX_FAILURES`` in ``FAILURE_WINDOW`` seconds further attempts are refused with 429 for the
rest of the window, whatever the password. The per-address limit is higher
(``MAX_FAILURES_PER_CLIENT``): behind a proxy every request may come from the proxy's address.

Console sessions live in a signed cookie (client-side), so ending one is recorded on the server:
each account has a ``session_epoch``, copied into the session at log-in; log-out and disabling
raise it (:func:`end_sessions`), after which every copy of an older cookie is refused
(:func:`session_actor`). A session also ends after ``CARD_CONSOLE_IDLE_MINUTES`` without a
request and ``CARD_CONSOLE_MAX_HOURS`` after log-in, however active.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from app.catalogue import editors
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.offload import off_loop
from app.runtime import Runtime
from app.service_desk.audit import StaffActor
from app.service_desk.models import STAFF_ROLES, Staff

TOTP_SEED = "staff.totp_seed"
MAX_FAILURES = 5
MAX_FAILURES_PER_CLIENT = 30
FAILURE_WINDOW = 900
MIN_PASSWORD = 12
USERNAME = re.compile(r"[a-z][a-z0-9_.-]{2,63}\Z")
_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" defaults
_DUMMY_HASH = _hasher.hash("an unknown user still costs one hash")


@dataclass(frozen=True)
class NewStaff:
    """What ``citizencard staff create`` prints once: the TOTP seed and its otpauth:// URI."""

    username: str
    totp_seed: str
    provisioning_uri: str


def create_staff(rt: Runtime, username: str, role: str, password: str, department: str | None = None,
                 display_name: str | None = None) -> NewStaff:
    """Create a staff account; ValueError for a bad username, role, department or short password.
    A liaison must name a department of CARD_DEPARTMENTS, a catalogue editor the partner id of
    its department's catalogue account (app/catalogue/editors.py); other roles have none."""
    _check_new_staff(rt, username, role, password, department)
    seed = pyotp.random_base32()
    db.session.add(Staff(username=username, display_name=display_name or username, role=role, department=department,
                         password_hash=_hasher.hash(password), totp_seed_enc=rt.keyring.encrypt(seed, TOTP_SEED),
                         created_at=rt.clock.now()))
    db.session.commit()
    uri = pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name="Dongguan Citizen Card console")
    return NewStaff(username, seed, uri)


def _check_new_staff(rt: Runtime, username: str, role: str, password: str, department: str | None) -> None:
    if not USERNAME.match(username):
        raise ValueError("username: 3-64 of a-z 0-9 _ . - starting with a letter")
    if role not in STAFF_ROLES:
        raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}")
    if (role in ("liaison", editors.ROLE)) != (department is not None):
        raise ValueError("a liaison or a catalogue editor needs --department; other roles take none")
    if role == editors.ROLE:
        if not editors.is_catalogue_department(department or ""):
            raise ValueError("a catalogue editor's department is the partner id of an account with the catalogue role")
    elif department is not None and department not in rt.config["CARD_DEPARTMENTS"]:
        raise ValueError(f"department must be one of {', '.join(rt.config['CARD_DEPARTMENTS'])}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    if db.session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise ValueError("username already exists")


def authenticate(rt: Runtime, username: str, password: str, otp: str, client: str) -> StaffActor:
    """The actor for a correct password and unused TOTP code; 401 ``login_failed`` (one answer
    for every wrong part), 429 ``login_throttled`` after too many failures.

    Every attempt is counted first (one atomic increment per username and per client address) and
    decided on that count: of any number of simultaneous attempts at most ``MAX_FAILURES`` are
    evaluated, and a refused one costs no hash. A successful log-in takes its count back, so only
    failures use up the limit. The password hash (argon2id, a real one for an unknown username
    too) runs outside the worker (app.platform.offload); 503 ``busy`` with ``Retry-After`` when the
    server's hashing could not take it within ``offload.OFFLOAD_WAIT`` seconds (the attempt was not
    evaluated and its count is taken back)."""
    limits = {f"staff-login:user:{username.lower()}": MAX_FAILURES, f"staff-login:client:{client}": MAX_FAILURES_PER_CLIENT}
    counts = {key: rt.store.incr(key, FAILURE_WINDOW) for key in limits}
    if any(counts[key] > limit for key, limit in limits.items()):
        raise AppError("login_throttled", 429, "too many failed log-ins; try again later",
                       headers={"Retry-After": str(FAILURE_WINDOW)})
    staff = db.session.scalar(select(Staff).where(Staff.username == username, Staff.disabled_at.is_(None)))
    stored = staff.password_hash if staff is not None else _DUMMY_HASH
    db.session.commit()  # no transaction (and no pooled connection) held while the hash runs
    try:
        password_ok = _password_ok(stored, password)
    except AppError:  # 503 busy: not evaluated, so not a failure either
        _take_back(rt, limits)
        raise
    if not (password_ok and staff is not None and _otp_once(rt, staff, otp)):
        raise AppError("login_failed", 401, "wrong username, password or code")
    _take_back(rt, limits)
    return actor_of(staff)


def _take_back(rt: Runtime, limits: dict[str, int]) -> None:
    for key in limits:
        rt.store.uncount(key)


def _password_ok(stored: str, password: str) -> bool:
    """Whether ``password`` matches the argon2 hash ``stored``, hashed outside the worker; 503 ``busy``
    (app.platform.offload)."""
    try:
        return bool(off_loop("argon2_verify", stored, password))
    except (VerificationError, InvalidHashError):
        return False


def _otp_once(rt: Runtime, staff: Staff, otp: str) -> bool:
    """True if ``otp`` is the code of the current step or the one before, newer than the last
    accepted one; raises the last accepted step in one conditional UPDATE."""
    if not (otp.isascii() and otp.isdigit() and len(otp) == 6):
        return False
    totp = pyotp.TOTP(rt.keyring.decrypt(staff.totp_seed_enc, TOTP_SEED))
    now_step = int(rt.clock.time()) // totp.interval
    for step in (now_step, now_step - 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), otp):
            raised = db.session.execute(update(Staff).where(Staff.id == staff.id, Staff.last_totp_step < step)
                                        .values(last_totp_step=step))
            db.session.commit()
            return bool(raised.rowcount)  # type: ignore[attr-defined]
    return False


def actor_of(staff: Staff) -> StaffActor:
    return StaffActor(staff.id, staff.username, staff.role, staff.department)


def open_session(rt: Runtime, actor: StaffActor) -> dict[str, Any]:
    """The values a new console session keeps: the staff id, the account's session epoch, and
    when it began and was last seen (epoch seconds)."""
    epoch = db.session.scalar(select(Staff.session_epoch).where(Staff.id == actor.staff_id))
    now = rt.clock.time()
    return {"staff_id": actor.staff_id, "epoch": epoch, "born": now, "seen": now}


def session_actor(rt: Runtime, values: Mapping[str, Any]) -> StaffActor | None:
    """The actor of a console session (the values :func:`open_session` gave), or None if it has
    ended: the account is gone or disabled, its sessions were ended since (log-out, disable),
    it was idle longer than ``CARD_CONSOLE_IDLE_MINUTES`` or began over ``CARD_CONSOLE_MAX_HOURS`` ago."""
    staff_id, now = values.get("staff_id"), rt.clock.time()
    staff = db.session.get(Staff, staff_id) if isinstance(staff_id, int) else None
    if staff is None or staff.disabled_at is not None or values.get("epoch") != staff.session_epoch:
        return None
    idle, max_life = rt.config["CARD_CONSOLE_IDLE_MINUTES"] * 60, rt.config["CARD_CONSOLE_MAX_HOURS"] * 3600
    if now - values.get("seen", 0) > idle or now - values.get("born", 0) > max_life:
        return None
    return actor_of(staff)


def end_sessions(staff_id: int) -> None:
    """End every console session of the account, on every device (one UPDATE raising its
    session epoch); commits."""
    db.session.execute(update(Staff).where(Staff.id == staff_id).values(session_epoch=Staff.session_epoch + 1))
    db.session.commit()


@dataclass(frozen=True)
class StaffLine:
    """One account as ``citizencard staff list`` shows it: never its password hash or TOTP seed."""

    username: str
    display_name: str
    role: str
    department: str | None
    state: str  # active | disabled


def list_staff() -> list[StaffLine]:
    """Every staff account, by username."""
    accounts = db.session.scalars(select(Staff).order_by(Staff.username))
    return [StaffLine(s.username, s.display_name, s.role, s.department, "disabled" if s.disabled_at else "active") for s in accounts]


def set_disabled(rt: Runtime, username: str, disabled: bool) -> bool:
    """Disable (offboard) or enable an account; True if its state changed. Disabling refuses
    log-in and ends its live sessions at their next request. ValueError if no such username."""
    staff = db.session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise ValueError(f"no staff account {username!r}")
    changed = (staff.disabled_at is None) == disabled
    staff.disabled_at = (staff.disabled_at or rt.clock.now()) if disabled else None
    if disabled:
        staff.session_epoch = Staff.session_epoch + 1  # type: ignore[assignment]  # as end_sessions, same commit
    db.session.commit()
    return changed
