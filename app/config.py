"""Settings from the environment (documented in docs/operations.md).

``load_config(environ)`` turns ``DATABASE_URL``, ``REDIS_URL`` and the ``CARD_*`` variables into
Flask config keys. Outside production, missing secrets fall back to published development
values so that ``citizencard demo`` runs with no set-up; with ``CARD_ENV=production`` those
values, or missing ones, stop the app from starting (:class:`ConfigError`).
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from typing import Any

from app.platform.crypto import Keyring, KeyringError, shown_key_id

# Published development values. They are in the source code, so production refuses them.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"  # noqa: S105 (published on purpose; production refuses it)
DEV_DATA_KEYS = "dev1:" + base64.b64encode(b"D" * 32).decode()
DEV_INDEX_KEY = base64.b64encode(b"I" * 32).decode()
DEV_WECHAT_SECRET = "dev-wechat-secret"  # noqa: S105 (published on purpose; production refuses it)
DEV_WECHAT_APPID = "wxdevcitizencard0"
DEV_BENEFIT_TEMPLATE = "benefit-credited-dev"
DEV_DESK_TEMPLATE = "desk-reply-dev"
DEV_PAYMENT_TEMPLATE = "payment-notice-dev"
DEV_AUDIT_KEY = b"A" * 32  # Ed25519 private key signing the audit chain head (app/service_desk/audit.py)
DEV_AUDIT_KEYS = "dev1:" + base64.b64encode(DEV_AUDIT_KEY).decode()
DEV_ANSWER_KEY = b"R" * 32  # Ed25519 private key signing partner answers (scenes/answer_signing.py)
DEV_ANSWER_KEYS = "dev1:" + base64.b64encode(DEV_ANSWER_KEY).decode()

SECRET_SETTINGS = ("SECRET_KEY", "CARD_DATA_KEYS", "CARD_BLIND_INDEX_KEY")
DEV_VALUES = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "CARD_HUB_CREDIT_EXPORT_KEY": "dev-credit-export-key",  # production: no default (the export refuses)
    "CARD_DATA_KEYS": DEV_DATA_KEYS,
    "CARD_BLIND_INDEX_KEY": DEV_INDEX_KEY,
    "CARD_WECHAT_SECRET": DEV_WECHAT_SECRET,
    "CARD_AUDIT_KEYS": DEV_AUDIT_KEYS,
    "CARD_ANSWER_KEYS": DEV_ANSWER_KEYS,
}


DEFAULT_BENEFIT_TYPES = ("pension,unemployment_insurance,talent_subsidy,employment_subsidy,social_relief,"
                         "agricultural_subsidy,disability_subsidy,elderly_allowance")


class ConfigError(RuntimeError):
    """The environment cannot run the app (e.g. production with a development secret).
    ``problems``: every missing or refused setting found (issue 19, item 6: all of them in one run)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class _Problems:
    """Collects the refusal of each setting, so that one run names them all."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, parse: Any, *args: Any) -> Any:
        """``parse(*args)``, or None after noting its ConfigError."""
        try:
            return parse(*args)
        except ConfigError as exc:
            self.found.extend(exc.problems)
            return None

    def add(self, message: str) -> None:
        self.found.append(message)

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise ConfigError(self.found[0])
        if self.found:
            raise ConfigError("\n".join([f"{len(self.found)} settings are missing or refused:", *self.found]), self.found)


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read settings from ``environ`` (default ``os.environ``); returns Flask config keys.

    Raises :class:`ConfigError` naming every refused setting (a bad value; in production mode, a
    missing secret or a development default), not only the first.
    """
    env = os.environ if environ is None else environ
    problems = _Problems()
    card_env = env.get("CARD_ENV") or "development"
    if card_env not in ("development", "production"):
        problems.add("CARD_ENV must be development or production (lower case)")
    production = card_env == "production"
    config: dict[str, Any] = {
        "CARD_ENV": card_env,
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or None,
        "REDIS_URL": env.get("REDIS_URL") or None,
        # A Redis Cluster instead of one Redis: host:port,host:port (app.platform.store.RedisClusterStore)
        "CARD_REDIS_CLUSTER_NODES": problems.check(_redis_cluster_nodes, env),
        # The prefix of every key in Redis (two deployments may share one Redis or one cluster)
        "CARD_REDIS_PREFIX": problems.check(_redis_prefix, env),
        "SECRET_KEY": env.get("CARD_SECRET_KEY"),
        "CARD_DATA_KEYS": env.get("CARD_DATA_KEYS"),
        "CARD_BLIND_INDEX_KEY": env.get("CARD_BLIND_INDEX_KEY"),
        "CARD_AUDIT_KEYS": env.get("CARD_AUDIT_KEYS"),
        "CARD_ANSWER_KEYS": env.get("CARD_ANSWER_KEYS"),
        "CARD_WECHAT_APPID": env.get("CARD_WECHAT_APPID", DEV_WECHAT_APPID),
        "CARD_WECHAT_SECRET": env.get("CARD_WECHAT_SECRET"),
        "CARD_WECHAT_API_BASE": env.get("CARD_WECHAT_API_BASE", "https://api.weixin.qq.com/"),
        "CARD_ALIPAY_APP_ID": env.get("CARD_ALIPAY_APP_ID"),
        "CARD_ALIPAY_PRIVATE_KEY_FILE": env.get("CARD_ALIPAY_PRIVATE_KEY_FILE"),
        "CARD_ALIPAY_PUBLIC_KEY_FILE": env.get("CARD_ALIPAY_PUBLIC_KEY_FILE"),
        "CARD_ALIPAY_GATEWAY": env.get("CARD_ALIPAY_GATEWAY", "https://openapi.alipay.com/gateway.do"),
        # Real-person checks (issue 17 item 2, docs/miniprogram-api.md): which providers are on
        # (wechat: WeChat face verification; alipay: Alipay certification, needs the Alipay settings)
        "CARD_REAL_PERSON_PROVIDERS": _names(env.get("CARD_REAL_PERSON_PROVIDERS", "wechat,alipay")) or frozenset({"wechat", "alipay"}),
        # The lowest assurance of the holder's binding a scene accepts (issue 17): scene:level,...
        "CARD_SCENE_MIN_ASSURANCE": problems.check(_min_assurance, env.get("CARD_SCENE_MIN_ASSURANCE",
                                                                           "government:real_person,finance:real_person")),
        # Campus partners (partner ids) that accept a relative's code for a family member (issue 18)
        "CARD_CAMPUS_PROXY_PARTNERS": _names(env.get("CARD_CAMPUS_PROXY_PARTNERS", "")) or frozenset(),
        "CARD_ALIPAY_CERTIFY_RETURN_URL": env.get("CARD_ALIPAY_CERTIFY_RETURN_URL", "https://card.dg.gov.cn/real-person/done"),
        "CARD_TOKEN_TTL": problems.check(_positive_int, env, "CARD_TOKEN_TTL", 86400),
        # The OpenID Connect provider (docs/identity-provider.md): its issuer URL (default: the
        # request's own https://host/) and its id_token signing keys, kid:base64(PKCS#8 DER of a
        # P-256 or Ed25519 key), first of each algorithm signs, all published (development:
        # published keys; production requires it and refuses them, app/oidc/signing.py)
        "CARD_OIDC_ISSUER": (env.get("CARD_OIDC_ISSUER") or "").rstrip("/") or None,
        "CARD_OIDC_SIGNING_KEYS": env.get("CARD_OIDC_SIGNING_KEYS") or None,
        "CARD_OIDC_LOGIN_SECONDS": problems.check(_positive_int, env, "CARD_OIDC_LOGIN_SECONDS", 120),  # a QR's life
        # The mini-program page a phone's link opens with ?request=<id> (app/oidc/applink.py)
        "CARD_OIDC_MP_PAGE": env.get("CARD_OIDC_MP_PAGE") or "pages/oidc/confirm",
        "CARD_OIDC_LOGINS_PER_ADDRESS": problems.check(_positive_int, env, "CARD_OIDC_LOGINS_PER_ADDRESS", 60),  # per 10 minutes
        "CARD_WORKERS": problems.check(_positive_int, env, "CARD_WORKERS", os.cpu_count() or 1),  # gevent: one per core (bench/README.md)
        "MAX_CONTENT_LENGTH": problems.check(_positive_int, env, "CARD_MAX_BODY_BYTES", 64 * 1024),
        "CARD_SCENES_ENABLED": _names(env.get("CARD_SCENES_ENABLED", "all")),
        "CARD_CONCESSION_AGES": problems.check(_concession_ages, env.get("CARD_CONCESSION_AGES", "senior:60,elder:70")),
        "CARD_SECRET_GRACE_SECONDS": problems.check(_positive_int, env, "CARD_SECRET_GRACE_SECONDS", 86400),
        # Customer service (docs/customer-service.md, M-14)
        "CARD_COMPLAINT_CATEGORIES": problems.check(_labels, env, "CARD_COMPLAINT_CATEGORIES", DEFAULT_COMPLAINT_CATEGORIES),
        "CARD_DEPARTMENTS": problems.check(_labels, env, "CARD_DEPARTMENTS", DEFAULT_DEPARTMENTS),
        "CARD_FIRST_RESPONSE_DAYS": problems.check(_positive_int, env, "CARD_FIRST_RESPONSE_DAYS", 1),
        "CARD_RESOLUTION_DAYS": problems.check(_positive_int, env, "CARD_RESOLUTION_DAYS", 5),
        # E-card applications off the roster (issue 17 item 1): working days a review may take
        "CARD_APPLICATION_REVIEW_DAYS": problems.check(_positive_int, env, "CARD_APPLICATION_REVIEW_DAYS", 5),
        "CARD_CONSOLE_IDLE_MINUTES": problems.check(_positive_int, env, "CARD_CONSOLE_IDLE_MINUTES", 15),
        "CARD_CONSOLE_MAX_HOURS": problems.check(_positive_int, env, "CARD_CONSOLE_MAX_HOURS", 12),
        "CARD_CONSOLE_SECURE_COOKIE": env.get("CARD_CONSOLE_SECURE_COOKIE", "1") != "0",
        # Benefits (docs/benefits.md): the benefit types departments may disburse, and the
        # WeChat subscribe-message template announcing a credited benefit.
        "CARD_BENEFIT_TYPES": problems.check(_benefit_types, env.get("CARD_BENEFIT_TYPES") or DEFAULT_BENEFIT_TYPES),
        "CARD_WECHAT_BENEFIT_TEMPLATE": env.get("CARD_WECHAT_BENEFIT_TEMPLATE", DEV_BENEFIT_TEMPLATE),
        "CARD_NOTIFY_MAX_ATTEMPTS": problems.check(_positive_int, env, "CARD_NOTIFY_MAX_ATTEMPTS", 8),
        # Service-desk notices (issue 21 item 6): the templates announcing a reply or a closing
        "CARD_WECHAT_DESK_TEMPLATE": env.get("CARD_WECHAT_DESK_TEMPLATE", DEV_DESK_TEMPLATE),
        "CARD_ALIPAY_DESK_TEMPLATE": env.get("CARD_ALIPAY_DESK_TEMPLATE", DEV_DESK_TEMPLATE),
        # Payment notices (issue 22 item 6): the templates announcing a charge at or above
        # CARD_CHARGE_NOTICE_FEN or a decline (docs/payments.md "For citizens")
        "CARD_WECHAT_PAYMENT_TEMPLATE": env.get("CARD_WECHAT_PAYMENT_TEMPLATE", DEV_PAYMENT_TEMPLATE),
        "CARD_ALIPAY_PAYMENT_TEMPLATE": env.get("CARD_ALIPAY_PAYMENT_TEMPLATE", DEV_PAYMENT_TEMPLATE),
        "CARD_REPLACEMENT_FEE_FEN": problems.check(_whole_number, env, "CARD_REPLACEMENT_FEE_FEN", 2000),
        "CARD_TECHNOLOGY": problems.check(_label, env, "CARD_TECHNOLOGY", "gen3"),
        "CARD_LENDING_SPEED_KMH": problems.check(_positive_int, env, "CARD_LENDING_SPEED_KMH", 200),
        # The city data hub (docs/data-hub.md): days a leaver's card still works; webhook attempts per event
        "CARD_HUB_LEAVING_GRACE_DAYS": problems.check(_positive_int, env, "CARD_HUB_LEAVING_GRACE_DAYS", 90),
        "CARD_HUB_WEBHOOK_MAX_ATTEMPTS": problems.check(_positive_int, env, "CARD_HUB_WEBHOOK_MAX_ATTEMPTS", 6),
        # Misuse cases (M-27): e-card scans this many minutes apart are compared; days to appeal;
        # days until credit repair; the HMAC key signing the credit platform export
        "CARD_HUB_ECARD_LENDING_MINUTES": problems.check(_positive_int, env, "CARD_HUB_ECARD_LENDING_MINUTES", 10),
        # Concession misuse (app/hub/concessions.py): this many distinct transit gates boarded by one
        # concession card within this many minutes make a flag
        "CARD_HUB_CONCESSION_ENTRIES": problems.check(_positive_int, env, "CARD_HUB_CONCESSION_ENTRIES", 4),
        "CARD_HUB_CONCESSION_MINUTES": problems.check(_positive_int, env, "CARD_HUB_CONCESSION_MINUTES", 30),
        "CARD_HUB_APPEAL_DAYS": problems.check(_positive_int, env, "CARD_HUB_APPEAL_DAYS", 15),
        "CARD_HUB_CREDIT_REPAIR_DAYS": problems.check(_positive_int, env, "CARD_HUB_CREDIT_REPAIR_DAYS", 365),
        "CARD_HUB_CREDIT_EXPORT_KEY": env.get("CARD_HUB_CREDIT_EXPORT_KEY"),
        # Whole UTC months of verification records kept before the current one (`retention run`;
        # docs/operations.md "What is kept, and for how long": 3 years)
        "CARD_VERIFICATION_RETENTION_MONTHS": problems.check(_positive_int, env, "CARD_VERIFICATION_RETENTION_MONTHS", 36),
        # Binding attempts per client address per hour; 0 = off (behind a proxy: set CARD_TRUSTED_PROXIES)
        "CARD_BINDING_ATTEMPTS_PER_ADDRESS": problems.check(_whole_number, env, "CARD_BINDING_ATTEMPTS_PER_ADDRESS", 0),
        # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (app/platform/proxies.py)
        "CARD_TRUSTED_PROXIES": problems.check(_networks, env, "CARD_TRUSTED_PROXIES"),
        # One JSON object per log line (production's default), or plain text (app/platform/logs.py)
        "CARD_LOG_FORMAT": problems.check(_log_format, env, "production" if production else "development"),
        # Who may read GET /metrics (app/probes.py): these networks, not through a proxy, or the bearer token
        "CARD_METRICS_ALLOW": problems.check(_networks, env, "CARD_METRICS_ALLOW", "127.0.0.1,::1"),
        "CARD_METRICS_TOKEN": problems.check(_metrics_token, env),
        # What is between the app and PostgreSQL: `transaction` (PgBouncer in transaction mode) turns
        # off psycopg's prepared statements, which such a pooler cannot keep (app/__init__.py)
        "CARD_DATABASE_POOLER": problems.check(_pooler, env),
        # Paying with the card (docs/payments.md): amounts above this need the e-card password; a
        # card's charges a day; per-charge maximum per scene (scene:fen,...); a notice above this
        # amount; the clearing fee in basis points of the merchant's gross
        "CARD_CHARGE_PASSWORD_FREE_FEN": problems.check(_whole_number, env, "CARD_CHARGE_PASSWORD_FREE_FEN", 20000),
        "CARD_CHARGE_DAILY_LIMIT_FEN": problems.check(_positive_int, env, "CARD_CHARGE_DAILY_LIMIT_FEN", 500000),
        "CARD_CHARGE_SCENE_LIMITS": problems.check(_scene_amounts, env.get("CARD_CHARGE_SCENE_LIMITS", DEFAULT_SCENE_LIMITS)),
        "CARD_CHARGE_NOTICE_FEN": problems.check(_whole_number, env, "CARD_CHARGE_NOTICE_FEN", 10000),
        "CARD_CHARGE_FEE_BP": problems.check(_whole_number, env, "CARD_CHARGE_FEE_BP", 0),
        # The integrators' sandbox (app/sandbox.py): test partners, residents, login and e-card codes
        "CARD_SANDBOX": problems.check(_sandbox, env, production),
    }
    config.update(_sms_settings(env, production, problems))
    if production:
        _refuse_placeholders(env, problems)
        _refuse_weak_secrets(config, problems)
    else:
        _fill_dev_defaults(config)
    if config["CARD_BLIND_INDEX_KEY"]:
        problems.check(_check_base64_key, config["CARD_BLIND_INDEX_KEY"])
    problems.check(_check_audit_keys, config["CARD_AUDIT_KEYS"], production)
    problems.check(_check_audit_keys, config["CARD_ANSWER_KEYS"], production, "CARD_ANSWER_KEYS", DEV_ANSWER_KEY)
    if config["CARD_DATA_KEYS"]:
        problems.check(_check_data_keys, config["CARD_DATA_KEYS"])
    problems.check(_check_oidc_keys, config["CARD_OIDC_SIGNING_KEYS"], production)
    problems.raise_any()
    return config


