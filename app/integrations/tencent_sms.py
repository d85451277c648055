"""Tencent Cloud SMS (短信): ``SendSms``, API version 2021-01-11, through the official SDK
(``tencentcloud-sdk-python-sms``, which signs each request with TC3-HMAC-SHA256).

Sources: SendSms 2021-01-11 (tencentcloud.com/document/product/382/40536: ``PhoneNumberSet`` in
E.164 ``+86...``, ``SmsSdkAppId``, ``TemplateId``, ``SignName`` (required for mainland numbers),
``TemplateParamSet``, ``SessionContext``; the answer's ``SendStatusSet`` holds one status per
number, ``Code`` ``Ok`` when accepted); the SMS error codes (document/product/382/40536 and the
SDK's ``tencentcloud/sms/v20210111/errorcodes.py``); the SDK's ``HttpProfile(protocol, endpoint,
reqTimeout)`` (``tencentcloud/common/profile/http_profile.py``): ``endpoint`` is the host (and
port) the SDK posts to and signs as ``host``, ``protocol`` its scheme, so ``CARD_SMS_ENDPOINT``
(``https://sms.tencentcloudapi.com`` by default) can point at the stand-in (standins/tencent_sms.py).

A failure comes two ways: the whole request refused (``Response.Error``, raised by the SDK as
``TencentCloudSDKException`` with the code, e.g. ``AuthFailure.SignatureFailure``,
``FailedOperation.InsufficientBalanceInSmsPackage``, or ``ClientNetworkError`` when nothing
answered), or the number refused in ``SendStatusSet`` (e.g. ``LimitExceeded.PhoneNumberDailyLimit``).
Both become :class:`~app.integrations.sms.SmsFailed` with a reason (:func:`reason_of`). The
secret key never leaves the SDK's signer; logs carry the kind, the masked number and the gateway's
code, never the parameters (a code) nor the number.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

from app.integrations.sms import SmsFailed, SmsMessage, log_failure, record

# The SDK logs whole requests and answers (numbers, parameters) at DEBUG: never let them through.
logging.getLogger("tencentcloud_sdk_common").setLevel(logging.WARNING)

TIMEOUT_SECONDS = 5
PHONE_LIMIT = ("LimitExceeded.PhoneNumberDailyLimit", "LimitExceeded.PhoneNumberOneHourLimit",
               "LimitExceeded.PhoneNumberSameContentDailyLimit", "LimitExceeded.PhoneNumberThirtySecondLimit")
PHONE_REFUSED = ("InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
                 "FailedOperation.PhoneNumberParseFail")
UNAVAILABLE = ("InternalError", "RequestLimitExceeded", "ClientNetworkError", "ServerNetworkError", "FailedOperation.OtherError",
               "LimitExceeded.AppDailyLimit", "LimitExceeded.AppMainlandChinaDailyLimit", "LimitExceeded.DailyLimit",
               "LimitExceeded.DeliveryFrequencyLimit", "LimitExceeded.GlobalSmsSendingRateLimit")
MISCONFIGURED = ("AuthFailure", "UnauthorizedOperation", "FailedOperation", "InvalidParameter", "MissingParameter",
                 "UnknownParameter", "UnsupportedOperation", "InvalidCredential", "LimitExceeded")


def reason_of(gateway_code: str) -> str:
    """The outcome of a gateway error code (the SDK's ``sms/v20210111/errorcodes.py``):
    ``phone_limit`` (the number's 30 s / hour / day limits), ``phone_refused`` (a wrong or blocked
    number), ``unavailable`` (the gateway's trouble or our account's volume limits: later may
    work; also a code not known here) or ``misconfigured`` (``AuthFailure.*``,
    ``UnauthorizedOperation.*``, other ``FailedOperation.*`` such as an unapproved sign or
    template or no balance left, ``InvalidParameterValue.*``, ``MissingParameter.*``: an operator
    must act)."""
    for reason, prefixes in (("phone_limit", PHONE_LIMIT), ("phone_refused", PHONE_REFUSED), ("unavailable", UNAVAILABLE),
                             ("misconfigured", MISCONFIGURED)):
        if gateway_code.startswith(prefixes):
            return reason
    return "unavailable"


@dataclass(frozen=True)
class TencentSmsSettings:
    """What ``CARD_SMS_*`` configures (app.config): the API key pair, the SMS application
    (``SdkAppId``, e.g. ``1400006666``), the approved sign name, kind -> approved template id,
    the endpoint URL (scheme://host[:port]) and the region."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    templates: dict[str, str]
    endpoint: str = "https://sms.tencentcloudapi.com"
    region: str = "ap-guangzhou"

    def __repr__(self) -> str:
        return f"TencentSmsSettings(sdk_app_id={self.sdk_app_id!r}, endpoint={self.endpoint!r}, secret=***)"


class TencentSmsSender:
    """Sends each :class:`~app.integrations.sms.SmsMessage` as ``SendSms`` with the kind's
    approved template; raises :class:`~app.integrations.sms.SmsFailed` unless Tencent answered
    ``Code: Ok`` for the number."""

    def __init__(self, settings: TencentSmsSettings) -> None:
        self.settings = settings
        address = urlsplit(settings.endpoint)
        http = HttpProfile(protocol=address.scheme or "https", endpoint=address.netloc, reqTimeout=TIMEOUT_SECONDS)
        self._client = sms_client.SmsClient(credential.Credential(settings.secret_id, settings.secret_key), settings.region,
                                            ClientProfile(httpProfile=http))

    def send(self, phone: str, message: SmsMessage) -> None:
        """``SendSms`` to ``+86`` ``phone``; raises SmsFailed (logged, counted) unless accepted."""
        try:
            self._send(phone, message)
        except SmsFailed as failure:
            log_failure(phone, message, failure)
            record(message, failure.reason)
            raise
        record(message, "sent")

    def _send(self, phone: str, message: SmsMessage) -> None:
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [f"+86{phone}"]
        request.SmsSdkAppId = self.settings.sdk_app_id
        request.SignName = self.settings.sign_name
        request.TemplateId = self.settings.templates[message.kind]
        request.TemplateParamSet = list(message.params)
        request.SessionContext = message.kind  # echoed in the status and delivery reports: no personal data
        try:
            statuses = self._client.SendSms(request).SendStatusSet or []
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "ClientNetworkError")
            raise SmsFailed(reason_of(code), code) from None
        code = statuses[0].Code if statuses else "InternalError.EmptyAnswer"
        if code != "Ok":
            raise SmsFailed(reason_of(code or "InternalError.EmptyAnswer"), code or "InternalError.EmptyAnswer")
