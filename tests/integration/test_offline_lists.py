"""The trust list and the deny list gates hold (issue 16, docs/offline-codes.md §3): signed partner
requests, ETag and If-None-Match, monotonic versions, a deny list at least every minute and at
once after a revocation, deltas with ?since=, and codes judged by dgc2.gate with the served lists."""
from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from sqlalchemy import select

from app.card.models import Card, OfflineList
from app.card.offline_keys import root_key_json
from app.card.offline_lists import DENY_MIN_INTERVAL, revoke_card_certificates
from app.platform.db import db
from qr import offline
from scenes.signing import authorization_header

from ..helpers import ApiClient
from .test_keys import cli
from .test_login import error_code
from .test_offline_certificates import HOLDER, Phone

TRUST_PATH = "/api/partner/v1/offline/trust-list"
DENY_PATH = "/api/partner/v1/offline/deny-list"


class GateOperator:
    """A partner fetching the lists as a gate's back office would."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.partner = api.partner(("transit",), name="Metro offline")
        with api.app.app_context():
            self.root = offline.read_root_key(root_key_json(api.rt))

    def get(self, path: str, etag: str | None = None) -> Any:
        header = authorization_header(self.partner["partner_id"], self.partner["secret"], "GET", path, b"",
                                      int(self.api.clock.time()), secrets.token_hex(12))
        headers = {"Authorization": header, **({"If-None-Match": etag} if etag else {})}
        return self.api.client.get(path, headers=headers)

    def trust(self) -> offline.TrustList:
        response = self.get(TRUST_PATH)
        assert response.status_code == 200, response.get_data(as_text=True)
        return offline.read_trust_list(response.get_data(), self.root)

    def deny(self, trust: offline.TrustList) -> offline.DenyList:
        response = self.get(DENY_PATH)
        assert response.status_code == 200 and response.mimetype == "application/octet-stream"
        return offline.read_deny_list(response.get_data(), trust.deny_list_key)

    def gate(self, terminal_id: str = "gate-A01") -> offline.Gate:
        trust = self.trust()
        return offline.Gate(terminal_id, "transit", trust, self.deny(trust), clock=self.api.clock.time)


@pytest.fixture
def phone(api: ApiClient) -> Phone:
    return Phone(api, api.bound_citizen(HOLDER)).set_up()


@pytest.fixture
def operator(api: ApiClient) -> GateOperator:
    return GateOperator(api)


def _revoke_in_service(api: ApiClient) -> None:
    with api.app.app_context():
        card_id = db.session.scalar(db.select(Card.id))
        revoke_card_certificates(api.rt, card_id)
        db.session.commit()


def _latest_stored(api: ApiClient, trust: offline.TrustList) -> offline.DenyList:
    """The newest deny-list version in the database (what was published, before any GET)."""
    with api.app.app_context():
        body = db.session.scalar(select(OfflineList.body).where(OfflineList.kind == "deny")
                                 .order_by(OfflineList.version.desc()).limit(1))
        return offline.read_deny_list(bytes(body), trust.deny_list_key)


@pytest.mark.parametrize("alg", [offline.ED25519, offline.SM2])
def test_a_code_from_a_python_device_key_is_accepted_by_a_gate_holding_the_served_lists(
        api: ApiClient, phone: Phone, operator: GateOperator, alg: str) -> None:
    text, certificate = phone.code(alg)
    gate = operator.gate()
    assert certificate.kid in gate.trust.keys and gate.trust.keys[certificate.kid].alg == alg
    assert gate.scan(text).to_json() == {"accepted": True, "reason": None, "step": 13}
    assert gate.scan(text).reason == "code_used"


def test_the_trust_list_names_the_deny_list_key_and_answers_304_to_its_etag(api: ApiClient, operator: GateOperator) -> None:
    first = operator.get(TRUST_PATH)
    document = first.json
    assert set(document) == {"payload", "root_kid", "alg", "signature"} and document["root_kid"] == operator.root.root_kid
    payload = json.loads(offline.b64url_decode(document["payload"]))
    assert set(payload) == {"version", "issued_at", "next_update", "keys", "deny_list_key"}
    assert payload["next_update"] - payload["issued_at"] == 3600
    etag = first.headers["ETag"]
    again = operator.get(TRUST_PATH, etag)
    assert again.status_code == 304 and again.headers["ETag"] == etag and not again.get_data()
    api.clock.advance(3600)  # at next_update: a new version, the same keys
    later = operator.get(TRUST_PATH, etag)
    assert later.status_code == 200 and offline.read_trust_list(later.get_data(), operator.root).version > payload["version"]


def test_a_rotation_publishes_a_trust_list_with_the_old_and_new_keys(api: ApiClient, operator: GateOperator) -> None:
    before = operator.trust()
    api.clock.advance(60)
    assert cli(api, "offline", "keys", "rotate").exit_code == 0
    after = operator.trust()
    assert after.version > before.version and set(before.keys) < set(after.keys)


def test_the_deny_list_is_published_at_least_every_minute(api: ApiClient, operator: GateOperator) -> None:
    trust = operator.trust()
    first = operator.deny(trust)
    assert len(first) == 0 and first.next_update - first.issued_at == 60
    api.clock.advance(30)
    assert operator.deny(trust).version == first.version
    api.clock.advance(31)
    second = operator.deny(trust)
    assert second.version == first.version + 1 and second.issued_at == first.issued_at + 61
    etag = operator.get(DENY_PATH).headers["ETag"]
    assert operator.get(DENY_PATH, etag).status_code == 304
    assert operator.get(f"{DENY_PATH}?since={second.version}").status_code == 304


def test_a_revocation_is_on_the_next_version_and_a_delta_carries_it(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    text, certificate = phone.code()
    gate = operator.gate()
    held = gate.deny
    _revoke_in_service(api)  # counted as pending: the next version lists it, DENY_MIN_INTERVAL s after the last
    assert operator.get(f"{DENY_PATH}?since={held.version}").status_code == 304  # batched: not one version per revocation
    api.clock.advance(DENY_MIN_INTERVAL)
    response = operator.get(f"{DENY_PATH}?since={held.version}")
    assert _latest_stored(api, gate.trust).version == held.version + 1
    assert response.status_code == 200
    delta = offline.read_deny_delta(response.get_data(), gate.trust.deny_list_key)
    assert delta.from_version == held.version and delta.adds == certificate.serial and delta.removes == b""
    gate.set_deny_list(held.apply(delta))
    assert gate.scan(text).to_json() == {"accepted": False, "reason": "card_inactive", "step": 11}
    assert operator.get(f"{DENY_PATH}?since={delta.to_version}").status_code == 304
    assert operator.get(f"{DENY_PATH}?since=999999").get_data()[:4] == b"DGCD"  # not kept: the full list
    assert certificate.serial in operator.deny(gate.trust)
    api.clock.advance(24 * 3600 + 1)  # only unexpired certificates are listed
    assert len(operator.deny(gate.trust)) == 0


def test_an_expired_revoked_serial_leaves_the_list_in_a_delta(api: ApiClient, phone: Phone, operator: GateOperator) -> None:
    phone.code()
    trust = operator.trust()
    _revoke_in_service(api)
    held = operator.deny(trust)  # the first version: built with the revocation already committed
    assert len(held) == 1
    api.clock.advance(24 * 3600 + 1)
    delta = offline.read_deny_delta(operator.get(f"{DENY_PATH}?since={held.version}").get_data(), trust.deny_list_key)
    assert delta.adds == b"" and len(delta.removes) == 8 and len(held.apply(delta)) == 0


def test_the_lists_need_a_signed_request(api: ApiClient, operator: GateOperator) -> None:
    for path in (TRUST_PATH, DENY_PATH):
        response = api.client.get(path)
        assert response.status_code == 401 and error_code(response) == "signature_missing"
    assert operator.get(f"{DENY_PATH}?since=-1").status_code == 422


def test_the_publish_command_prints_the_versions(api: ApiClient) -> None:
    result = cli(api, "offline", "publish")
    assert result.exit_code == 0 and "trust list version 1, deny list version 1" in result.output


# --- revocation (issue 16: e-card suspension, device move, cancellation revoke; a loss report does not) ---


def _act(api: ApiClient, phone: Phone, action: str) -> None:
    if action == "suspension":
        assert phone.post("/card/ecard/suspension").status_code == 200
    elif action == "device_move":
        assert phone.post("/card/ecard/device", {"installation_id": "the-new-phone-02"}).status_code == 200
    elif action == "new_installation":
        assert phone.post("/card/seed", {"installation_id": "reinstalled-03"}).status_code == 200
    elif action == "logout":  # ends the session's seed copy (seed_ended): a device replacement
        assert api.client.delete("/api/mp/v1/auth/token", headers=api.bearer(phone.token)).status_code == 204
    elif action == "cancellation":
        number = api.client.get("/api/mp/v1/card/carriers", headers=api.bearer(phone.token)).json["card_number"]
        result = cli(api, "card", "cancel", number, "--reason", "holder died")
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("action", ["suspension", "device_move", "new_installation", "logout", "cancellation"])
def test_after_a_revoking_change_the_next_deny_list_refuses_the_code(api: ApiClient, phone: Phone, operator: GateOperator,
                                                                     action: str) -> None:
    text, certificate = phone.code()
    second, _ = phone.code()
    gate = operator.gate()
    assert gate.scan(text).accepted
    held = gate.deny
    _act(api, phone, action)
    api.clock.advance(DENY_MIN_INTERVAL)
    assert cli(api, "offline", "publish").exit_code == 0  # one tick of `offline publish --every 5`, no GET
    assert certificate.serial in _latest_stored(api, gate.trust)
    delta = offline.read_deny_delta(operator.get(f"{DENY_PATH}?since={held.version}").get_data(), gate.trust.deny_list_key)
    gate.set_deny_list(held.apply(delta))
    assert len(delta.adds) == 16  # both certificates of the card
    assert gate.scan(second).to_json() == {"accepted": False, "reason": "card_inactive", "step": 11}


def test_a_physical_card_loss_report_does_not_revoke_the_e_card_s_certificates(api: ApiClient, operator: GateOperator) -> None:
    from .test_lifecycle import Story

    story = Story(api)
    phone = Phone(api, story.token).set_up()
    text, certificate = phone.code()
    story.activated()
    assert story.mp("POST", "/card/physical/loss-report").status_code == 200
    gate = operator.gate()
    assert certificate.serial not in gate.deny
    assert gate.scan(text).accepted


def test_after_resuming_the_card_gets_new_certificates(api: ApiClient, phone: Phone) -> None:
    phone.certificate()
    phone.certificate()
    assert phone.post("/card/ecard/suspension").status_code == 200
    assert phone.post("/card/ecard/suspension").status_code == 409
    api.client.delete("/api/mp/v1/card/ecard/suspension", headers=api.bearer(phone.token))
    phone.certificate()  # the revoked ones no longer count against the device's two


@pytest.mark.parametrize("app", ["production"], indirect=True)  # row locks: PostgreSQL
def test_no_certificate_outlives_a_suspension_made_while_it_was_issued(api: ApiClient, phone: Phone) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from app.card.models import OfflineCertificate

    phone.certificate()

    def one(index: int) -> int:
        client = api.app.test_client()
        if index == 8:
            return phone.post("/card/ecard/suspension", client=client).status_code
        return phone.request(client=client)[0].status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(16)))
    assert 200 in statuses
    with api.app.app_context():
        live = db.session.scalar(select(db.func.count()).select_from(OfflineCertificate)
                                 .where(OfflineCertificate.revoked_at.is_(None)))
    assert live == 0, statuses


@pytest.mark.parametrize("alg", [offline.ED25519, offline.SM2])
def test_the_js_phone_module_gets_a_certificate_and_its_codes_pass_the_gate(api: ApiClient, phone: Phone,
                                                                          operator: GateOperator, alg: str) -> None:
    """miniprogram/dgc2 (bin/dgc2-phone.js): certificateRequest's body is what the endpoint takes, and its codes verify."""
    from ..unit.test_dgc2_js import _node

    nonce = phone.challenge().json["nonce"]
    made = _node("bin/dgc2-phone.js", stdin=json.dumps({"op": "request", "alg": alg, "nonce": nonce}))
    assert made.returncode == 0, made.stderr
    js = json.loads(made.stdout)
    response = phone.post("/card/offline/certificates", js["request"])
    assert response.status_code == 200, response.json
    certificate = response.json["certificates"][0]["certificate"]
    now = int(api.clock.time())
    codes = json.loads(_node("bin/dgc2-phone.js", stdin=json.dumps({
        "op": "codes", "device": js["device"], "certificate": certificate,
        "codes": [{"t": now, "ctr": 0}, {"t": now, "ctr": 1}]})).stdout)["codes"]
    gate = operator.gate()
    assert [gate.scan(code).step for code in codes] == [13, 13]
    assert gate.scan(codes[0]).reason == "code_used"


