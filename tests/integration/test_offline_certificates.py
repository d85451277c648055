"""DGC2 device certificates (issue 16, docs/offline-codes.md §6): challenge, proof of possession,
24-hour certificates for the installation holding the e-card, at most 2 unexpired per device,
active cards only, rate limited, a card event the holder sees."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select, update

from app.card.models import OFFLINE_ISSUING, Card, OfflineCertificate, OfflineKey
from app.identity.models import Citizen
from app.platform.db import db
from qr import offline

from ..helpers import ApiClient
from .test_login import error_code

INSTALLATION = "phone-inst-0001"
MP = "/api/mp/v1"
HOLDER = "openid-offline-holder"


class Phone:
    """A mini-program on one installation, with Python device keys (the JS module's equivalent)."""

    def __init__(self, api: ApiClient, token: str, installation_id: str = INSTALLATION) -> None:
        self.api, self.token, self.installation_id = api, token, installation_id

    def post(self, path: str, body: Any = None, client: Any = None) -> Any:
        return (client or self.api.client).post(f"{MP}{path}", json=body, headers=self.api.bearer(self.token))

    def set_up(self) -> Phone:
        assert self.post("/card/seed", {"installation_id": self.installation_id}).status_code == 200
        return self

    def challenge(self, client: Any = None) -> Any:
        return self.post("/card/offline/challenge", {"installation_id": self.installation_id}, client)

    def request(self, alg: str = offline.ED25519, client: Any = None) -> tuple[Any, offline.SigningKey]:
        answer = self.challenge(client)
        assert answer.status_code == 200, answer.json
        device = offline.generate(alg)
        nonce = answer.json["nonce"]
        proof = offline.proof_of_possession(device, offline.b64url_decode(nonce))
        body = {"nonce": nonce, "alg": alg, "device_public_key": offline.b64url_encode(device.public_key),
                "proof": offline.b64url_encode(proof)}
        return self.post("/card/offline/certificates", body, client), device

    def certificate(self, alg: str = offline.ED25519) -> tuple[offline.Certificate, offline.SigningKey]:
        response, device = self.request(alg)
        assert response.status_code == 200, response.json
        issued = response.json["certificates"][0]
        return offline.certificate_from_bytes(offline.b64url_decode(issued["certificate"])), device

    def code(self, alg: str = offline.ED25519, ctr: int = 0) -> tuple[str, offline.Certificate]:
        certificate, device = self.certificate(alg)
        return offline.make_code(certificate, device, t=int(self.api.clock.time()), ctr=ctr).text, certificate


@pytest.fixture
def phone(api: ApiClient) -> Phone:
    return Phone(api, api.bound_citizen(HOLDER)).set_up()


def _local_trust(api: ApiClient) -> offline.TrustList:
    """A trust list of the issuing keys as stored (the served one: tests/integration/test_offline_lists.py)."""
    with api.app.app_context():
        rows = db.session.scalars(select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING)).all()
        keys = {row.id: offline.IssuingKey(row.id, offline.VerifyingKey(row.alg, offline.b64url_decode(row.public_key)),
                                           int(row.not_before.timestamp()), int(row.not_after.timestamp())) for row in rows}
    deny = offline.generate(offline.ED25519)
    return offline.TrustList(1, 0, 0, keys, deny.verifying_key())


@pytest.mark.parametrize("alg", [offline.ED25519, offline.SM2])
def test_a_certificate_for_a_fresh_device_key_makes_codes_that_verify(api: ApiClient, phone: Phone, alg: str) -> None:
    text, certificate = phone.code(alg)
    now = int(api.clock.time())
    assert certificate.alg == alg and certificate.nbf == now and certificate.exp - certificate.nbf == 24 * 3600
    assert offline.scene_names(certificate.scenes) == ["transit", "culture", "public_venue"]
    assert certificate.fare_class == 0 and certificate.flags == 0  # PERSON was born in 1985: standard fare
    decision = offline.verify_code(text, _local_trust(api), now)
    assert decision.accepted, decision


def test_the_answer_has_the_documented_shape(api: ApiClient, phone: Phone) -> None:
    response, device = phone.request()
    body = response.json
    assert set(body) == {"certificates", "server_time", "refresh_after"} and len(body["certificates"]) == 1
    issued = body["certificates"][0]
    assert set(issued) == {"certificate", "serial", "not_before", "expires"}
    certificate = offline.certificate_from_bytes(offline.b64url_decode(issued["certificate"]))
    assert issued["serial"] == certificate.serial.hex() and len(issued["serial"]) == 16
    assert (issued["not_before"], issued["expires"]) == (certificate.nbf, certificate.exp)
    assert certificate.dpk == device.public_key and body["server_time"] == int(api.clock.time())
    assert issued["not_before"] < body["refresh_after"] < issued["expires"]


def test_serials_are_random_and_each_certificate_has_its_own_device_key(phone: Phone) -> None:
    first, _ = phone.certificate()
    second, _ = phone.certificate()
    assert first.serial != second.serial and first.dpk != second.dpk


