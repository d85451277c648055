"""The SMS gateway: typed messages, the real Tencent Cloud SDK against the stand-in (which verifies
the TC3-HMAC-SHA256 signature), failures mapped to a clear outcome, and logs without codes or
numbers (M-19)."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from tencentcloud.common.sign import Sign

from app.integrations.sms import KINDS, ConsoleSmsSender, SmsFailed, SmsMessage, notice, verification_code
from app.integrations.tencent_sms import TencentSmsSender, TencentSmsSettings, reason_of
from standins.tencent_sms import TencentSmsStandIn, tc3_signature

from ..helpers import PERSON, ApiClient

SECRET_ID, SECRET_KEY, APP_ID, SIGN = "AKIDstandin0000000000000000000000", "standin-secret-key", "1400000001", "东莞市民卡"
TEMPLATES = {kind: str(2000001 + n) for n, kind in enumerate(KINDS)}
PHONE = "13800138000"


@pytest.fixture
def gateway() -> Iterator[TencentSmsStandIn]:
    with TencentSmsStandIn(SECRET_ID, SECRET_KEY, APP_ID, SIGN, {TEMPLATES[kind]: count for kind, (count, _) in KINDS.items()}) as standin:
        yield standin


def _sender(gateway: TencentSmsStandIn, secret_key: str = SECRET_KEY) -> TencentSmsSender:
    return TencentSmsSender(TencentSmsSettings(SECRET_ID, secret_key, APP_ID, SIGN, TEMPLATES, gateway.base_url.rstrip("/")))


def _failure(sender: TencentSmsSender, message: SmsMessage = verification_code("123456")) -> SmsFailed:
    with pytest.raises(SmsFailed) as failed:
        sender.send(PHONE, message)
    return failed.value


# --- the message model ---------------------------------------------------------------------------

def test_the_console_renders_the_texts_the_call_sites_sent_before() -> None:
    """The console's text of each kind is the text of the free-text era (the same characters)."""
    console = ConsoleSmsSender()
    console.send(PHONE, verification_code("123456"))
    console.send(PHONE, notice("desk_action_notice", "紧急挂失", "T20261206-0001"))
    assert console.sent[0] == (PHONE, "【东莞市民卡】验证码 123456，10 分钟内有效。Citizen card code 123456 (10 min).")
    assert console.sent[1][1] == ("【东莞市民卡】客服已按您的来电/来访为您办理：紧急挂失（工单 T20261206-0001）。"
                                  "如非本人操作，请立即联系客服。")
    assert console.messages[1] == (PHONE, SmsMessage("desk_action_notice", ("紧急挂失", "T20261206-0001")))


def test_a_message_must_fit_its_template() -> None:
    with pytest.raises(ValueError, match="takes 1 string parameters"):
        SmsMessage("verification_code", ())
    with pytest.raises(KeyError):
        SmsMessage("free_text", ("hello",))
    with pytest.raises(ValueError, match="carries a code"):
        notice("verification_code", "123456")


# --- the real SDK against the stand-in -------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_goes_out_as_its_template_with_its_parameters(gateway: TencentSmsStandIn, kind: str) -> None:
    params = tuple(f"p{n}" for n in range(KINDS[kind][0]))
    _sender(gateway).send(PHONE, SmsMessage(kind, params))
    assert gateway.sent == [{"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": APP_ID, "TemplateId": TEMPLATES[kind],
                             "SignName": SIGN, "TemplateParamSet": list(params), "SessionContext": kind}]


def test_the_stand_in_refuses_a_wrong_signature(gateway: TencentSmsStandIn) -> None:
    failure = _failure(_sender(gateway, secret_key="another-secret-key"))
    assert (failure.reason, failure.gateway_code) == ("misconfigured", "AuthFailure.SignatureFailure")
    assert gateway.sent == []


def test_the_stand_in_derives_the_key_as_tencent_documents(gateway: TencentSmsStandIn) -> None:
    """Our verification and the SDK's signer agree; a request without a signature is refused."""
    string = "TC3-HMAC-SHA256\n1765000000\n2025-12-06/sms/tc3_request\n" + "0" * 64
    assert tc3_signature(SECRET_KEY, "2025-12-06", "sms", string) == Sign.sign_tc3(SECRET_KEY, "2025-12-06", "sms", string)
    answer = requests.post(gateway.base_url, json={"PhoneNumberSet": ["+8613800138000"]}, timeout=5,
                           headers={"X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11"}).json()
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_a_tampered_body_fails_the_signature(gateway: TencentSmsStandIn) -> None:
    """Replaying the SDK's signed headers with another body (another number) is refused."""
    seen: list[Any] = []
    original = gateway.handle
    gateway.handle = lambda request: seen.append(dict(request.headers)) or original(request)  # type: ignore[method-assign]
    _sender(gateway).send(PHONE, verification_code("123456"))
    headers = {k: v for k, v in seen[0].items() if k.lower() in ("authorization", "content-type", "host") or k.startswith("X-Tc")}
    body = json.dumps({**gateway.sent[0], "PhoneNumberSet": ["+8613900139000"]})
    answer = requests.post(gateway.base_url, data=body, headers=headers, timeout=5).json()
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure" and len(gateway.sent) == 1


