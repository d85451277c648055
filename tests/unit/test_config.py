"""Settings from the environment; production refuses missing or development secrets."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import DEV_DATA_KEYS, DEV_INDEX_KEY, DEV_SECRET_KEY, ConfigError, load_config
from app.integrations.sms import KINDS

SMS_SECRET_KEY = "sms-secret-key-never-echoed"  # noqa: S105 (a test value)
SMS = {
    "CARD_SMS_PROVIDER": "tencent",
    "CARD_SMS_SECRET_ID": "AKIDcitizencard0000000000000000000",
    "CARD_SMS_SECRET_KEY": SMS_SECRET_KEY,
    "CARD_SMS_SDK_APP_ID": "1400000001",
    "CARD_SMS_SIGN_NAME": "东莞市民卡",
    "CARD_SMS_TEMPLATES": ",".join(f"{kind}={2000001 + n}" for n, kind in enumerate(KINDS)),
}
STRONG = {
    "CARD_ENV": "production",
    "DATABASE_URL": "postgresql://db/card",
    "REDIS_URL": "redis://cache:6379/0",
    "CARD_SECRET_KEY": "s" * 40,
    "CARD_DATA_KEYS": "k1:" + base64.b64encode(b"k" * 32).decode(),
    "CARD_BLIND_INDEX_KEY": base64.b64encode(b"b" * 32).decode(),
    "CARD_WECHAT_SECRET": "real-secret",
    "CARD_WECHAT_APPID": "wx0123456789abcdef",
    "CARD_WECHAT_BENEFIT_TEMPLATE": "Yx3kP0benefitCreditedTemplate01",
    "CARD_WECHAT_DESK_TEMPLATE": "Yx3kP0deskReplyTemplate0000001",
    "CARD_WECHAT_PAYMENT_TEMPLATE": "Yx3kP0paymentNoticeTemplate001",
    "CARD_AUDIT_KEYS": "a1:" + base64.b64encode(b"a" * 32).decode(),
    "CARD_ANSWER_KEYS": "r1:" + base64.b64encode(b"r" * 32).decode(),
    "CARD_OIDC_SIGNING_KEYS": "o1:" + base64.b64encode(ec.derive_private_key(0x30396, ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode(),
    **SMS,
}


def test_development_fills_published_defaults() -> None:
    config = load_config({})
    assert config["SECRET_KEY"] == DEV_SECRET_KEY
    assert config["SQLALCHEMY_DATABASE_URI"] is None  # the factory puts SQLite in the instance folder
    assert config["REDIS_URL"] is None  # the embedded store


def test_production_with_real_secrets_starts() -> None:
    config = load_config(STRONG)
    assert config["CARD_ENV"] == "production" and config["SECRET_KEY"] == "s" * 40


@pytest.mark.parametrize("name", ["CARD_SECRET_KEY", "CARD_DATA_KEYS", "CARD_BLIND_INDEX_KEY", "CARD_WECHAT_SECRET", "DATABASE_URL",
                                  "REDIS_URL"])
def test_production_refuses_a_missing_secret(name: str) -> None:
    env = {k: v for k, v in STRONG.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        load_config(env)


def test_a_redis_cluster_stands_in_for_redis_url_in_production() -> None:
    env = {**{k: v for k, v in STRONG.items() if k != "REDIS_URL"}, "CARD_REDIS_CLUSTER_NODES": "10.0.0.1:7000, redis-b:7001,[::1]:7002"}
    config = load_config(env)
    assert config["CARD_REDIS_CLUSTER_NODES"] == "10.0.0.1:7000, redis-b:7001,[::1]:7002" and config["REDIS_URL"] is None
    with pytest.raises(ConfigError, match=r"REDIS_URL is not set \(or CARD_REDIS_CLUSTER_NODES"):
        load_config({**env, "CARD_REDIS_CLUSTER_NODES": ""})
    assert load_config({})["CARD_REDIS_CLUSTER_NODES"] is None


@pytest.mark.parametrize("value", ["redis-a", "redis-a:0", "redis-a:70000", "redis-a:7000,:7001", "redis a:7000", ",", "h:7x"])
def test_a_bad_cluster_node_list_is_refused_with_the_others(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({"CARD_REDIS_CLUSTER_NODES": value, "CARD_TOKEN_TTL": "0"})
    assert refused.value.problems[0].startswith("CARD_TOKEN_TTL") or "CARD_TOKEN_TTL" in str(refused.value)
    assert any(problem.startswith("CARD_REDIS_CLUSTER_NODES: ") and "host:port" in problem for problem in refused.value.problems)


def test_a_cluster_and_one_redis_are_not_both_set() -> None:
    with pytest.raises(ConfigError, match="CARD_REDIS_CLUSTER_NODES and REDIS_URL are both set"):
        load_config({**STRONG, "CARD_REDIS_CLUSTER_NODES": "10.0.0.1:7000"})


@pytest.mark.parametrize(("name", "value"), [("CARD_SECRET_KEY", DEV_SECRET_KEY), ("CARD_DATA_KEYS", DEV_DATA_KEYS)])
def test_production_refuses_development_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="development default"):
        load_config({**STRONG, name: value})


def test_production_refuses_a_dev_key_kept_for_decryption() -> None:
    with pytest.raises(ConfigError):
        load_config({**STRONG, "CARD_DATA_KEYS": STRONG["CARD_DATA_KEYS"] + "," + DEV_DATA_KEYS})


def test_create_app_refuses_to_start_in_production_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import create_app

    monkeypatch.setenv("CARD_ENV", "production")
    with pytest.raises(ConfigError):
        create_app()


@pytest.mark.parametrize(("name", "value"), [("CARD_TOKEN_TTL", "abc"), ("CARD_WORKERS", "0"), ("CARD_MAX_BODY_BYTES", "-1")])
def test_numbers_must_be_positive_and_the_error_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_departments_and_categories_are_key_label_lists() -> None:
    config = load_config({"CARD_DEPARTMENTS": "metro:东莞地铁, health", "CARD_FIRST_RESPONSE_DAYS": "2"})
    assert config["CARD_DEPARTMENTS"] == {"metro": "东莞地铁", "health": "health"}
    assert config["CARD_FIRST_RESPONSE_DAYS"] == 2 and config["CARD_RESOLUTION_DAYS"] == 5
    assert "other" in config["CARD_COMPLAINT_CATEGORIES"] and config["CARD_CONSOLE_SECURE_COOKIE"] is True
    assert load_config({"CARD_CONSOLE_SECURE_COOKIE": "0"})["CARD_CONSOLE_SECURE_COOKIE"] is False
    for bad in ("地铁:metro", " , ", "a-b:x"):
        with pytest.raises(ConfigError, match="CARD_DEPARTMENTS"):
            load_config({"CARD_DEPARTMENTS": bad})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DATABASE_URL", "sqlite:///card.sqlite", "PostgreSQL"),
    ("CARD_SECRET_KEY", "a", "at least 32"),
])
def test_production_refuses_what_cannot_run_a_city(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**STRONG, name: value})


@pytest.mark.parametrize(("env", "message"), [
    ({"CARD_ENV": "Production"}, "CARD_ENV must be development or production"),
    ({"CARD_ENV": "prod"}, "CARD_ENV must be development or production"),
    ({"CARD_TOKEN_TTL": "99999999999999999"}, "CARD_TOKEN_TTL must be a whole number from 1"),
    ({"CARD_VERIFICATION_RETENTION_MONTHS": "0"}, "CARD_VERIFICATION_RETENTION_MONTHS must be a whole number from 1"),
    ({"CARD_VERIFICATION_RETENTION_MONTHS": "3y"}, "CARD_VERIFICATION_RETENTION_MONTHS must be a whole number from 1"),
    ({"CARD_CONCESSION_AGES": "senior:60,disabled:30"}, "reserved or repeated"),
    ({"CARD_CONCESSION_AGES": "senior:60,senior:70"}, "reserved or repeated"),
    ({"CARD_CONCESSION_AGES": "senior:200"}, "ages 1-150"),
    ({"CARD_BLIND_INDEX_KEY": "short"}, "must be base64"),
    ({"CARD_BLIND_INDEX_KEY": base64.b64encode(b"x" * 8).decode()}, "at least 32 bytes"),
])
def test_values_that_would_silently_misbehave_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env)


def test_an_unknown_enabled_scene_refuses_to_start() -> None:
    from app import create_app

    with pytest.raises(ConfigError, match="unknown scenes Transit"):
        create_app({"CARD_SCENES_ENABLED": frozenset({"Transit"})})


# Issue 15, item 16: the published development keys are refused by their material, whatever the
# key id or spelling (base64 with non-canonical trailing bits, spaces around an entry, another id).
DEV_DATA_MATERIAL = base64.b64decode(DEV_DATA_KEYS.split(":", 1)[1])
DEV_INDEX_MATERIAL = base64.b64decode(DEV_INDEX_KEY)


def _respelled(material: bytes) -> str:
    """Base64 of ``material`` whose last character differs from the canonical one (the unused low
    bits set), which decodes to the same bytes."""
    canonical = base64.b64encode(material).decode()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = canonical.rstrip("=")[-1]
    spelled = canonical.rstrip("=")[:-1] + alphabet[alphabet.index(last) + 1] + "=" * canonical.count("=")
    assert spelled != canonical and base64.b64decode(spelled) == material
    return spelled


@pytest.mark.parametrize("setting", [
    "k7:" + base64.b64encode(DEV_DATA_MATERIAL).decode(),
    "prod2024:" + _respelled(DEV_DATA_MATERIAL),
    STRONG["CARD_DATA_KEYS"] + ", old:" + base64.b64encode(DEV_DATA_MATERIAL).decode(),
    " dev1:" + base64.b64encode(DEV_DATA_MATERIAL).decode() + " ",
    "k9:" + DEV_INDEX_KEY,  # the published blind-index key as a data key
], ids=["another id", "another spelling", "kept for decryption", "padded with spaces", "the index key as a data key"])
def test_production_refuses_the_published_data_key_under_any_id(setting: str) -> None:
    with pytest.raises(ConfigError, match="CARD_DATA_KEYS .*published development key"):
        load_config({**STRONG, "CARD_DATA_KEYS": setting})


@pytest.mark.parametrize("setting", [DEV_INDEX_KEY, _respelled(DEV_INDEX_MATERIAL), base64.b64encode(DEV_DATA_MATERIAL).decode()],
                         ids=["as published", "another spelling", "the data key as the index key"])
def test_production_refuses_the_published_blind_index_key_in_any_spelling(setting: str) -> None:
    with pytest.raises(ConfigError, match="CARD_BLIND_INDEX_KEY .*published development key"):
        load_config({**STRONG, "CARD_BLIND_INDEX_KEY": setting})


@pytest.mark.parametrize(("name", "value"), [
    ("CARD_WECHAT_APPID", "wxdevcitizencard0"), ("CARD_WECHAT_APPID", " WXDEVCITIZENCARD0 "), ("CARD_WECHAT_APPID", None),
    ("CARD_WECHAT_BENEFIT_TEMPLATE", "benefit-credited-dev"), ("CARD_WECHAT_BENEFIT_TEMPLATE", None),
])
def test_production_refuses_the_development_wechat_appid_and_template(name: str, value: str | None) -> None:
    env = {k: v for k, v in STRONG.items() if k != name}
    if value is not None:
        env[name] = value
    with pytest.raises(ConfigError, match=name):
        load_config(env)


@pytest.mark.parametrize("value", ["desk-reply-dev", " DESK-REPLY-DEV ", None], ids=["as published", "respelled", "unset"])
def test_production_refuses_the_development_desk_notice_templates(value: str | None) -> None:
    """Issue 21 item 6's templates: WeChat's always; Alipay's once the platform serves Alipay."""
    wechat = {k: v for k, v in STRONG.items() if k != "CARD_WECHAT_DESK_TEMPLATE"}
    wechat |= {} if value is None else {"CARD_WECHAT_DESK_TEMPLATE": value}
    with pytest.raises(ConfigError, match="CARD_WECHAT_DESK_TEMPLATE is not set or is the development service-desk"):
        load_config(wechat)
    alipay = {**STRONG, "CARD_ALIPAY_APP_ID": "2021000000000001"} | ({} if value is None else {"CARD_ALIPAY_DESK_TEMPLATE": value})
    with pytest.raises(ConfigError, match="CARD_ALIPAY_DESK_TEMPLATE is not set or is the development service-desk"):
        load_config(alipay)
    assert load_config(dict(STRONG))["CARD_ALIPAY_DESK_TEMPLATE"] == "desk-reply-dev"  # no Alipay: not asked
    assert load_config({**STRONG, "CARD_ALIPAY_APP_ID": "2021000000000001", "CARD_ALIPAY_DESK_TEMPLATE": "tpl-desk-1",
                        "CARD_ALIPAY_PAYMENT_TEMPLATE": "tpl-pay-1"})
    assert load_config({})["CARD_WECHAT_DESK_TEMPLATE"] == "desk-reply-dev"  # development keeps its default