PLACEHOLDER = "CHANGE-ME"  # deploy/citizencard.env.example's mark for a value the operator must set


def _refuse_placeholders(env: Mapping[str, str], problems: _Problems) -> None:
    """Production: every setting (CARD_*, DATABASE_URL, REDIS_URL) still holding the example file's
    ``CHANGE-ME`` placeholder, in any case and anywhere in the value (a URL's password), is named."""
    for name in sorted(env):
        if (name.startswith("CARD_") or name in ("DATABASE_URL", "REDIS_URL")) and PLACEHOLDER.casefold() in env[name].casefold():
            problems.add(f"production mode: {name} still holds the placeholder {PLACEHOLDER} of "
                         "deploy/citizencard.env.example: set a real value")


def _check_data_keys(value: str) -> None:
    """CARD_DATA_KEYS: a list the keyring can read (checked here, so it is named with the rest)."""
    try:
        Keyring.from_setting(value)
    except KeyringError as exc:
        raise ConfigError(f"CARD_DATA_KEYS: {exc}") from None


SMS_PROVIDERS = ("console", "tencent")
TENCENT_SMS_REQUIRED = ("CARD_SMS_SECRET_ID", "CARD_SMS_SECRET_KEY", "CARD_SMS_SDK_APP_ID", "CARD_SMS_SIGN_NAME")