@pytest.mark.parametrize(("code", "reason"), [("LimitExceeded.PhoneNumberDailyLimit", "phone_limit"),
                                               ("LimitExceeded.PhoneNumberThirtySecondLimit", "phone_limit"),
                                               ("InvalidParameterValue.IncorrectPhoneNumber", "phone_refused"),
                                               ("FailedOperation.PhoneNumberInBlacklist", "phone_refused")])
def test_a_number_refused_in_the_status_is_not_sent(gateway: TencentSmsStandIn, code: str, reason: str) -> None:
    gateway.refuse_next(code)
    failure = _failure(_sender(gateway))
    assert (failure.reason, failure.gateway_code) == (reason, code) and gateway.sent == []


@pytest.mark.parametrize(("code", "reason"), [("FailedOperation.InsufficientBalanceInSmsPackage", "misconfigured"),
                                               ("FailedOperation.TemplateIncorrectOrUnapproved", "misconfigured"),
                                               ("InvalidParameterValue.TemplateParameterFormatError", "misconfigured"),
                                               ("InternalError.Timeout", "unavailable"),
                                               ("RequestLimitExceeded", "unavailable"),
                                               ("LimitExceeded.AppDailyLimit", "unavailable")])
def test_a_refused_request_is_not_sent(gateway: TencentSmsStandIn, code: str, reason: str) -> None:
    gateway.fail_next(code)
    failure = _failure(_sender(gateway))
    assert (failure.reason, failure.gateway_code) == (reason, code)


def test_an_unapproved_template_or_sign_is_refused_by_the_gateway(gateway: TencentSmsStandIn) -> None:
    sender = TencentSmsSender(TencentSmsSettings(SECRET_ID, SECRET_KEY, APP_ID, "别的签名", TEMPLATES, gateway.base_url.rstrip("/")))
    assert _failure(sender).gateway_code == "FailedOperation.SignatureIncorrectOrUnapproved"
    wrong = {**TEMPLATES, "verification_code": "9999999"}
    sender = TencentSmsSender(TencentSmsSettings(SECRET_ID, SECRET_KEY, APP_ID, SIGN, wrong, gateway.base_url.rstrip("/")))
    assert _failure(sender).gateway_code == "FailedOperation.TemplateIncorrectOrUnapproved"


def test_no_answer_is_unavailable(gateway: TencentSmsStandIn) -> None:
    gateway.http_error_next(502)
    assert _failure(_sender(gateway)).reason == "unavailable"
    sender = _sender(gateway)
    gateway.stop()
    assert _failure(sender).reason == "unavailable"


def test_unknown_codes_are_a_later_try() -> None:
    assert reason_of("SomethingNew.Entirely") == "unavailable" and reason_of("AuthFailure.SecretIdNotFound") == "misconfigured"


def test_the_settings_never_show_the_secret() -> None:
    settings = TencentSmsSettings(SECRET_ID, SECRET_KEY, APP_ID, SIGN, TEMPLATES)
    assert SECRET_KEY not in repr(settings) and SECRET_KEY not in str(settings)


# --- the call sites, through the app ---------------------------------------------------------------

