"""Validation of the 18-character PRC resident identity number (公民身份号码).

The number is defined by GB 11643-1999 *Citizen identification number*:

=========  ===============================================================
positions  meaning
=========  ===============================================================
1-6        address (region) code per GB/T 2260
7-14       birth date ``YYYYMMDD``
15-17      sequence code; the 17th digit is odd for men, even for women
18         check character per ISO 7064:1983 MOD 11-2 (``0``-``9`` or ``X``)
=========  ===============================================================

Pure Python, no framework imports. Every rejection is an :class:`IdNumberError`
(a :class:`ValueError`) whose ``.reason`` is one of the stable strings in
:data:`REASONS`. :func:`validate` applies the checks in this order and reports
the first one that fails:

1. ``wrong_length``   -- not exactly 18 characters after :func:`normalize`.
2. ``bad_characters`` -- the first 17 are not ASCII digits ``0-9`` or the last
   is not an ASCII digit or ``X`` (a trailing ``x`` is upper-cased first).
   Non-ASCII digits such as full-width ``１`` are rejected here.
3. ``bad_region``     -- positions 1-2 are not a GB/T 2260 province-level code
   (see :data:`PROVINCE_CODES`). Positions 3-6 (prefecture and county) are only
   required to be digits, which step 2 already guarantees; there is deliberately
   no county table, so e.g. ``440000`` or ``449999`` pass this check.
4. ``bad_birth_date`` -- positions 7-14 are not a real calendar date, or the year
   is before 1900, or the date is after ``today``.
5. ``bad_check_digit`` -- position 18 is not the ISO 7064 MOD 11-2 check
   character of positions 1-17 (see :func:`check_digit`).
"""
from __future__ import annotations

import re
from datetime import date

__all__ = [
    "IdNumberError",
    "REASONS",
    "PROVINCE_CODES",
    "normalize",
    "validate",
    "check_digit",
    "birth_date",
    "sex",
    "mask",
]

LENGTH = 18
MIN_BIRTH_YEAR = 1900

#: Stable machine-readable rejection reasons, in the order they are checked.
REASONS = (
    "wrong_length",
    "bad_characters",
    "bad_region",
    "bad_birth_date",
    "bad_check_digit",
)

#: Province-level prefixes of GB/T 2260, plus 83 (Taiwan residents' residence
#: permits, whose numbers start 830000; HK and Macau permits use 81/82).
PROVINCE_CODES = frozenset(
    [f"{n}" for n in range(11, 16)]  # 北京 天津 河北 山西 内蒙古
    + [f"{n}" for n in range(21, 24)]  # 辽宁 吉林 黑龙江
    + [f"{n}" for n in range(31, 38)]  # 上海 江苏 浙江 安徽 福建 江西 山东
    + [f"{n}" for n in range(41, 47)]  # 河南 湖北 湖南 广东 广西 海南
    + [f"{n}" for n in range(50, 55)]  # 重庆 四川 贵州 云南 西藏
    + [f"{n}" for n in range(61, 66)]  # 陕西 甘肃 青海 宁夏 新疆
    + ["71", "81", "82", "83"]  # 台湾 香港 澳门, 83 = Taiwan residence permit
)

#: ISO 7064 MOD 11-2 weights for positions 1-17 (2**(18-i) mod 11).
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character indexed by (weighted sum mod 11).
CHECK_MAP = "10X98765432"

_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_FIRST17 = re.compile(r"[0-9]{17}")