def _sms_settings(env: Mapping[str, str], production: bool, problems: _Problems) -> dict[str, Any]:
    """The SMS gateway (app/integrations/sms.py, docs/operations.md): ``CARD_SMS_PROVIDER``
    ``console`` (development's default; refused in production, where it would send nothing) or
    ``tencent`` (Tencent Cloud SMS), which needs the key pair, the SdkAppId, the sign name and a
    template id for every message kind. A secret's value is never echoed in a refusal."""
    provider = env.get("CARD_SMS_PROVIDER") or ("tencent" if production else "console")
    settings: dict[str, Any] = {name: (env.get(name) or "").strip() or None for name in TENCENT_SMS_REQUIRED}
    settings.update({"CARD_SMS_PROVIDER": provider, "CARD_SMS_REGION": env.get("CARD_SMS_REGION") or "ap-guangzhou",
                     "CARD_SMS_ENDPOINT": problems.check(_sms_endpoint, env, production),
                     "CARD_SMS_TEMPLATES": problems.check(_sms_templates, env.get("CARD_SMS_TEMPLATES") or "", provider == "tencent")})
    if provider not in SMS_PROVIDERS:
        problems.add(f"CARD_SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)}")
    elif provider == "console" and production:
        problems.add("production mode: CARD_SMS_PROVIDER=console sends no SMS (codes would reach nobody): set tencent")
    elif provider == "tencent":
        for name in TENCENT_SMS_REQUIRED:
            if not settings[name]:
                problems.add(f"CARD_SMS_PROVIDER=tencent: {name} is not set")
    return settings


