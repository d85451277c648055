"""GET /card/code and POST /card/seed (docs/qr-format.md)."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import zxingcpp
from PIL import Image
from sqlalchemy import select

from app.card.models import Device
from app.platform.db import db
from qr import payload, totp

from ..helpers import ApiClient
from .test_login import error_code


def test_code_answer_shape_and_timing(api: ApiClient) -> None:
    token = api.bound_citizen()
    response = api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))
    assert response.status_code == 200
    assert set(response.json) == {"code", "expires_at", "refresh_in"}
    parsed = payload.parse(response.json["code"])
    assert parsed.step == totp.time_step(api.clock.time())
    assert datetime.fromisoformat(response.json["expires_at"]).timestamp() == totp.valid_until(parsed.step)
    assert response.json["refresh_in"] == 25  # the clock stands 5 s into the step
    assert response.headers["Cache-Control"] == "no-store"


def test_each_request_gives_a_new_code(api: ApiClient) -> None:
    token = api.bound_citizen()
    codes = [payload.parse(api.code(token)) for _ in range(3)]
    assert [code.sequence for code in codes] == [0, 1, 2]
    assert len({code.otp for code in codes}) == 3


def test_png_decodes_to_the_code_with_a_real_decoder(api: ApiClient) -> None:
    token = api.bound_citizen()
    response = api.client.get("/api/mp/v1/card/code?format=png", headers=api.bearer(token))
    assert response.mimetype == "image/png"
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(response.data)))]
    assert len(decoded) == 1
    payload.parse(decoded[0])


def test_svg_is_served(api: ApiClient) -> None:
    token = api.bound_citizen()
    response = api.client.get("/api/mp/v1/card/code?format=svg", headers=api.bearer(token))
    assert response.mimetype == "image/svg+xml" and b"<svg" in response.data


def test_unknown_format_is_a_validation_error(api: ApiClient) -> None:
    token = api.bound_citizen()
    response = api.client.get("/api/mp/v1/card/code?format=gif", headers=api.bearer(token))
    assert (response.status_code, error_code(response)) == (422, "validation_error")


def test_a_scanned_png_code_verifies(api: ApiClient) -> None:
    token = api.bound_citizen()
    partner = api.partner()
    image = api.client.get("/api/mp/v1/card/code?format=png", headers=api.bearer(token)).data
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))[0].text
    assert api.verify(partner, decoded).json["accepted"] is True


class TestSeed:
    def seed(self, api: ApiClient, token: str, installation: str) -> dict:
        response = api.client.post("/api/mp/v1/card/seed", json={"installation_id": installation}, headers=api.bearer(token))
        assert response.status_code == 200, response.json
        return response.json

    def offline_code(self, grant: dict, step: int, sequence: int) -> str:
        """What the mini-program computes on the phone (docs/qr-format.md §Offline generation)."""
        return payload.encode(payload.CodePayload(grant["pseudonym"], step, sequence, totp.otp(grant["seed"], step, sequence)))

    def test_the_grant_describes_the_algorithm(self, api: ApiClient) -> None:
        grant = self.seed(api, api.bound_citizen(), "install-aaaa")
        assert {k: grant[k] for k in ("format_version", "algorithm", "digits", "step_seconds")} == {
            "format_version": 1, "algorithm": "SHA1", "digits": 8, "step_seconds": 30}
        assert len(grant["seed"]) == 32

    def test_offline_codes_verify_once_and_a_next_sequence_verifies_at_once(self, api: ApiClient) -> None:
        grant = self.seed(api, api.bound_citizen(), "install-aaaa")
        partner = api.partner()
        step = totp.time_step(api.clock.time())
        first = self.offline_code(grant, step, 0)
        assert api.verify(partner, first).json["accepted"] is True
        assert api.verify(partner, first, terminal_id="gate-2").json["reason"] == "code_used"
        assert api.verify(partner, self.offline_code(grant, step, 1), terminal_id="gate-2").json["accepted"] is True

    def test_the_same_installation_gets_the_same_seed(self, api: ApiClient) -> None:
        token = api.bound_citizen()
        assert self.seed(api, token, "install-aaaa") == self.seed(api, token, "install-aaaa")

    def test_a_new_installation_rotates_the_seed_and_kills_old_codes(self, api: ApiClient) -> None:
        token = api.bound_citizen()
        partner = api.partner()
        old = self.seed(api, token, "install-aaaa")
        old_code = api.code(token)
        new = self.seed(api, token, "install-bbbb")
        assert new["seed"] != old["seed"] and new["pseudonym"] != old["pseudonym"]
        step = totp.time_step(api.clock.time())
        assert api.verify(partner, old_code).json["reason"] == "code_invalid"
        assert api.verify(partner, self.offline_code(old, step, 5)).json["reason"] == "code_invalid"
        assert api.verify(partner, self.offline_code(new, step, 0)).json["accepted"] is True
        assert payload.parse(api.code(token)).pseudonym == new["pseudonym"]

    def test_installations_provisioned_at_the_same_moment_leave_one_live_device(self, api: ApiClient) -> None:
        token = api.bound_citizen()
        self.seed(api, token, "install-first")
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda n: api.client.post("/api/mp/v1/card/seed", json={"installation_id": f"install-{n}"},
                                                              headers=api.bearer(token)), range(6)))
        assert {answer.status_code for answer in answers} <= {200, 409} and 200 in {a.status_code for a in answers}
        with api.app.app_context():
            live = db.session.scalars(select(Device.installation_id).where(Device.revoked_at.is_(None))).all()
        assert len(live) == 1 and live[0] in {f"install-{n}" for n in range(6)}

    def test_bad_installation_ids_are_refused(self, api: ApiClient) -> None:
        token = api.bound_citizen()
        for bad in ("short", "has space in it", "x" * 65):
            response = api.client.post("/api/mp/v1/card/seed", json={"installation_id": bad}, headers=api.bearer(token))
            assert error_code(response) == "validation_error"

    def test_seeds_are_stored_encrypted(self, api: ApiClient) -> None:
        from app.card.models import Device
        from app.platform.db import db

        grant = self.seed(api, api.bound_citizen(), "install-aaaa")
        with api.app.app_context():
            stored = [device.seed_enc for device in db.session.query(Device)]
        assert grant["seed"] not in "".join(stored)


def test_after_100_codes_in_one_step_the_client_is_told_to_wait(api: ApiClient) -> None:
    token = api.bound_citizen()
    sequences = [payload.parse(api.code(token)).sequence for _ in range(100)]
    assert sequences == list(range(100))
    response = api.client.get("/api/mp/v1/card/code", headers=api.bearer(token))
    assert (response.status_code, error_code(response)) == (429, "too_many_codes")
    assert response.headers["Retry-After"] == "25"
    api.clock.advance(30)
    assert payload.parse(api.code(token)).sequence == 0
