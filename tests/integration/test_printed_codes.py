"""Printed codes (DGP1, issue 18 item 3; docs/family.md): online, offline, revoked, and the A6 PDF."""
from __future__ import annotations

import io
import re
import zlib
from concurrent.futures import ThreadPoolExecutor

import zxingcpp
from PIL import Image
from sqlalchemy import select

from app.card.models import PrintedCode
from app.card.offline_lists import DENY_MIN_INTERVAL
from app.platform.db import db
from qr import offline

from ..helpers import ApiClient
from .test_family import CHILD, FAMILY, GUARDIAN, add, bound, roster
from .test_login import error_code
from .test_offline_lists import GateOperator


def pdf_image(pdf: bytes) -> Image.Image:
    """The one image of a Pillow-written PDF page: its stream, decoded by its filter."""
    match = re.search(rb"/Filter\s*/(\w+).*?stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    assert match is not None, "no image stream in the PDF"
    kind, data = match.group(1), match.group(2)
    if kind == b"DCTDecode":
        return Image.open(io.BytesIO(data))
    assert kind == b"FlateDecode", kind
    width, height = (int(v) for v in re.search(rb"/Width (\d+).*?/Height (\d+)", pdf, re.S).groups())  # type: ignore[union-attr]
    return Image.frombytes("L", (width, height), zlib.decompress(data))


def _setup(api: ApiClient) -> tuple[dict[str, str], int]:
    roster(api, [GUARDIAN, CHILD])
    parent = bound(api, GUARDIAN)
    return parent, add(api, parent, CHILD, "child").json["id"]


def test_a_printed_code_is_accepted_online_and_offline_then_revoked_and_refused(api: ApiClient) -> None:
    parent, entry = _setup(api)
    issued = api.client.post(f"{FAMILY}/{entry}/printed-codes", json={"scenes": ["transit", "culture"], "days": 180},
                             headers=parent)
    assert issued.status_code == 201, issued.json
    code = issued.json["code"]
    assert code.startswith("DGP1:") and CHILD["name"] not in code and issued.json["scenes"] == ["transit", "culture"]
    metro, venue = api.partner(("transit",), "Metro"), api.partner(("public_venue",), "Hall")
    online = api.verify(metro, code).json
    assert online["accepted"] is True and online["subject"]["concession"] == "standard"
    assert api.verify(metro, code, terminal_id="gate-2").json["reason"] == "code_used"  # the same second: a copy
    assert api.verify(venue, code, scene="public_venue").json["reason"] == "scene_not_permitted"

    operator = GateOperator(api)
    trust = operator.trust()
    now = int(api.clock.time())
    assert offline.printed.check(code, trust, operator.deny(trust), "transit", now).accepted
    assert offline.printed.check(code, trust, operator.deny(trust), "public_venue", now).reason == "scene_not_permitted"
    assert offline.printed.check(code, trust, operator.deny(trust), "transit", now + 181 * 86400).reason == "code_expired"
    forged = offline.printed.parse(code)
    tampered = offline.printed.Printed(forged.ver_alg, forged.kid, forged.serial, forged.nbf, forged.exp + 86400,
                                       forged.scenes, forged.fare_class, forged.sig).text
    assert offline.printed.check(tampered, trust, operator.deny(trust), "transit", now).reason == "code_invalid"
    assert api.verify(metro, tampered).json["reason"] == "code_invalid"

    pdf = api.client.get(f"{FAMILY}/{entry}/printed-code.pdf", headers=parent)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert re.search(rb"/MediaBox \[ ?0 0 (29[78]\.\d+|298) (419\.\d+|420)", pdf.data)  # A6 in points
    decoded = zxingcpp.read_barcodes(pdf_image(pdf.data))
    assert [result.text for result in decoded] == [code]
    api.clock.advance(1)
    assert api.verify(metro, decoded[0].text, terminal_id="gate-3").json["accepted"] is True

    assert api.client.delete(f"{FAMILY}/{entry}/printed-codes", headers=parent).status_code == 204
    api.clock.advance(1)
    assert api.verify(metro, code, terminal_id="gate-4").json["reason"] == "card_inactive"  # online: at once
    api.clock.advance(DENY_MIN_INTERVAL)
    later = int(api.clock.time())
    assert offline.printed.check(code, trust, operator.deny(trust), "transit", later).reason == "card_inactive"


def test_a_new_printed_code_replaces_the_old_and_simultaneous_issues_leave_one(api: ApiClient) -> None:
    parent, entry = _setup(api)
    first = api.client.post(f"{FAMILY}/{entry}/printed-codes", json={"scenes": ["transit"], "days": 30}, headers=parent).json
    second = api.client.post(f"{FAMILY}/{entry}/printed-codes", json={"scenes": ["transit"], "days": 30}, headers=parent).json
    assert first["serial"] != second["serial"]
    metro = api.partner()
    assert api.verify(metro, first["code"]).json["reason"] == "card_inactive"
    assert api.verify(metro, second["code"]).json["accepted"] is True
    bad = api.client.post(f"{FAMILY}/{entry}/printed-codes", json={"scenes": ["government"], "days": 30}, headers=parent)
    assert error_code(bad) == "validation_error"
    too_long = api.client.post(f"{FAMILY}/{entry}/printed-codes", json={"scenes": ["transit"], "days": 181}, headers=parent)
    assert error_code(too_long) == "validation_error"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api.client.post(f"{FAMILY}/{entry}/printed-codes", headers=parent,
                                                          json={"scenes": ["culture"], "days": 10}), range(32)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(201) >= 1 and statuses.count(201) + statuses.count(409) == 32
    assert {error_code(a) for a in answers if a.status_code == 409} <= {"printed_code_conflict"}
    with api.app.app_context():
        live = db.session.scalars(select(PrintedCode).where(PrintedCode.revoked_at.is_(None))).all()
    assert len(live) == 1