def test_a_code_the_gateway_refused_is_a_503_not_a_sent_code(api: ApiClient, gateway: TencentSmsStandIn,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """A phone-change code goes out; a bank-consent code refused for the number's daily limit is
    503 ``sms_unavailable``; no log line holds a code, a full number or the key."""
    caplog.set_level(logging.DEBUG)  # even the SDK's and urllib3's debug lines
    token = api.bound_citizen()
    bank = api.partner((), name="Bank", roles=("bank",))
    api.rt.sms = _sender(gateway)
    sent = api.client.post("/api/mp/v1/card/phone/code", json={"phone": "13900139000"}, headers=api.bearer(token))
    assert sent.status_code == 200 and gateway.sent[-1]["TemplateId"] == TEMPLATES["verification_code"]
    code = gateway.sent[-1]["TemplateParamSet"][0]
    gateway.refuse_next("LimitExceeded.PhoneNumberDailyLimit")
    refused = api.client.post("/api/mp/v1/card/financial-account/consents/code", json={"bank_partner_id": bank["partner_id"]},
                              headers=api.bearer(token))
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "3600"
    assert refused.json["error"]["code"] == "sms_unavailable" and refused.json["error"]["details"] == {"reason": "phone_limit"}
    assert len(gateway.sent) == 1
    lines = [record.getMessage() for record in caplog.records]
    masked = PERSON["phone"][:3] + "****" + PERSON["phone"][-4:]
    assert any(masked in line and "LimitExceeded.PhoneNumberDailyLimit" in line for line in lines), lines
    assert not [line for line in lines if code in line or "13900139000" in line or PERSON["phone"] in line or SECRET_KEY in line]


def test_a_notice_that_failed_leaves_the_change_and_is_tried_again_once(api: ApiClient, gateway: TencentSmsStandIn,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Seed provisioning commits, then notifies: an unavailable gateway is tried again once; a
    refusal leaves the provisioning standing (the citizen is not told an SMS went out)."""
    token = api.bound_citizen()
    api.rt.sms = _sender(gateway)
    gateway.fail_next("InternalError.Timeout")
    first = api.client.post("/api/mp/v1/card/seed", json={"installation_id": "install-aaaa"}, headers=api.bearer(token))
    assert first.status_code == 200 and [body["TemplateId"] for body in gateway.sent] == [TEMPLATES["device_notice"]]
    gateway.refuse_next("LimitExceeded.PhoneNumberDailyLimit")
    moved = api.client.post("/api/mp/v1/card/ecard/device", json={"installation_id": "install-bbbb"}, headers=api.bearer(token))
    assert moved.status_code == 200 and len(gateway.sent) == 1
    assert PERSON["phone"] not in caplog.text


def test_the_call_sites_send_typed_messages(api: ApiClient) -> None:
    token = api.bound_citizen()
    api.client.post("/api/mp/v1/card/phone/code", json={"phone": "13900139000"}, headers=api.bearer(token))
    phone, message = api.rt.sms.messages[-1]
    assert (phone, message.kind, len(message.params[0])) == ("13900139000", "verification_code", 6)
    api.client.post("/api/mp/v1/card/seed", json={"installation_id": "install-aaaa"}, headers=api.bearer(token))
    assert api.rt.sms.messages[-1] == (PERSON["phone"], notice("device_notice"))
    api.client.post("/api/mp/v1/card/ecard/device", json={"installation_id": "install-bbbb"}, headers=api.bearer(token))
    assert api.rt.sms.messages[-1] == (PERSON["phone"], notice("device_moved_notice"))


def test_a_misuse_case_whose_notice_failed_stays_open(api: ApiClient, gateway: TencentSmsStandIn) -> None:
    """Notifying is the case's step: if the holder was not told, the case is not ``notified``."""
    from .test_hub_cases import flagged, investigator, status

    flag_id = flagged(api)
    console = investigator(api)
    number = console.post("/console/cases/open", form_page="/console/cases", flag_id=str(flag_id)).headers["Location"].rsplit("/", 1)[1]
    api.rt.sms = _sender(gateway)
    gateway.fail_next("FailedOperation.InsufficientBalanceInSmsPackage")
    refused = console.post(f"/console/cases/{number}/notify", form_page=f"/console/cases/{number}")
    assert refused.status_code == 503 and "短信未能发出" in refused.get_data(as_text=True)
    assert status(api, number) == "open" and gateway.sent == []
    assert console.post(f"/console/cases/{number}/notify", form_page=f"/console/cases/{number}").status_code == 302
    assert status(api, number) == "notified" and gateway.sent[-1]["TemplateParamSet"] == [number]


def test_32_concurrent_notifies_send_one_sms(api: ApiClient, gateway: TencentSmsStandIn) -> None:
    """The move to ``notified`` is one conditional UPDATE before the send: one SMS, 31 refusals."""
    from concurrent.futures import ThreadPoolExecutor

    from app.hub.cases import notify
    from app.platform.errors import AppError
    from app.service_desk.audit import StaffActor

    from .test_hub_cases import flagged, investigator, status

    flag_id = flagged(api)
    console = investigator(api)
    number = console.post("/console/cases/open", form_page="/console/cases", flag_id=str(flag_id)).headers["Location"].rsplit("/", 1)[1]
    api.rt.sms = _sender(gateway)
    actor = StaffActor(1, "inv1", "investigator", None)

    def notify_once(_n: int) -> str:
        with api.app.app_context():
            try:
                return notify(api.rt, actor, number).status
            except AppError as exc:
                return exc.code

    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(notify_once, range(32)))
    assert outcomes.count("notified") == 1 and outcomes.count("illegal_transition") == 31, outcomes
    assert status(api, number) == "notified" and len(gateway.sent) == 1


def test_a_caller_code_the_gateway_refused_tells_the_agent(api: ApiClient, gateway: TencentSmsStandIn) -> None:
    """The console says the SMS did not go out (503), not 'code sent'; the number is not shown whole."""
    from .test_desk_callers import _console, _number, _open

    api.bound_citizen()
    agent = _console(api, "agent1")
    number = _number(_open(agent))
    api.rt.sms = _sender(gateway)
    gateway.fail_next("InternalError.Timeout")
    page = f"/console/callers/{number}"
    refused = agent.post(f"{page}/code", form_page=page)
    shown = refused.get_data(as_text=True)
    assert refused.status_code == 503 and "短信未能发出" in shown and PERSON["phone"] not in shown
    assert agent.post(f"{page}/code", form_page=page).status_code == 302
    assert gateway.sent[-1]["TemplateId"] == TEMPLATES["caller_check"] and gateway.sent[-1]["TemplateParamSet"][1] == "10"