@pytest.mark.parametrize("value", ["payment-notice-dev", None], ids=["as published", "unset"])
def test_production_refuses_the_development_payment_notice_templates(value: str | None) -> None:
    """Issue 22 item 6's templates, refused like the desk's: WeChat's always, Alipay's when served."""
    wechat = {k: v for k, v in STRONG.items() if k != "CARD_WECHAT_PAYMENT_TEMPLATE"}
    wechat |= {} if value is None else {"CARD_WECHAT_PAYMENT_TEMPLATE": value}
    with pytest.raises(ConfigError, match="CARD_WECHAT_PAYMENT_TEMPLATE is not set or is the development payment"):
        load_config(wechat)
    alipay = {**STRONG, "CARD_ALIPAY_APP_ID": "2021000000000001", "CARD_ALIPAY_DESK_TEMPLATE": "tpl-desk-1"}
    with pytest.raises(ConfigError, match="CARD_ALIPAY_PAYMENT_TEMPLATE is not set or is the development payment"):
        load_config(alipay | ({} if value is None else {"CARD_ALIPAY_PAYMENT_TEMPLATE": value}))
    assert load_config({**alipay, "CARD_ALIPAY_PAYMENT_TEMPLATE": "tpl-pay-1"})
    assert load_config({})["CARD_WECHAT_PAYMENT_TEMPLATE"] == "payment-notice-dev"  # development keeps its default