def _sms_endpoint(env: Mapping[str, str], production: bool) -> str:
    """``CARD_SMS_ENDPOINT``: scheme://host[:port] of the SMS API (https in production)."""
    from urllib.parse import urlsplit

    raw = (env.get("CARD_SMS_ENDPOINT") or "https://sms.tencentcloudapi.com").strip().rstrip("/")
    address = urlsplit(raw)
    if address.scheme not in ("http", "https") or not address.netloc or address.path or address.query:
        raise ConfigError("CARD_SMS_ENDPOINT must look like https://sms.tencentcloudapi.com (scheme and host only)")
    if production and address.scheme != "https":
        raise ConfigError("production mode: CARD_SMS_ENDPOINT must be https")
    return raw


def _sms_templates(raw: str, required: bool) -> dict[str, str]:
    """``CARD_SMS_TEMPLATES``: ``kind=templateId,...`` for the kinds of app.integrations.sms.KINDS
    (each once; ids of 1-32 letters, digits, _ or -); the tencent provider needs every kind."""
    from app.integrations.sms import KINDS

    templates: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kind, _, template = (part.strip() for part in item.partition("="))
        if kind not in KINDS or kind in templates or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", template):
            raise ConfigError(f"CARD_SMS_TEMPLATES must look like verification_code=1234567,caller_check=1234568 "
                              f"(kinds: {', '.join(KINDS)}; each once)")
        templates[kind] = template
    missing = [kind for kind in KINDS if kind not in templates]
    if required and missing:
        raise ConfigError(f"CARD_SMS_TEMPLATES has no template for {', '.join(missing)}")
    return templates


