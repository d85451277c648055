"""Rotating the data-encryption key: old rows stay readable, re-encryption moves them forward."""
from __future__ import annotations

import base64
from typing import Any

from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from app.card.models import Device
from app.cli import main
from app.identity import people
from app.identity.models import Citizen
from app.partners.models import Partner
from app.platform.crypto import Keyring
from app.platform.db import db
from app.service_desk.models import Staff

from ..helpers import PERSON, ApiClient, new_staff


def cli(api: ApiClient, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: api.app))


def test_keys_rotate_prints_a_usable_entry(api: ApiClient) -> None:
    entry = cli(api, "keys", "rotate").output.strip()
    ring = Keyring.from_setting(entry)
    assert ring.decrypt(ring.encrypt("x", "p"), "p") == "x"


def test_rotation_then_reencryption_lets_the_old_key_go(api: ApiClient) -> None:
    token = api.bound_citizen()
    partner = api.partner()
    new_staff(api.app, "chen.agent", "agent")
    old_setting = api.app.config["CARD_DATA_KEYS"]
    new_entry = "k2:" + base64.b64encode(b"N" * 32).decode()
    api.rt.keyring = Keyring.from_setting(f"{new_entry},{old_setting}")  # as after a restart with the new setting
    assert api.bind(token).status_code == 200  # old rows still readable
    report = cli(api, "keys", "reencrypt")
    assert report.exit_code == 0 and "citizens.id_number_enc: 12 re-encrypted" in report.output
    api.rt.keyring = Keyring.from_setting(new_entry)  # the old key is gone
    with api.app.app_context():
        citizen = db.session.scalar(select(Citizen).where(Citizen.id_number_index == people.id_index(api.rt, PERSON["id_number"])))
        assert api.rt.keyring.decrypt(citizen.id_number_enc, people.ID_NUMBER) == PERSON["id_number"]
        values = [*db.session.scalars(select(Device.seed_enc)), *db.session.scalars(select(Partner.secret_enc))]
        assert values and all(value.startswith("k2$") for value in values)
        assert db.session.scalar(select(Staff.totp_seed_enc)).startswith("k2$")  # console log-in works without the old key
    assert api.verify(partner, api.code(token)).json["accepted"] is True  # seeds and secrets work under the new key
    assert "0 re-encrypted" in cli(api, "keys", "reencrypt").output  # nothing left to move
