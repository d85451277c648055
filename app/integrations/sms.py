"""Sending SMS: typed messages, the sender interface, and the console sender used in development.

Mainland Chinese SMS gateways send only pre-approved templates (a sign name, 签名, plus a template
id and its parameters), never free text. So a call site sends an :class:`SmsMessage`: a ``kind``
(one of :data:`KINDS`) and the template's parameters, built by the constructors below
(:func:`verification_code`, :func:`caller_check`, ...). :data:`KINDS` holds each kind's text as
the console renders it, which is also the text to file with the gateway for approval
(docs/operations.md, "SMS templates"); the gateway sender maps a kind to its approved template id
(``CARD_SMS_TEMPLATES``) and sends only the parameters.

Senders: :class:`ConsoleSmsSender` (development: logs the message, number masked, and keeps the
last 100 for tests) and app.integrations.tencent_sms.TencentSmsSender (production), chosen by
``CARD_SMS_PROVIDER`` in ``app.runtime.build_runtime``. A sender raises :class:`SmsFailed` when
the message was not accepted; call sites decide what the citizen is told
(:func:`unavailable`: 503 ``sms_unavailable``, or a retry; docs/operations.md). Logs never hold a
message's parameters (a code) nor a full number (M-19: :func:`mask_phone`).
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

from app.platform.errors import AppError

log = logging.getLogger(__name__)

SENT = Counter("card_sms_total", "SMS handed to the gateway, by message kind and outcome (sent or the failure's reason)",
               ["kind", "outcome"])

# kind -> (number of parameters, the text with {0}, {1}, ... for the parameters). The same text,
# with {1}, {2}, ... and without the 【sign】, is the template filed with the gateway.
KINDS: dict[str, tuple[int, str]] = {
    "verification_code": (1, "【东莞市民卡】验证码 {0}，10 分钟内有效。Citizen card code {0} (10 min)."),
    "binding_code": (1, "【东莞市民卡】实名绑定验证码 {0} ，10 分钟内有效；非本人操作请忽略。Card binding code {0} (10 min)."),
    "caller_check": (2, "【东莞市民卡】客服核实身份验证码：{0}，{1}分钟内有效。请仅告知正在为您服务的客服人员。"),
    "bank_consent_code": (2, "【东莞市民卡】您正在授权{0}登记您的待遇发放账户，验证码 {1}，10 分钟内有效；"
                             "非本人操作请勿告知他人。 Code {1}: you allow {0} to register your benefit account."),
    "device_notice": (0, "【东莞市民卡】您的电子卡已在一台新设备上启用离线码。如非本人操作，请在小程序中退出登录并更换设备。"
                         "Your e-card was set up for offline codes on a new device; if this was not you, log out and move the e-card."),
    "device_moved_notice": (0, "【东莞市民卡】您的电子卡已移至一台新设备，原设备上的电子卡已失效。如非本人操作，请立即联系客服。"
                               "Your e-card was moved to a new device; the old one no longer works. If this was not you, call us."),
    "desk_action_notice": (2, "【东莞市民卡】客服已按您的来电/来访为您办理：{0}（工单 {1}）。如非本人操作，请立即联系客服。"),
    "benefit_account_notice": (2, "【东莞市民卡】您的待遇发放账户已登记为{0}尾号{1}的账户。如非本人办理，请立即联系客服。"
                                  "Your benefit account is now {0} ending {1}; if you did not ask for this, call us."),
    "benefit_account_closed_notice": (0, "【东莞市民卡】您的待遇发放账户已由市民卡中心关闭，请到您的开户银行重新登记。"
                                         "Your benefit account was closed by the city card centre; register it again at your bank."),
    "misuse_case_notice": (1, "【东莞市民卡】您的市民卡在相距较远的地点被短时间内连续使用，我们已立案核查（案件号{0}）。"
                              "请在10日内通过客服说明情况。Your card was used at distant places within minutes; case {0} is open. "
                              "Please give your account to customer service within 10 days."),
    "concession_case_notice": (1, "【东莞市民卡】您的市民卡优惠乘车资格在短时间内于多个站点被使用，我们已立案核查（案件号{0}）。"
                                  "请在10日内通过客服说明情况。Your card's concession fare was used at many gates within minutes; "
                                  "case {0} is open. Please give your account to customer service within 10 days."),
}
CODE_KINDS = frozenset({"verification_code", "binding_code", "caller_check", "bank_consent_code"})


@dataclass(frozen=True)
class SmsMessage:
    """One message: its ``kind`` (a key of :data:`KINDS`) and the template's ``params`` (strings,
    in template order). ``text`` is what the console shows."""

    kind: str
    params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        count, _ = KINDS[self.kind]  # KeyError: not a kind
        if len(self.params) != count or not all(isinstance(param, str) for param in self.params):
            raise ValueError(f"SMS {self.kind} takes {count} string parameters")

    @property
    def text(self) -> str:
        """The Chinese (and English) text as the citizen reads it, sign name included."""
        return KINDS[self.kind][1].format(*self.params)


def verification_code(code: str) -> SmsMessage:
    """The code proving a new contact phone (app.card.phone)."""
    return SmsMessage("verification_code", (code,))


def binding_code(code: str) -> SmsMessage:
    """The step-up code of a binding under attack, to the roster phone (app.card.binding)."""
    return SmsMessage("binding_code", (code,))


def caller_check(code: str, minutes: int) -> SmsMessage:
    """The code a caller reads out to the service desk (app.service_desk.callers)."""
    return SmsMessage("caller_check", (code, str(minutes)))


def bank_consent_code(bank_name: str, code: str) -> SmsMessage:
    """The code allowing a bank to register the benefit account (app.money.financial_accounts)."""
    return SmsMessage("bank_consent_code", (bank_name, code))


def notice(kind: str, *params: str) -> SmsMessage:
    """A notice without a code (``*_notice`` kinds): a device, a desk action, an account, a case."""
    if kind in CODE_KINDS:
        raise ValueError(f"{kind} carries a code: use its constructor")
    return SmsMessage(kind, params)


class SmsFailed(Exception):
    """The gateway did not accept the message. ``reason``: ``phone_limit`` (the number's daily or
    hourly limit at the gateway), ``phone_refused`` (a number the gateway will not send to),
    ``misconfigured`` (our account, sign name or template: an operator must act) or
    ``unavailable`` (the gateway did not answer or failed: a later try may work). ``gateway_code``
    is the gateway's own error code (e.g. ``LimitExceeded.PhoneNumberDailyLimit``): no personal data."""

    def __init__(self, reason: str, gateway_code: str) -> None:
        super().__init__(f"SMS not sent: {reason} ({gateway_code})")
        self.reason, self.gateway_code = reason, gateway_code


