"""The medical-insurance e-voucher reference (医保电子凭证; issue 22 item 7, M-23.3): the bureau
(partner role ``medical_insurance``) reports or withdraws a citizen's reference through the signed
API; the medical scene's subject carries it (null when none), no other scene does. Idempotent by
``as_of`` (a retry or an older report changes nothing, 32 racing reports leave the latest), format
validated, encrypted at rest. Both backends."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.money.models import MedicalEvoucher
from app.platform.db import db

from ..helpers import PERSON, ApiClient
from .test_payments import THREADS, race

EVOUCHERS = "/api/partner/v1/medical-evouchers"
REFERENCE = "EV4419A1B2C3D4E5F6A7B8C9"
T0 = datetime.fromisoformat("2026-05-20T02:00:00+08:00")


def _report(api: ApiClient, bureau: dict[str, str], evoucher: Any, as_of: datetime = T0, **recipient: Any) -> Any:
    body = {**(recipient or {"id_number": PERSON["id_number"]}), "evoucher": evoucher, "as_of": as_of.isoformat()}
    return api.signed_post(bureau, json.dumps(body).encode(), path=EVOUCHERS, method="PUT")


def _subject(api: ApiClient, token: str, partner: dict[str, str], scene: str = "medical") -> dict[str, Any]:
    answer = api.verify(partner, api.code(token), scene=scene)
    assert answer.status_code == 200 and answer.json["accepted"], answer.json
    return answer.json["subject"]


def test_the_bureau_reports_and_withdraws_and_the_medical_subject_follows(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login()
    card_number = api.bind(token).json["card_number"]
    bureau = api.partner((), name="Medical Insurance Bureau", roles=("medical_insurance",))
    hospital, metro = api.partner(("medical",), name="Hospital"), api.partner(("transit",), name="Metro")
    assert _subject(api, token, hospital)["medical_insurance_evoucher"] is None  # none reported yet
    first = _report(api, bureau, REFERENCE)
    assert first.status_code == 200 and first.json == {"applied": True, "evoucher_on_record": True}, first.json
    assert _subject(api, token, hospital)["medical_insurance_evoucher"] == REFERENCE
    assert "medical_insurance_evoucher" not in _subject(api, token, metro, "transit")  # the medical scene only
    assert _report(api, bureau, REFERENCE).json == {"applied": False, "evoucher_on_record": True}  # a retry
    older = _report(api, bureau, None, as_of=T0 - timedelta(days=1), card_number=card_number, id_number=None)
    assert older.json == {"applied": False, "evoucher_on_record": True}  # a late withdrawal changes nothing
    withdrawn = _report(api, bureau, None, as_of=T0 + timedelta(hours=1))
    assert withdrawn.json == {"applied": True, "evoucher_on_record": False}
    assert _subject(api, token, hospital)["medical_insurance_evoucher"] is None
    renewed = "NEW0000000000000000000000000000Z"
    assert _report(api, bureau, renewed, as_of=T0 + timedelta(hours=2)).json["applied"] is True
    assert _subject(api, token, hospital)["medical_insurance_evoucher"] == renewed
    with api.app.app_context():
        [stored] = db.session.scalars(select(MedicalEvoucher.reference_enc)).all()
    assert stored and renewed not in stored  # encrypted at rest


def test_bad_references_other_roles_unknown_holders_and_future_reports_are_refused(api: ApiClient) -> None:
    api.bound_citizen()
    bureau = api.partner((), name="Medical Insurance Bureau", roles=("medical_insurance",))
    for bad in ("SHORT123", "EV4419-A1B2C3D4E5F6", "A" * 65, "EV4419A1B2C3D4E5F6 ", "ＥＶ４４１９Ａ１Ｂ２Ｃ３Ｄ４Ｅ５Ｆ６"):
        answer = _report(api, bureau, bad)
        assert answer.status_code == 422 and answer.json["error"]["code"] in ("evoucher_invalid", "validation_error"), (bad, answer.json)
    assert _report(api, bureau, 1234567890123456).json["error"]["code"] == "validation_error"
    hospital = api.partner(("medical",), name="Hospital")
    assert _report(api, hospital, REFERENCE).json["error"]["code"] == "role_required"
    unknown = _report(api, bureau, REFERENCE, card_number="4419000000009999", id_number=None)
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "recipient_unknown"
    ahead = _report(api, bureau, REFERENCE, as_of=api.clock.now() + timedelta(minutes=6))
    assert ahead.status_code == 422 and ahead.json["error"]["code"] == "as_of_in_future"
    with api.app.app_context():
        assert db.session.scalars(select(MedicalEvoucher)).all() == []


def test_32_racing_reports_leave_the_latest_and_a_repeated_one_applies_once(api: ApiClient) -> None:
    token = api.bound_citizen()
    bureau = api.partner((), name="Medical Insurance Bureau", roles=("medical_insurance",))
    hospital = api.partner(("medical",), name="Hospital")

    def report(index: int) -> Any:
        return _report(ApiClient(api.app, api.wechat, api.clock), bureau, f"EV{index:030d}", as_of=T0 + timedelta(minutes=index))

    answers = race(THREADS, report)
    assert {answer.status_code for answer in answers} == {200}
    assert _subject(api, token, hospital)["medical_insurance_evoucher"] == f"EV{THREADS - 1:030d}"  # the latest as_of
    same = race(THREADS, lambda _i: _report(ApiClient(api.app, api.wechat, api.clock), bureau, None, as_of=T0 + timedelta(days=1)))
    assert [answer.json["applied"] for answer in same].count(True) == 1
    assert _subject(api, token, hospital)["medical_insurance_evoucher"] is None