class IdNumberError(ValueError):
    """An identity number rejected under GB 11643-1999.

    ``reason`` is one of :data:`REASONS` and is stable; the message is for
    humans. The message never contains the number itself (personal data).
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        if reason not in REASONS:
            raise AssertionError(f"unknown IdNumberError reason {reason!r}")
        self.reason = reason
        super().__init__(message or reason.replace("_", " "))


def normalize(raw: str) -> str:
    """Strip surrounding whitespace and upper-case a trailing ``x``.

    Nothing else is changed; the result is not validated. Non-string input
    raises ``IdNumberError("bad_characters")``.
    """
    if not isinstance(raw, str):
        raise IdNumberError("bad_characters", "identity number must be text")
    text = raw.strip()
    if text.endswith("x"):
        text = text[:-1] + "X"
    return text


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character (GB 11643-1999 §8.2) of 17 digits.

    ``sum(digit_i * WEIGHTS[i]) mod 11`` indexes ``"10X98765432"``. Raises
    ``IdNumberError`` (``wrong_length`` / ``bad_characters``) if ``first17`` is
    not exactly 17 ASCII digits.
    """
    if len(first17) != LENGTH - 1:
        raise IdNumberError("wrong_length", "check_digit needs exactly 17 digits")
    if not _FIRST17.fullmatch(first17):
        raise IdNumberError("bad_characters", "check_digit needs ASCII digits only")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_MAP[total % 11]


def _require_shape(raw: str) -> str:
    """Normalise and check length and character set (steps 1-2)."""
    number = normalize(raw)
    if len(number) != LENGTH:
        raise IdNumberError("wrong_length", "identity number must be 18 characters")
    if not _SHAPE.fullmatch(number):
        raise IdNumberError(
            "bad_characters", "identity number must be 17 digits then a digit or X"
        )
    return number


def _check_region(number: str) -> None:
    """Positions 1-2 must be a GB/T 2260 province-level code (step 3)."""
    if number[:2] not in PROVINCE_CODES:
        raise IdNumberError("bad_region", "unknown province code")


def _parse_birth_date(number: str) -> date:
    """Positions 7-14 as a real calendar date with year >= 1900."""
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if year < MIN_BIRTH_YEAR:
        raise IdNumberError("bad_birth_date", "birth year before 1900")
    try:
        return date(year, month, day)
    except ValueError:
        raise IdNumberError("bad_birth_date", "birth date is not a calendar date") from None


def _check_birth_date(number: str, today: date) -> None:
    """Birth date must be real, from 1900 on and not after ``today`` (step 4)."""
    if _parse_birth_date(number) > today:
        raise IdNumberError("bad_birth_date", "birth date is in the future")


def _check_check_digit(number: str) -> None:
    """Position 18 must be the MOD 11-2 check character (step 5)."""
    if number[17] != check_digit(number[:17]):
        raise IdNumberError("bad_check_digit", "check digit does not match")


def validate(raw: str, today: date | None = None) -> str:
    """Validate an identity number per GB 11643-1999; return it normalised.

    ``today`` (default :func:`datetime.date.today`) bounds the birth date.
    Raises :class:`IdNumberError` for the first failing check in the order
    documented in the module docstring, and never any other exception.
    """
    number = _require_shape(raw)
    _check_region(number)
    _check_birth_date(number, date.today() if today is None else today)
    _check_check_digit(number)
    return number


def birth_date(id_number: str) -> date:
    """The birth date encoded in positions 7-14 of a GB 11643-1999 number.

    Intended for numbers already passed through :func:`validate`; only the
    shape and the date itself are re-checked (no region, future or check-digit
    test). Raises :class:`IdNumberError` on failure.
    """
    return _parse_birth_date(_require_shape(id_number))


def sex(id_number: str) -> str:
    """``"M"`` if the 17th digit (sequence code parity) is odd, else ``"F"``.

    Per GB 11643-1999 §4.3 odd sequence codes go to men, even to women.
    Only the shape is re-checked; validate the number first.
    """
    return "M" if int(_require_shape(id_number)[16]) % 2 else "F"


def mask(id_number: str) -> str:
    """Show the first 6 and last 4 characters, replace the rest with ``*``.

    ``"441900198506151235"`` -> ``"441900********1235"``. Works on any text
    (normalised first) so it is safe for logs: input of 10 characters or fewer
    is masked completely rather than shown.
    """
    text = normalize(id_number) if isinstance(id_number, str) else ""
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]