def test_the_fare_class_follows_the_holder_s_concession(api: ApiClient, phone: Phone) -> None:
    with api.app.app_context():
        db.session.execute(update(Citizen).values(disability=True))
        db.session.commit()
    certificate, _ = phone.certificate()
    assert certificate.fare_class == 3
    api.app.config["CARD_SCENES_ENABLED"] = frozenset({"transit", "medical"})
    certificate, _ = phone.certificate()
    assert offline.scene_names(certificate.scenes) == ["transit"]  # only open offline scenes


@pytest.mark.parametrize("action", ["suspend", "cancel"])
def test_a_suspended_or_cancelled_card_gets_no_certificate(api: ApiClient, phone: Phone, action: str) -> None:
    if action == "suspend":
        assert phone.post("/card/ecard/suspension").status_code == 200
    else:
        with api.app.app_context():
            db.session.execute(update(Card).values(status="cancelled"))
            db.session.commit()
    response, _ = phone.request()
    assert response.status_code == 403 and error_code(response) == "card_inactive"


def test_only_the_installation_holding_the_e_card_gets_a_certificate(api: ApiClient, phone: Phone) -> None:
    other = Phone(api, phone.token, "another-installation")
    response, _ = other.request()
    assert response.status_code == 403 and error_code(response) == "installation_not_current"
    fresh = Phone(api, api.login("someone-unbound"))
    assert error_code(fresh.challenge()) == "not_bound"


def test_a_nonce_is_used_once_by_its_own_account_with_a_proof_over_it(api: ApiClient, phone: Phone) -> None:
    nonce = phone.challenge().json["nonce"]
    device = offline.generate(offline.ED25519)

    def body(nonce_for_proof: str, key: offline.SigningKey = device) -> dict:
        proof = offline.proof_of_possession(key, offline.b64url_decode(nonce_for_proof))
        return {"nonce": nonce, "alg": "ed25519", "device_public_key": offline.b64url_encode(device.public_key),
                "proof": offline.b64url_encode(proof)}

    other_token = api.login("other-openid")
    stranger = api.client.post(f"{MP}/card/offline/certificates", json=body(nonce), headers=api.bearer(other_token))
    assert error_code(stranger) == "challenge_invalid"  # another account's nonce
    nonce = phone.challenge().json["nonce"]
    wrong = phone.post("/card/offline/certificates", body(offline.b64url_encode(bytes(16))))
    assert wrong.status_code == 422 and error_code(wrong) == "proof_invalid"
    nonce = phone.challenge().json["nonce"]
    assert error_code(phone.post("/card/offline/certificates", body(nonce, offline.generate(offline.ED25519)))) == "proof_invalid"
    nonce = phone.challenge().json["nonce"]
    assert phone.post("/card/offline/certificates", body(nonce)).status_code == 200
    assert error_code(phone.post("/card/offline/certificates", body(nonce))) == "challenge_invalid"  # used
    api.clock.advance(121)
    nonce = phone.challenge().json["nonce"]
    api.clock.advance(121)
    if api.rt.config["REDIS_URL"] is None:  # the SQL store expires by the injected clock
        assert error_code(phone.post("/card/offline/certificates", body(nonce))) == "challenge_invalid"


def test_malformed_keys_and_proofs_are_422_not_500(phone: Phone) -> None:
    nonce = phone.challenge().json["nonce"]
    for body in ({"nonce": nonce, "alg": "ed25519", "device_public_key": "AAAA", "proof": "AAAA"},
                 {"nonce": nonce, "alg": "rsa", "device_public_key": "AAAA", "proof": "AAAA"},
                 {"nonce": nonce + "=", "alg": "ed25519", "device_public_key": "AAAA", "proof": "AAAA"},
                 {"nonce": nonce, "alg": "ed25519", "device_public_key": "\u0000", "proof": "AAAA"}):
        assert phone.post("/card/offline/certificates", body).status_code == 422, body


def test_a_third_unexpired_certificate_is_refused_until_one_expires(api: ApiClient, phone: Phone) -> None:
    phone.certificate()
    phone.certificate()
    response, _ = phone.request()
    assert response.status_code == 409 and error_code(response) == "too_many_certificates"
    api.clock.advance(24 * 3600 + 1)
    phone.token = api.login(HOLDER)  # the token lasts a day too
    phone.certificate()


@pytest.mark.parametrize("app", ["production"], indirect=True)  # row locks and real concurrency: PostgreSQL
def test_32_concurrent_requests_get_at_most_2_certificates(api: ApiClient, phone: Phone) -> None:
    def one(_: int) -> int:
        client = api.app.test_client()
        response, _ = phone.request(client=client)
        return response.status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(one, range(32)))
    assert statuses.count(200) == 2 and statuses.count(409) == 30, statuses
    with api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(OfflineCertificate)) == 2


def test_certificate_requests_are_rate_limited(api: ApiClient, phone: Phone) -> None:
    statuses = [phone.request()[0].status_code for _ in range(41)]
    assert statuses[:2] == [200, 200] and set(statuses[2:40]) == {409} and statuses[40] == 429


def test_the_holder_sees_each_certificate_in_the_card_history(api: ApiClient, phone: Phone) -> None:
    certificate, _ = phone.certificate()
    events = api.client.get(f"{MP}/card/events", headers=api.bearer(phone.token)).json["items"]
    assert events[0]["event"] == "offline_certificate" and certificate.serial.hex() in events[0]["reason"]
