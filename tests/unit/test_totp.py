"""TOTP with a sequence inside the step: RFC 6238 Appendix B vectors, windows, seeds."""
from __future__ import annotations

import base64

import pytest

from qr import totp

RFC_SEED = base64.b32encode(b"12345678901234567890").decode()

# RFC 6238 Appendix B, SHA-1, 8 digits: (Unix time, expected TOTP). Our moving factor for
# (step, sequence) is step * 100 + sequence, so the RFC counter T maps to (T // 100, T % 100).
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "expected"), RFC6238_SHA1)
def test_rfc6238_test_vectors(unix_time: int, expected: str) -> None:
    counter = unix_time // 30
    assert totp.otp(RFC_SEED, counter // 100, counter % 100) == expected


def test_moving_factor_increases_with_step_then_sequence() -> None:
    assert totp.moving_factor(10, 99) < totp.moving_factor(11, 0) < totp.moving_factor(11, 1)


@pytest.mark.parametrize("sequence", [-1, 100])
def test_sequence_out_of_range_is_refused(sequence: int) -> None:
    with pytest.raises(ValueError):
        totp.moving_factor(1, sequence)


def test_seed_has_160_bits_and_differs_each_time() -> None:
    seeds = {totp.new_seed() for _ in range(50)}
    assert len(seeds) == 50
    assert all(len(base64.b32decode(seed)) * 8 == 160 for seed in seeds)


def test_time_step_is_floor_of_30s() -> None:
    assert totp.time_step(0) == 0
    assert totp.time_step(29.999) == 0
    assert totp.time_step(30) == 1


def test_window_accepts_one_step_back_and_one_ahead_only() -> None:
    now = 1_000_000_005.0
    step = totp.time_step(now)
    assert [totp.step_window_ok(step + delta, now) for delta in (-2, -1, 0, 1, 2)] == [False, True, True, True, False]


def test_valid_until_is_the_end_of_the_next_step() -> None:
    assert totp.valid_until(100) == 102 * 30


def test_otp_matches_is_exact() -> None:
    good = totp.otp(RFC_SEED, 5, 3)
    assert totp.otp_matches(RFC_SEED, 5, 3, good)
    assert not totp.otp_matches(RFC_SEED, 5, 4, good)
    assert not totp.otp_matches(RFC_SEED, 5, 3, good[:-1] + str((int(good[-1]) + 1) % 10))