def test_the_refusal_never_prints_the_key() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({**STRONG, "CARD_DATA_KEYS": "k7:" + _respelled(DEV_DATA_MATERIAL)})
    assert _respelled(DEV_DATA_MATERIAL) not in str(refused.value) and "k7" in str(refused.value)


def test_development_still_runs_on_the_published_values() -> None:
    config = load_config({"CARD_DATA_KEYS": "k7:" + base64.b64encode(DEV_DATA_MATERIAL).decode()})
    assert config["CARD_WECHAT_APPID"] == "wxdevcitizencard0"


def test_trusted_proxies_are_addresses_or_networks() -> None:
    networks = load_config({"CARD_TRUSTED_PROXIES": "10.0.0.0/16, 127.0.0.1,::1"})["CARD_TRUSTED_PROXIES"]
    assert [str(network) for network in networks] == ["10.0.0.0/16", "127.0.0.1/32", "::1/128"]
    assert load_config({})["CARD_TRUSTED_PROXIES"] == ()
    with pytest.raises(ConfigError, match="CARD_TRUSTED_PROXIES: 'proxy.internal' is not an IP address"):
        load_config({"CARD_TRUSTED_PROXIES": "10.0.0.1,proxy.internal"})


def test_gunicorn_believes_forwarded_headers_from_the_trusted_proxies_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import gunicorn_options

    monkeypatch.delenv("CARD_TRUSTED_PROXIES", raising=False)
    assert gunicorn_options("127.0.0.1:8000", 1)["forwarded_allow_ips"] == ""  # not gunicorn's default of loopback
    monkeypatch.setenv("CARD_TRUSTED_PROXIES", "10.0.0.0/16")
    assert gunicorn_options("127.0.0.1:8000", 1)["forwarded_allow_ips"] == "10.0.0.0/16"