def test_production_without_keys_init_answers_503_offline_unavailable(api: ApiClient, phone: Phone) -> None:
    api.app.config["CARD_ENV"] = "production"
    operator_partner = api.partner(("transit",), name="Early gate")
    for path in (TRUST_PATH, DENY_PATH):
        header = authorization_header(operator_partner["partner_id"], operator_partner["secret"], "GET", path, b"",
                                      int(api.clock.time()), secrets.token_hex(12))
        response = api.client.get(path, headers={"Authorization": header})
        assert response.status_code == 503 and error_code(response) == "offline_unavailable"
    response, _ = phone.request()
    assert response.status_code == 503 and error_code(response) == "offline_unavailable"
    assert cli(api, "offline", "keys", "init").exit_code == 0
    assert phone.request()[0].status_code == 200


def test_with_a_clock_that_moves_between_reads_the_first_certificate_of_a_fresh_install_verifies(
        api: ApiClient, phone: Phone) -> None:
    from .test_offline_keys import AdvancingClock

    moving = AdvancingClock(api.clock.time())
    api.rt.clock = moving
    certificate, device = phone.certificate()  # the keys are created inside this request, a moment after it began
    operator = GateOperator(api)
    trust = operator.trust()
    assert trust.keys[certificate.kid].not_before <= certificate.nbf
    now = int(moving.time())
    text = offline.make_code(certificate, device, t=now, ctr=0).text
    decision = offline.check(text, trust, operator.deny(trust), "transit", now)
    assert decision.accepted, decision