def _sandbox(env: Mapping[str, str], production: bool) -> bool:
    """CARD_SANDBOX: 1 (on) or 0/unset (off); refused in production, where it would hand out codes."""
    value = env.get("CARD_SANDBOX", "0")
    if value not in ("0", "1"):
        raise ConfigError("CARD_SANDBOX must be 0 or 1")
    if value == "1" and production:
        raise ConfigError("CARD_SANDBOX=1 is refused with CARD_ENV=production: the sandbox hands out login and e-card codes")
    return value == "1"


def _check_audit_keys(value: str | None, production: bool, name: str = "CARD_AUDIT_KEYS",
                      dev_key: bytes = DEV_AUDIT_KEY) -> None:
    """CARD_AUDIT_KEYS (or CARD_ANSWER_KEYS): a list of Ed25519 keys; production needs one and
    refuses the development key under any id (by its key material, not its text)."""
    from app.platform.crypto import KeyringError, SigningKeys

    if not value:
        raise ConfigError(f"production mode: {name} is not set")
    try:
        keys = SigningKeys.from_setting(value, name)
    except KeyringError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if production and keys.holds_key(dev_key):
        raise ConfigError(f"production mode: {name} holds the development key")


def _check_oidc_keys(value: str | None, production: bool) -> None:
    """CARD_OIDC_SIGNING_KEYS (app/oidc/signing.py): readable, with a P-256 key; production needs
    it and refuses the published development keys under any id (by the key, not its text)."""
    from app.oidc.signing import holds_development_key, parse_setting

    if not value:
        if production:
            raise ConfigError("production mode: CARD_OIDC_SIGNING_KEYS is not set (citizencard rp keygen)")
        return
    try:
        keys = parse_setting(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if production and holds_development_key(keys):
        raise ConfigError("production mode: CARD_OIDC_SIGNING_KEYS holds a development key")


def _check_base64_key(value: str) -> None:
    try:
        key = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ConfigError("CARD_BLIND_INDEX_KEY must be base64 (e.g. of 32 random bytes)") from None
    if len(key) < 32:
        raise ConfigError("CARD_BLIND_INDEX_KEY must be at least 32 bytes (base64 of 32 random bytes)")


MAX_SETTING = 1_000_000_000  # no count or duration we configure is larger (seconds: 31 years)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_SETTING:
        raise ConfigError(f"{name} must be a whole number from 1 to {MAX_SETTING}")
    return int(raw)


DEFAULT_COMPLAINT_CATEGORIES = "card:卡片与挂失,code:电子码,verification:验证与刷码,binding:实名绑定,privacy:个人信息,other:其他"
DEFAULT_DEPARTMENTS = "hrss:市人力资源和社会保障局,transport:市交通运输局,health:市卫生健康局,culture:市文化广电旅游体育局"


def _labels(env: Mapping[str, str], name: str, default: str) -> dict[str, str]:
    """``"key:标签,key2:标签2"`` -> {key: label}, in order; a key without a label is its own label."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in env.get(name, default).split(","))):
        key, _, label = item.partition(":")
        if not key.isidentifier() or not key.isascii():
            raise ConfigError(f"{name} must look like key:label,key2:label2 (keys of letters, digits, _)")
        labels[key] = label.strip() or key
    if not labels:
        raise ConfigError(f"{name} lists nothing")
    return labels
def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    """Zero or more (e.g. a fee in integer fen)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise ConfigError(f"{name} must be a whole number (0-999999999)")
    return int(raw)


def _networks(env: Mapping[str, str], name: str, default: str = "") -> tuple[Any, ...]:
    """``"10.0.0.0/16, 127.0.0.1"``: IP addresses or CIDR networks; empty: none."""
    from app.platform.proxies import parse_networks

    try:
        return parse_networks(env.get(name, default))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc} (list addresses or networks, e.g. 10.0.0.0/16,127.0.0.1)") from None


