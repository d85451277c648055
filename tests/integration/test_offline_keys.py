"""DGC2 keys on the platform (issue 16): created on first use in development, by `citizencard offline
keys init` in production, rotated by `... keys rotate`, private keys encrypted at rest."""
from __future__ import annotations

import json

from sqlalchemy import select

from app.card.models import OFFLINE_ISSUING, OfflineKey
from app.card.offline_keys import PRIVATE_PURPOSE, issuing_algs, issuing_key, root_key_json
from app.platform.clock import FrozenClock
from app.platform.db import db
from qr import offline

from ..helpers import ApiClient
from .test_keys import cli


class AdvancingClock(FrozenClock):
    """Every read is one second later than the one before (a slow request)."""

    def time(self) -> float:
        self.at += 1
        return self.at


def _issuing(alg: str) -> list[OfflineKey]:
    return list(db.session.scalars(select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING, OfflineKey.alg == alg)))


def test_a_key_created_a_moment_after_the_clock_was_read_is_the_issuing_key(api: ApiClient) -> None:
    api.rt.clock = AdvancingClock(api.clock.time())
    with api.app.app_context():
        first = issuing_key(api.rt, offline.ED25519)
        assert first.row.not_before <= api.rt.clock.now()  # a certificate's nbf, read afterwards, is within the key
        again = issuing_key(api.rt, offline.ED25519)
        assert again.kid == first.kid and len(_issuing(offline.ED25519)) == 1  # no second key for a clock that moved
        assert {row.alg for row in db.session.scalars(select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING))} == set(issuing_algs())


def test_development_serves_a_root_key_right_after_migrating(api: ApiClient) -> None:
    result = cli(api, "offline", "root-key")
    assert result.exit_code == 0, result.output
    root = offline.read_root_key(json.loads(result.output))
    assert root.key.alg == offline.ED25519 and len(root.fingerprint().split()) == 16


def test_production_needs_keys_init_once_and_rotation_adds_issuing_keys(api: ApiClient) -> None:
    api.app.config["CARD_ENV"] = "production"
    refused = cli(api, "offline", "root-key")
    assert refused.exit_code != 0 and "citizencard offline keys init" in refused.output
    created = cli(api, "offline", "keys", "init")
    assert created.exit_code == 0, created.output
    assert "root key" in created.output and "deny key" in created.output
    again = cli(api, "offline", "keys", "init")
    assert again.exit_code != 0 and "exist already" in again.output
    printed = json.loads(cli(api, "offline", "root-key").output)
    assert set(printed) == {"root_kid", "alg", "public_key"}
    with api.app.app_context():
        assert printed == root_key_json(api.rt)
        before = issuing_key(api.rt, offline.ED25519).kid
    api.clock.advance(60)
    assert cli(api, "offline", "keys", "rotate").exit_code == 0
    with api.app.app_context():
        assert issuing_key(api.rt, offline.ED25519).kid > before  # the newest signs
        assert len(_issuing(offline.ED25519)) == 2


def test_private_keys_are_encrypted_at_rest_and_never_printed(api: ApiClient) -> None:
    output = cli(api, "offline", "keys", "init").output
    with api.app.app_context():
        rows = list(db.session.scalars(select(OfflineKey)))
        assert len(rows) == 2 + len(issuing_algs())
        for row in rows:
            assert row.private_enc.startswith(f"{api.rt.keyring.current}$")
            raw = api.rt.keyring.decrypt(row.private_enc, PRIVATE_PURPOSE)
            assert offline.b64url_encode(offline.SigningKey(row.alg, offline.b64url_decode(raw)).public_key) == row.public_key
            assert raw not in output
    report = cli(api, "keys", "reencrypt")
    assert "offline_keys.private_enc: 0 re-encrypted" in report.output