@pytest.mark.parametrize("app", ["production"], indirect=True)  # real concurrent publishers: PostgreSQL
def test_32_concurrent_publishers_each_publish_the_next_version(api: ApiClient, operator: GateOperator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from app.card.offline_lists import publish_deny_list

    def one(_: int) -> int:
        with api.app.app_context():
            return publish_deny_list(api.rt, force=True).version

    with ThreadPoolExecutor(32) as pool:
        versions = sorted(pool.map(one, range(32)))
    assert versions == list(range(versions[0], versions[0] + 32))


# --- scaling (issue 16 follow-up): built once, cached per version, revocations batched ---


@pytest.mark.parametrize("app", ["production"], indirect=True)  # real concurrent pollers: PostgreSQL
def test_32_concurrent_polls_of_a_due_version_build_and_sign_it_once(api: ApiClient, phone: Phone, operator: GateOperator,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    phone.code()
    trust = operator.trust()
    first = operator.deny(trust)
    api.clock.advance(61)
    second = operator.deny(trust)  # so that a poll since `first` needs a delta composed of two steps
    built: list[str] = []
    for name in ("write_deny_list", "write_deny_delta"):
        original = getattr(offline, name)
        monkeypatch.setattr(offline, name, lambda *a, _o=original, _n=name, **k: (built.append(_n), _o(*a, **k))[1])
    _revoke_in_service(api)
    api.clock.advance(DENY_MIN_INTERVAL)  # due: the revocation is pending and the last version 5 s old

    def poll(index: int) -> tuple[int, bytes]:
        since = (first.version, second.version, None)[index % 3]
        response = operator.get(DENY_PATH if since is None else f"{DENY_PATH}?since={since}")
        return response.status_code, response.get_data()

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(poll, range(32)))
    assert {status for index, (status, _) in enumerate(answers) if index % 3 != 1} == {200}
    assert {status for status, _ in answers[1::3]} <= {200, 304}  # since=second: 304 when it began before the publication
    # a poll that read the latest version just before the new one committed answers that one (from the cache);
    # the new version's answers are one full list, one step delta, one composed delta, each built once
    newest = {body for _, body in answers if int.from_bytes(body[8:12] if body[:4] == b"DGCd" else body[4:8]) == second.version + 1}
    assert len(newest) == 3
    # one full list and its step delta by the one publisher, one composed delta for all its pollers
    assert sorted(built) == ["write_deny_delta", "write_deny_delta", "write_deny_list"], built
    latest = operator.deny(trust)
    assert latest.version == second.version + 1 and len(latest) == 1


def test_revocations_within_the_interval_are_batched_into_the_next_version(api: ApiClient, phone: Phone,
                                                                          operator: GateOperator) -> None:
    first = phone.code()[1].serial
    trust = operator.trust()
    held = operator.deny(trust)
    assert phone.post("/card/ecard/suspension").status_code == 200  # revokes the first certificate
    api.clock.advance(DENY_MIN_INTERVAL - 1)
    assert api.client.delete("/api/mp/v1/card/ecard/suspension", headers=api.bearer(phone.token)).status_code == 200
    second = phone.code()[1].serial
    assert phone.post("/card/ecard/suspension").status_code == 200  # a second revocation, within the interval
    assert operator.get(f"{DENY_PATH}?since={held.version}").status_code == 304  # not yet: within the interval
    api.clock.advance(1)
    delta = offline.read_deny_delta(operator.get(f"{DENY_PATH}?since={held.version}").get_data(), trust.deny_list_key)
    assert delta.to_version == held.version + 1 and delta.adds == b"".join(sorted([first, second]))  # one version, both
    api.clock.advance(DENY_MIN_INTERVAL)  # nothing pending: no new version before the minute
    assert operator.get(f"{DENY_PATH}?since={delta.to_version}").status_code == 304


def test_a_deny_list_answer_is_cacheable_and_304_on_if_none_match(api: ApiClient, operator: GateOperator) -> None:
    trust = operator.trust()
    held = operator.deny(trust)
    full = operator.get(DENY_PATH)
    assert full.headers["ETag"] == f'"deny-{held.version}"'
    assert full.headers["Cache-Control"] in ("public, max-age=5", "max-age=5, public")
    again = operator.get(DENY_PATH, full.headers["ETag"])
    assert again.status_code == 304 and not again.get_data() and "max-age=5" in again.headers["Cache-Control"]
    api.clock.advance(60)
    delta = operator.get(f"{DENY_PATH}?since={held.version}")
    assert delta.status_code == 200 and delta.headers["ETag"] == f'"deny-{held.version}-{held.version + 1}"'
    assert operator.get(f"{DENY_PATH}?since={held.version}", delta.headers["ETag"]).status_code == 304