def test_every_refused_setting_is_named_in_one_run() -> None:
    """Issue 19, item 6: six problems are six lines of one refusal, not six runs."""
    env = {"CARD_ENV": "production", "DATABASE_URL": "sqlite:///x.db", "CARD_WECHAT_SECRET": DEV_SECRET_KEY,
           "CARD_DATA_KEYS": DEV_DATA_KEYS, "CARD_TOKEN_TTL": "0", "CARD_DEPARTMENTS": "bad key:x",
           "CARD_TRUSTED_PROXIES": "proxy.internal", "CARD_METRICS_TOKEN": "short"}
    with pytest.raises(ConfigError) as refused:
        load_config(env)
    expected = ["CARD_SECRET_KEY is not set", "CARD_BLIND_INDEX_KEY is not set", "CARD_DATA_KEYS (key 'dev1') is a published",
                "CARD_WECHAT_APPID is not set", "CARD_WECHAT_BENEFIT_TEMPLATE is not set", "DATABASE_URL must name a PostgreSQL",
                "REDIS_URL is not set", "CARD_AUDIT_KEYS is not set", "CARD_ANSWER_KEYS is not set",
                "CARD_OIDC_SIGNING_KEYS is not set", "CARD_TOKEN_TTL must be a whole number",
                "CARD_DEPARTMENTS must look like", "CARD_TRUSTED_PROXIES: 'proxy.internal'", "CARD_METRICS_TOKEN must be"]
    message = str(refused.value)
    assert [part for part in expected if part not in message] == []
    assert refused.value.problems == message.splitlines()[1:] and len(refused.value.problems) >= len(expected)
    assert message.splitlines()[0] == f"{len(refused.value.problems)} settings are missing or refused:"