MIN_METRICS_TOKEN = 32


def _redis_cluster_nodes(env: Mapping[str, str]) -> str | None:
    """``CARD_REDIS_CLUSTER_NODES``: some of the cluster's nodes as ``host:port,...``; not with
    ``REDIS_URL`` (one store or the other)."""
    from app.platform.store import cluster_nodes

    raw = (env.get("CARD_REDIS_CLUSTER_NODES") or "").strip()
    if not raw:
        return None
    try:
        cluster_nodes(raw)
    except ValueError as exc:
        raise ConfigError(f"CARD_REDIS_CLUSTER_NODES: {exc} (list nodes as host:port,host:port)") from None
    if env.get("REDIS_URL"):
        raise ConfigError("CARD_REDIS_CLUSTER_NODES and REDIS_URL are both set: set one (a Redis Cluster, or one Redis)")
    return raw


def _redis_prefix(env: Mapping[str, str]) -> str:
    """``CARD_REDIS_PREFIX`` (default ``cc:``): 1-32 of ``A-Za-z0-9_.:-``; no braces, which would
    change which Redis Cluster slot a key's hash tag picks (app.platform.store.hash_tag)."""
    value = env.get("CARD_REDIS_PREFIX") or "cc:"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,32}", value):
        raise ConfigError("CARD_REDIS_PREFIX must be 1-32 characters of A-Z a-z 0-9 _ . : - (e.g. cc:prod:)")
    return value


