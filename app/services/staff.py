"""Staff accounts of the customer-service console: argon2id passwords, TOTP second factor.

Login (:func:`authenticate`) checks the password and a TOTP code (RFC 6238, 30 s, one step of
drift); a code is accepted once (the last accepted step is raised in one conditional UPDATE, as
django-otp does). Failures are counted per username and per client address in the store: after
``MAX_FAILURES`` in ``FAILURE_WINDOW`` seconds further attempts are refused with 429 for the
rest of the window, whatever the password. The per-address limit is higher
(``MAX_FAILURES_PER_CLIENT``): behind a proxy every request may come from the proxy's address.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from ..errors import AppError
from ..extensions import db
from ..models import Staff
from ..models.staff import STAFF_ROLES
from ..runtime import Runtime
from .audit import StaffActor

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
    A liaison must name a department of CARD_DEPARTMENTS; other roles have none."""
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
    if (role == "liaison") != (department is not None):
        raise ValueError("a liaison needs --department; other roles take none")
    if department is not None and department not in rt.config["CARD_DEPARTMENTS"]:
        raise ValueError(f"department must be one of {', '.join(rt.config['CARD_DEPARTMENTS'])}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    if db.session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise ValueError("username already exists")


def authenticate(rt: Runtime, username: str, password: str, otp: str, client: str) -> StaffActor:
    """The actor for a correct password and unused TOTP code; 401 ``login_failed`` (one answer
    for every wrong part), 429 ``login_throttled`` after too many failures."""
    limits = {f"staff-login:user:{username.lower()}": MAX_FAILURES, f"staff-login:client:{client}": MAX_FAILURES_PER_CLIENT}
    if any(int(rt.store.get(key) or 0) >= limit for key, limit in limits.items()):
        raise AppError("login_throttled", 429, "too many failed log-ins; try again later",
                       headers={"Retry-After": str(FAILURE_WINDOW)})
    staff = db.session.scalar(select(Staff).where(Staff.username == username, Staff.disabled_at.is_(None)))
    if not (_password_ok(staff, password) and staff is not None and _otp_once(rt, staff, otp)):
        for key in limits:
            rt.store.incr(key, FAILURE_WINDOW)
        raise AppError("login_failed", 401, "wrong username, password or code")
    return actor_of(staff)


def _password_ok(staff: Staff | None, password: str) -> bool:
    try:
        return _hasher.verify(staff.password_hash if staff else _DUMMY_HASH, password) and staff is not None
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


def active_actor(staff_id: Any) -> StaffActor | None:
    """The actor of a session's staff id, or None if the account is gone or disabled."""
    staff = db.session.get(Staff, staff_id) if isinstance(staff_id, int) else None
    return actor_of(staff) if staff is not None and staff.disabled_at is None else None
