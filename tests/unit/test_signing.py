"""The partner signature (docs/partner-api.md §Signing): exact bytes and a worked example."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.platform.errors import AppError
from scenes.signing import authorization_header, parse_authorization, sign, string_to_sign


def test_string_to_sign_ends_every_part_with_a_newline() -> None:
    assert string_to_sign("POST", "/api/partner/v1/verifications", "1700000000", "n0nce-123", b'{"a":1}') == (
        b'POST\n/api/partner/v1/verifications\n1700000000\nn0nce-123\n{"a":1}\n')


def test_signature_is_base64_hmac_sha256_of_the_string() -> None:
    message = b"GET\n/x?y=1\n1\nabcdefgh\n\n"
    expected = base64.b64encode(hmac.new(b"secret", message, hashlib.sha256).digest()).decode()
    assert sign("secret", "GET", "/x?y=1", "1", "abcdefgh", b"") == expected


def test_documented_example() -> None:
    """The example in docs/partner-api.md, so partners can check their client against it."""
    body = b'{"code":"DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790","scene":"transit","terminal_id":"gate-A01"}'
    header = authorization_header("p_0123456789abcdef", "example-secret-do-not-use", "POST",
                                  "/api/partner/v1/verifications", body, 1779370355, "5f2b8c0e9d1a4b7c")
    assert header == ('CC-HMAC-SHA256 partner_id="p_0123456789abcdef",timestamp="1779370355",'
                      'nonce="5f2b8c0e9d1a4b7c",signature="FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg="')


def test_header_round_trip() -> None:
    header = authorization_header("p_1", "s", "POST", "/p", b"{}", 123, "abcdefgh")
    assert parse_authorization(header)["partner_id"] == "p_1"


@given(st.text(max_size=300))
def test_parse_never_crashes_and_only_raises_401(header: str) -> None:
    try:
        params = parse_authorization(header)
    except AppError as exc:
        assert exc.http_status == 401
        return
    assert set(params) == {"partner_id", "timestamp", "nonce", "signature", "scheme"}


@pytest.mark.parametrize("header", [
    'CC-HMAC-SHA256 partner_id="a",partner_id="b",timestamp="1",nonce="abcdefgh",signature="s"',
    'CC-HMAC-SHA256 partner_id="a",timestamp="1",nonce="abcdefgh",signature="s",extra="x"',
])
def test_duplicate_or_extra_parameters_are_malformed(header: str) -> None:
    with pytest.raises(AppError) as info:
        parse_authorization(header)
    assert info.value.code == "signature_malformed"


@pytest.mark.parametrize(("header", "said"), [
    ('CC-HMAC-SHA256 partner_id="a",timestamp="1779370355000",nonce="abcdefgh",signature="s"', "not milliseconds"),
    ('CC-HMAC-SHA256 partner_id="a",timestamp="1",nonce="short",signature="s"', "nonce must be 8-64"),
    ('CC-HMAC-SHA256 partner_id="a",timestamp="1",nonce="abcdefgh"', "each once"),
    ('cc-hmac-sha256 partner_id="a",timestamp="1",nonce="abcdefgh",signature="s"', "case-sensitive"),
])
def test_a_malformed_header_is_told_which_part_is_wrong(header: str, said: str) -> None:
    """An integrator's commonest slips (Java's currentTimeMillis, a short nonce, a lower-case
    scheme) are named in the message, found by a trial of the kit (issue 20)."""
    with pytest.raises(AppError) as info:
        parse_authorization(header)
    assert said in info.value.message