def test_one_refused_setting_is_one_line() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({"CARD_TOKEN_TTL": "0"})
    assert str(refused.value) == "CARD_TOKEN_TTL must be a whole number from 1 to 1000000000"


@pytest.mark.parametrize("command", ["serve", "check"])
def test_serve_and_check_list_every_refused_setting_without_a_traceback(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from app.cli import main

    for name in list(os.environ):
        if name.startswith("CARD_") or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    env = {"CARD_ENV": "production", "CARD_TOKEN_TTL": "0", "CARD_TRUSTED_PROXIES": "proxy.internal"}
    result = CliRunner().invoke(main, [command], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Error: configuration: ") and lines[0].endswith("settings are missing or refused:")
    for expected in ("CARD_TOKEN_TTL", "CARD_TRUSTED_PROXIES", "CARD_SECRET_KEY is not set", "CARD_DATA_KEYS is not set",
                     "REDIS_URL is not set", "CARD_AUDIT_KEYS is not set"):
        assert any(expected in line for line in lines[1:]), expected


def test_logs_are_json_in_production_and_text_in_development() -> None:
    assert load_config({})["CARD_LOG_FORMAT"] == "text"
    assert load_config(STRONG)["CARD_LOG_FORMAT"] == "json"
    assert load_config({**STRONG, "CARD_LOG_FORMAT": "text"})["CARD_LOG_FORMAT"] == "text"
    with pytest.raises(ConfigError, match="CARD_LOG_FORMAT must be json or text"):
        load_config({"CARD_LOG_FORMAT": "xml"})


def test_verification_records_are_kept_36_months_unless_set() -> None:
    """The retention table of docs/operations.md: 3 years."""
    assert load_config({})["CARD_VERIFICATION_RETENTION_MONTHS"] == 36
    assert load_config({"CARD_VERIFICATION_RETENTION_MONTHS": "60"})["CARD_VERIFICATION_RETENTION_MONTHS"] == 60


def _example_env() -> dict[str, str]:
    """deploy/citizencard.env.example's settings, as an operator who copied it without editing has them."""
    text = (Path(__file__).resolve().parents[2] / "deploy/citizencard.env.example").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#") and "=" in line)


def test_production_names_every_change_me_placeholder_of_the_example_in_one_run() -> None:
    """The example's CHANGE-ME values (the WeChat AppID, secret and template too, the database URL's
    password, CARD_DATA_KEYS, which the keyring used to refuse only on a second run) in one refusal."""
    env = {**_example_env(), "CARD_ENV": "production"}
    placeholders = sorted(name for name, value in env.items() if "CHANGE-ME" in value)
    assert {"CARD_WECHAT_APPID", "CARD_WECHAT_SECRET", "CARD_WECHAT_BENEFIT_TEMPLATE", "CARD_DATA_KEYS"} <= set(placeholders)
    with pytest.raises(ConfigError) as refused:
        load_config(env)
    named = [name for name in placeholders if any(p.startswith(f"production mode: {name} still holds the placeholder")
                                                   for p in refused.value.problems)]
    assert named == placeholders, refused.value.problems
    assert any(p.startswith("CARD_DATA_KEYS: ") for p in refused.value.problems), refused.value.problems  # the keyring's own reason


def test_a_placeholder_in_development_is_left_to_the_developer() -> None:
    assert load_config({"CARD_WECHAT_APPID": "CHANGE-ME"})["CARD_WECHAT_APPID"] == "CHANGE-ME"


def test_the_redis_key_prefix_comes_from_the_environment() -> None:
    assert load_config({})["CARD_REDIS_PREFIX"] == "cc:"
    assert load_config({**STRONG, "CARD_REDIS_PREFIX": "cc:prod-2:"})["CARD_REDIS_PREFIX"] == "cc:prod-2:"
    for bad in ("cc:{x}:", "with space", "x" * 33):
        with pytest.raises(ConfigError, match="CARD_REDIS_PREFIX must be"):
            load_config({"CARD_REDIS_PREFIX": bad})


def test_production_refuses_the_console_sms_sender() -> None:
    """The console sends nothing: in production codes would reach nobody."""
    with pytest.raises(ConfigError, match="CARD_SMS_PROVIDER=console sends no SMS"):
        load_config({**STRONG, "CARD_SMS_PROVIDER": "console"})
    assert load_config({})["CARD_SMS_PROVIDER"] == "console"  # development's default
    assert load_config({k: v for k, v in STRONG.items() if k != "CARD_SMS_PROVIDER"})["CARD_SMS_PROVIDER"] == "tencent"


@pytest.mark.parametrize("name", ["CARD_SMS_SECRET_ID", "CARD_SMS_SECRET_KEY", "CARD_SMS_SDK_APP_ID", "CARD_SMS_SIGN_NAME"])
def test_the_tencent_sender_refuses_a_missing_setting(name: str) -> None:
    with pytest.raises(ConfigError, match=f"CARD_SMS_PROVIDER=tencent: {name} is not set"):
        load_config({k: v for k, v in STRONG.items() if k != name})


def test_every_message_kind_needs_a_template_and_every_template_a_kind() -> None:
    config = load_config(STRONG)
    assert set(config["CARD_SMS_TEMPLATES"]) == set(KINDS) and config["CARD_SMS_TEMPLATES"]["verification_code"] == "2000001"
    without = ",".join(item for item in SMS["CARD_SMS_TEMPLATES"].split(",") if not item.startswith("caller_check="))
    with pytest.raises(ConfigError, match="CARD_SMS_TEMPLATES has no template for caller_check"):
        load_config({**STRONG, "CARD_SMS_TEMPLATES": without})
    for bad in ("greeting=2000099", "verification_code", "verification_code=1,verification_code=2", "verification_code=1 2"):
        with pytest.raises(ConfigError, match="CARD_SMS_TEMPLATES must look like"):
            load_config({**STRONG, "CARD_SMS_TEMPLATES": bad})


def test_the_sms_endpoint_is_a_base_url_and_https_in_production() -> None:
    assert load_config(STRONG)["CARD_SMS_ENDPOINT"] == "https://sms.tencentcloudapi.com"
    assert load_config({**SMS, "CARD_SMS_ENDPOINT": "http://127.0.0.1:8123/"})["CARD_SMS_ENDPOINT"] == "http://127.0.0.1:8123"
    with pytest.raises(ConfigError, match="CARD_SMS_ENDPOINT must be https"):
        load_config({**STRONG, "CARD_SMS_ENDPOINT": "http://sms.internal"})
    with pytest.raises(ConfigError, match="scheme and host only"):
        load_config({**SMS, "CARD_SMS_ENDPOINT": "sms.tencentcloudapi.com/path"})


def test_no_refusal_echoes_the_sms_secret() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config({**STRONG, "CARD_SMS_PROVIDER": "console", "CARD_SMS_TEMPLATES": "x=1", "CARD_SMS_ENDPOINT": "ftp://x"})
    assert len(refused.value.problems) == 3 and SMS_SECRET_KEY not in str(refused.value)
