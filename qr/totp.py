"""One-time passwords for the code: RFC 6238 TOTP with a sequence inside each time step.

The moving factor is ``C = T * 100 + n`` where ``T = floor(unix_time / 30)`` is the RFC 6238
time step (§4.2) and ``n`` (0-99) numbers the codes shown within that step. The password is
HOTP(K, C) (RFC 4226, HMAC-SHA-1, 8 digits) computed by pyotp. With ``n = 0`` for the first code
of a step, a device shows a fresh code at once after each scan by moving to ``n + 1``.
Seeds are 160 bits (RFC 4226 §4 R6 recommends 160).
"""
from __future__ import annotations

import hmac
import math

import pyotp

STEP_SECONDS = 30
DIGITS = 8
SEQUENCES_PER_STEP = 100
SEED_BASE32_CHARS = 32  # 32 base32 characters = 160 bits
WINDOW_BACK = 1  # accept a code from the previous step (RFC 6238 §5.2: at most one step of delay)
WINDOW_AHEAD = 1  # and from the next, for device clocks a little fast


def new_seed() -> str:
    """A fresh random seed: 32 base32 characters (160 bits) from the OS CSPRNG."""
    return pyotp.random_base32(SEED_BASE32_CHARS)


def time_step(unix_time: float) -> int:
    """The RFC 6238 time step T for ``unix_time`` (seconds)."""
    return math.floor(unix_time / STEP_SECONDS)


def moving_factor(step: int, sequence: int) -> int:
    """``C = T * 100 + n``: strictly increasing across steps and sequences."""
    if not 0 <= sequence < SEQUENCES_PER_STEP:
        raise ValueError("sequence must be 0-99")
    return step * SEQUENCES_PER_STEP + sequence


def otp(seed: str, step: int, sequence: int) -> str:
    """The 8-digit password for (step, sequence) under ``seed``."""
    return pyotp.HOTP(seed, digits=DIGITS).at(moving_factor(step, sequence))


def otp_matches(seed: str, step: int, sequence: int, candidate: str) -> bool:
    """Constant-time comparison of ``candidate`` with the expected password."""
    return hmac.compare_digest(otp(seed, step, sequence), candidate)


def step_age(step: int, unix_time: float) -> int:
    """How many steps ago ``step`` was (negative: in the future)."""
    return time_step(unix_time) - step


def step_window_ok(step: int, unix_time: float) -> bool:
    """True when ``step`` is within [now - WINDOW_BACK, now + WINDOW_AHEAD]."""
    return -WINDOW_AHEAD <= step_age(step, unix_time) <= WINDOW_BACK


def valid_until(step: int) -> float:
    """Unix time after which a code of ``step`` is older than the window allows."""
    return float((step + WINDOW_BACK + 1) * STEP_SECONDS)
