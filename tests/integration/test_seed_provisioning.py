"""Issue 15 item 12: a leaked bearer token must not become a permanent e-card. Provisioning a
seed is a card event the holder sees (history and an SMS notice), gives the installation a fresh
seed (never the one the server used for online codes), is bound to the installation and the
session that asked, and ends with that session's logout or a device move."""
from __future__ import annotations

from sqlalchemy import select

from app.card.models import Device
from app.platform.db import db
from qr import payload, totp

from ..helpers import PERSON, ApiClient

SEED = "/api/mp/v1/card/seed"


def _seed(api: ApiClient, token: str, installation: str) -> dict:
    response = api.client.post(SEED, json={"installation_id": installation}, headers=api.bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def _offline(grant: dict, step: int, sequence: int) -> str:
    return payload.encode(payload.CodePayload(grant["pseudonym"], step, sequence, totp.otp(grant["seed"], step, sequence)))


def _events(api: ApiClient, token: str) -> list[str]:
    return [item["event"] for item in api.client.get("/api/mp/v1/card/events", headers=api.bearer(token)).json["items"]]


def _seeds_ever(api: ApiClient) -> list[str]:
    from app.identity.people import SEED as PURPOSE

    with api.app.app_context():
        return [api.rt.keyring.decrypt(d.seed_enc, PURPOSE) for d in db.session.scalars(select(Device).order_by(Device.id))]


def test_the_first_seed_is_fresh_and_not_the_online_code_seed(api: ApiClient) -> None:
    token = api.bound_citizen()
    online_code = api.code(token)
    online_seed = _seeds_ever(api)[0]
    grant = _seed(api, token, "install-aaaa")
    assert grant["seed"] != online_seed
    partner = api.partner()
    assert api.verify(partner, online_code).json["reason"] == "code_invalid"  # the server's copy ended with it


def test_provisioning_is_a_card_event_and_the_holder_gets_an_sms(api: ApiClient) -> None:
    token = api.bound_citizen()
    sent = len(api.rt.sms.sent)
    _seed(api, token, "install-aaaa")
    assert _events(api, token)[0] == "seed_provisioned"
    phone, text = api.rt.sms.sent[-1]
    assert len(api.rt.sms.sent) == sent + 1 and phone == PERSON["phone"]
    assert "install-aaaa" not in text
    _seed(api, token, "install-aaaa")  # the same installation again: nothing new handed out
    assert len(api.rt.sms.sent) == sent + 1


def test_logging_out_ends_the_copy_made_with_a_leaked_token(api: ApiClient) -> None:
    owner = api.bound_citizen(openid="o-owner")
    partner = api.partner()
    stolen = _seed(api, owner, "attacker-phone")  # the thief uses the owner's token
    assert api.client.delete("/api/mp/v1/auth/token", headers=api.bearer(owner)).status_code == 204
    step = totp.time_step(api.clock.time())
    assert api.verify(partner, _offline(stolen, step, 0)).json["reason"] == "code_invalid"
    token = api.login(openid="o-owner")  # the owner logs in again: the card works online
    assert api.verify(partner, api.code(token), terminal_id="gate-2").json["accepted"] is True
    assert "seed_ended" in _events(api, token)


def test_logging_out_records_seed_ended_and_another_session_keeps_its_copy(api: ApiClient) -> None:
    first = api.bound_citizen(openid="o-owner")
    grant = _seed(api, first, "install-aaaa")
    second = api.login(openid="o-owner")
    assert api.client.delete("/api/mp/v1/auth/token", headers=api.bearer(second)).status_code == 204
    partner = api.partner()
    step = totp.time_step(api.clock.time())
    assert api.verify(partner, _offline(grant, step, 0)).json["accepted"] is True  # not that session's copy
    assert api.client.delete("/api/mp/v1/auth/token", headers=api.bearer(first)).status_code == 204
    assert api.verify(partner, _offline(grant, step, 1), terminal_id="gate-2").json["reason"] == "code_invalid"
    third = api.login(openid="o-owner")
    assert "seed_ended" in _events(api, third)


def test_moving_the_device_ends_the_copy_and_tells_the_holder(api: ApiClient) -> None:
    token = api.bound_citizen()
    old = _seed(api, token, "install-aaaa")
    sent = len(api.rt.sms.sent)
    moved = api.client.post("/api/mp/v1/card/ecard/device", json={"installation_id": "install-bbbb"}, headers=api.bearer(token))
    assert moved.status_code == 200
    assert len(api.rt.sms.sent) == sent + 1
    partner = api.partner()
    step = totp.time_step(api.clock.time())
    assert api.verify(partner, _offline(old, step, 0)).json["reason"] == "code_invalid"
    assert api.verify(partner, _offline(moved.json, step, 0)).json["accepted"] is True