def _log_format(env: Mapping[str, str], card_env: str) -> str:
    value = env.get("CARD_LOG_FORMAT") or ("json" if card_env == "production" else "text")
    if value not in ("json", "text"):
        raise ConfigError("CARD_LOG_FORMAT must be json or text")
    return value


DATABASE_POOLERS = ("none", "session", "transaction")


def _pooler(env: Mapping[str, str]) -> str:
    value = env.get("CARD_DATABASE_POOLER") or "none"
    if value not in DATABASE_POOLERS:
        raise ConfigError(f"CARD_DATABASE_POOLER must be one of {', '.join(DATABASE_POOLERS)}")
    return value


def _metrics_token(env: Mapping[str, str]) -> str | None:
    token = env.get("CARD_METRICS_TOKEN") or None
    if token is not None and (len(token) < MIN_METRICS_TOKEN or not token.isascii() or not token.isprintable() or " " in token):
        raise ConfigError(f"CARD_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} printable ASCII characters without spaces")
    return token


def _label(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", raw):
        raise ConfigError(f"{name} must be 1-32 of A-Za-z0-9_.-")
    return raw


def _min_assurance(raw: str) -> dict[str, str]:
    """``"government:real_person,finance:real_person"``: scene -> knowledge, real_person or counter."""
    levels = ("knowledge", "real_person", "counter")
    pairs = [part.strip().partition(":") for part in raw.split(",") if part.strip()]
    if any(not scene or level not in levels for scene, _, level in pairs):
        raise ConfigError(f"CARD_SCENE_MIN_ASSURANCE must be scene:level pairs, levels {', '.join(levels)}")
    return {scene.strip(): level for scene, _, level in pairs}


def _names(raw: str) -> frozenset[str] | None:
    """A comma-separated list; ``all`` (the default) is None: every registered scene."""
    return None if raw.strip() == "all" else frozenset(filter(None, (name.strip() for name in raw.split(","))))


def _benefit_types(raw: str) -> tuple[str, ...]:
    """``"pension,talent_subsidy"``: lower-case identifiers of at most 32 characters."""
    names = tuple(dict.fromkeys(filter(None, (part.strip() for part in raw.split(",")))))
    if not names or any(not (name.isidentifier() and name.islower() and len(name) <= 32) for name in names):
        raise ConfigError("CARD_BENEFIT_TYPES must list lower-case identifiers (at most 32 characters), e.g. pension,talent_subsidy")
    return names


# Concession names the transit scene gives for other reasons: an age category may not take them.
RESERVED_CONCESSIONS = ("disabled", "standard", "none")


def _concession_ages(raw: str) -> tuple[tuple[str, int], ...]:
    """``"senior:60,elder:70"``: (category, minimum age 1-150), each category once, highest age
    first; an empty value means no age concessions."""
    pairs: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        category, _, age = item.partition(":")
        if not category.isidentifier() or not age.isascii() or not age.isdigit() or not 1 <= int(age) <= 150:
            raise ConfigError("CARD_CONCESSION_AGES must look like senior:60,elder:70 (ages 1-150)")
        if category in RESERVED_CONCESSIONS or category in pairs:
            raise ConfigError(f"CARD_CONCESSION_AGES: {category} is reserved or repeated")
        pairs[category] = int(age)
    return tuple(sorted(pairs.items(), key=lambda pair: -pair[1]))


DEFAULT_SCENE_LIMITS = "transit:5000,campus:20000,public_venue:50000,culture:50000,medical:500000,finance:500000,government:100000"


def _scene_amounts(raw: str) -> dict[str, int]:
    """``"transit:5000,campus:20000"``: the largest single charge (integer fen, 1-999999999) per
    scene; a scene not named cannot be charged in."""
    amounts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        scene, _, fen = item.partition(":")
        if not scene.isidentifier() or not fen.isascii() or not fen.isdigit() or not 1 <= int(fen) <= 999_999_999 or scene in amounts:
            raise ConfigError("CARD_CHARGE_SCENE_LIMITS must look like transit:5000,campus:20000 (fen 1-999999999, each scene once)")
        amounts[scene] = int(fen)
    return amounts


def _fill_dev_defaults(config: dict[str, Any]) -> None:
    for name, value in DEV_VALUES.items():
        if not config.get(name):
            config[name] = value


def _refuse_weak_secrets(config: dict[str, Any], problems: _Problems) -> None:
    for name in (*SECRET_SETTINGS, "CARD_WECHAT_SECRET"):
        value = config.get(name)
        if not value:
            problems.add(f"production mode: {_env_name(name)} is not set")
        elif name not in KEY_SETTINGS and value.strip() == DEV_VALUES[name]:
            problems.add(f"production mode: {_env_name(name)} is a development default")
    _refuse_published_keys(config, problems)
    _refuse_development_identifiers(config, problems)
    if not str(config.get("SQLALCHEMY_DATABASE_URI") or "").startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        problems.add("production mode: DATABASE_URL must name a PostgreSQL database")
    if not config.get("REDIS_URL") and not config.get("CARD_REDIS_CLUSTER_NODES"):
        problems.add("production mode: REDIS_URL is not set (or CARD_REDIS_CLUSTER_NODES, for a Redis Cluster)")
    if config["SECRET_KEY"] and len(config["SECRET_KEY"]) < MIN_SECRET_KEY_LENGTH:
        problems.add(f"production mode: CARD_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters")


MIN_SECRET_KEY_LENGTH = 32


def _env_name(setting: str) -> str:
    return "CARD_SECRET_KEY" if setting == "SECRET_KEY" else setting


# Issue 15, item 16: a published development key is refused by its material, not its text: under
# any key id, in any base64 spelling that decodes to the same bytes, in any key setting (the data
# key as the blind-index key too), also when kept after a real key "for decryption".
KEY_SETTINGS = tuple(name for name in DEV_VALUES if name.endswith(("_KEY", "_KEYS")) and name != "SECRET_KEY")
DEV_IDENTIFIERS = {"CARD_WECHAT_APPID": (DEV_WECHAT_APPID, "the development mini-program AppID"),
                   "CARD_WECHAT_BENEFIT_TEMPLATE": (DEV_BENEFIT_TEMPLATE, "the development subscribe-message template id"),
                   "CARD_WECHAT_DESK_TEMPLATE": (DEV_DESK_TEMPLATE, "the development service-desk notice template id"),
                   "CARD_WECHAT_PAYMENT_TEMPLATE": (DEV_PAYMENT_TEMPLATE, "the development payment notice template id")}
# Refused only when the platform serves Alipay (CARD_ALIPAY_APP_ID set): otherwise no Alipay account exists to notify.
DEV_ALIPAY_IDENTIFIERS = {"CARD_ALIPAY_DESK_TEMPLATE": (DEV_DESK_TEMPLATE, "the development service-desk notice template id"),
                          "CARD_ALIPAY_PAYMENT_TEMPLATE": (DEV_PAYMENT_TEMPLATE, "the development payment notice template id")}


def _key_entries(value: str) -> list[tuple[str | None, bytes]]:
    """(key id, decoded key) of each entry of a key setting: ``id:base64,...`` or a bare base64
    key (id None). An entry that is not base64 is skipped: the keyring refuses it, by position."""
    entries = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        key_id, separator, encoded = item.partition(":")
        try:
            material = base64.b64decode(encoded.strip() if separator else item, validate=True)
        except binascii.Error:
            continue
        entries.append((key_id.strip() if separator else None, material))
    return entries


def _published_key_material() -> frozenset[bytes]:
    return frozenset(material for name in KEY_SETTINGS for _, material in _key_entries(DEV_VALUES[name]))


def _refuse_published_keys(config: dict[str, Any], problems: _Problems) -> None:
    published = _published_key_material()
    for name in KEY_SETTINGS:
        for key_id, material in _key_entries(config.get(name) or ""):
            if material in published:
                which = "" if key_id is None else f" (key {shown_key_id(key_id)})"
                problems.add(f"production mode: {name}{which} is a published development key (a development default, "
                             "in the source code): generate a new key (`citizencard keys rotate`)")


def _refuse_development_identifiers(config: dict[str, Any], problems: _Problems) -> None:
    identifiers = {**DEV_IDENTIFIERS, **(DEV_ALIPAY_IDENTIFIERS if config.get("CARD_ALIPAY_APP_ID") else {})}
    for name, (development, what) in identifiers.items():
        if str(config.get(name) or "").strip().casefold() == development.casefold():
            problems.add(f"production mode: {name} is not set or is {what} ({development})")