class SmsSender(Protocol):
    def send(self, phone: str, message: SmsMessage) -> None:
        """Send ``message`` to the 11-digit mainland mobile ``phone``; raises :class:`SmsFailed`."""


RETRY_AFTER = {"phone_limit": 3600, "phone_refused": 3600, "misconfigured": 300, "unavailable": 60}


def unavailable(failure: SmsFailed) -> AppError:
    """The answer to a citizen (or staff) whose code was not sent: 503 ``sms_unavailable`` with
    ``details.reason`` (``phone_limit``, ``phone_refused``, ``misconfigured``, ``unavailable``)
    and a ``Retry-After`` in seconds. Never says the code was sent."""
    return AppError("sms_unavailable", 503, "the SMS could not be sent; no code was delivered, try again later",
                    {"reason": failure.reason}, headers={"Retry-After": str(RETRY_AFTER[failure.reason])})


def send_code(sender: SmsSender, phone: str, message: SmsMessage) -> None:
    """Send a message the citizen waits for (a code): 503 ``sms_unavailable`` (:func:`unavailable`)
    when the gateway did not accept it."""
    try:
        sender.send(phone, message)
    except SmsFailed as failure:
        raise unavailable(failure) from None


NOTICE_TRIES = 2


def send_notice(sender: SmsSender, phone: str, message: SmsMessage) -> bool:
    """Send a notice of a change already made: tried again once at once when the gateway was
    ``unavailable``; False when not sent (the sender logged it): the change stands, nobody is told
    it was sent."""
    for attempt in range(1, NOTICE_TRIES + 1):
        try:
            sender.send(phone, message)
            return True
        except SmsFailed as failure:
            if failure.reason != "unavailable" or attempt == NOTICE_TRIES:
                return False
    return False


def record(message: SmsMessage, outcome: str) -> None:
    """Count one send (``card_sms_total``) by kind and outcome (``sent`` or the reason)."""
    SENT.labels(message.kind, outcome).inc()


def log_failure(phone: str, message: SmsMessage, failure: SmsFailed) -> None:
    """One warning (an error when an operator must act): kind, masked number, reason and the
    gateway's code; never the parameters."""
    level = logging.ERROR if failure.reason == "misconfigured" else logging.WARNING
    log.log(level, "SMS %s to %s not sent: %s (%s)", message.kind, mask_phone(phone), failure.reason, failure.gateway_code)


class ConsoleSmsSender:
    """Logs each message (number masked as 138****8000) and keeps the last 100: ``sent`` as
    (phone, text), ``messages`` as (phone, :class:`SmsMessage`). With ``show_text=False`` the
    text, which may hold a code, is not logged (production refuses this sender: app.config)."""

    def __init__(self, show_text: bool = True) -> None:
        self.sent: deque[tuple[str, str]] = deque(maxlen=100)
        self.messages: deque[tuple[str, SmsMessage]] = deque(maxlen=100)
        self.show_text = show_text

    def send(self, phone: str, message: SmsMessage) -> None:
        """Keep and log ``message`` (never fails)."""
        self.sent.append((phone, message.text))
        self.messages.append((phone, message))
        record(message, "sent")
        log.info("SMS %s to %s: %s", message.kind, mask_phone(phone), message.text if self.show_text else "(text withheld)")


def mask_phone(phone: str) -> str:
    """``13800138000`` -> ``138****8000``."""
    return phone[:3] + "****" + phone[-4:]
