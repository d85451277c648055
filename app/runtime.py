"""The explicit dependencies services receive: clock, store, keys and platform clients.

Built once per app by ``create_app``; HTTP handlers and CLI commands fetch it with
:func:`runtime` and pass it to services, which never reach for globals themselves.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from sqlalchemy import create_engine

from app.integrations.alipay import AlipayLogin, load_key_file
from app.integrations.alipay_certify import AlipayCertifier
from app.integrations.sms import ConsoleSmsSender, SmsSender
from app.integrations.wechat import WeChatLogin
from app.integrations.wechat_face import WeChatFaceVerifier
from app.integrations.wechat_tokens import SharedTokens
from app.platform.clock import Clock
from app.platform.crypto import BlindIndex, Keyring
from app.platform.group_commit import GroupCommit
from app.platform.store import RedisClusterStore, RedisStore, SqlStore, Store
from app.platform.version_cache import VersionCache

EXTENSION_KEY = "citizencard"


@dataclass
class Runtime:
    """Everything a service may depend on besides the database session."""

    config: dict[str, Any]
    clock: Clock
    store: Store
    keyring: Keyring
    blind_index: BlindIndex
    wechat: WeChatLogin
    alipay: AlipayLogin | None
    wechat_tokens: SharedTokens  # the app's one WeChat access token, for every wechatpy client
    wechat_face: WeChatFaceVerifier | None = None  # real-person checks (app/identity/real_person.py)
    alipay_certify: AlipayCertifier | None = None
    partner_cache: dict[str, Any] = field(default_factory=dict)  # see services.partners
    terminal_cache: dict[Any, Any] = field(default_factory=dict)  # see services.terminals
    throttle_cache: dict[Any, float] = field(default_factory=dict)  # see services.guessing
    sms: SmsSender = field(default_factory=ConsoleSmsSender)  # see integrations.sms
    verification_records: GroupCommit[Any, bool] = field(default_factory=GroupCommit)  # see services.verification
    deny_lists: VersionCache = field(default_factory=VersionCache)  # see app.card.offline_lists


def build_runtime(app: Flask, engine: Any, clock: Clock | None = None) -> Runtime:
    """Assemble the runtime from ``app.config`` (the store: a Redis Cluster if
    CARD_REDIS_CLUSTER_NODES, Redis if REDIS_URL, else SQL)."""
    config = app.config
    clock = clock or Clock()
    store: Store
    if config.get("CARD_REDIS_CLUSTER_NODES"):
        store = RedisClusterStore.from_nodes(config["CARD_REDIS_CLUSTER_NODES"], config["CARD_REDIS_PREFIX"])
    elif config["REDIS_URL"]:
        store = RedisStore.from_url(config["REDIS_URL"], config["CARD_REDIS_PREFIX"])
    else:  # its own connection pool, so a request holding a session connection never waits on it
        store = SqlStore(create_engine(engine.url, **config.get("SQLALCHEMY_ENGINE_OPTIONS", {})), clock)
    alipay = _alipay(config)
    tokens = SharedTokens(store)
    providers = config.get("CARD_REAL_PERSON_PROVIDERS", frozenset())
    return Runtime(
        config=config,
        clock=clock,
        store=store,
        keyring=Keyring.from_setting(config["CARD_DATA_KEYS"]),
        blind_index=BlindIndex(base64.b64decode(config["CARD_BLIND_INDEX_KEY"])),
        wechat=_wechat(config, store, clock),
        alipay=alipay,
        wechat_tokens=tokens,
        wechat_face=_wechat_face(config, clock, tokens) if "wechat" in providers else None,
        alipay_certify=AlipayCertifier(alipay, config["CARD_ALIPAY_CERTIFY_RETURN_URL"]) if alipay and "alipay" in providers else None,
        sms=_sms(config, store, clock),
    )


def _sms(config: Any, store: Store, clock: Clock) -> SmsSender:
    """The SMS sender of ``CARD_SMS_PROVIDER`` (app.config refuses the console in production); in
    the sandbox (CARD_SANDBOX), the console's with an inbox per test resident (app.sandbox)."""
    if config.get("CARD_SANDBOX"):
        from app.sandbox import SandboxSms  # imports the services, which import this module

        return SandboxSms(store, clock)
    if config.get("CARD_SMS_PROVIDER") != "tencent":
        return ConsoleSmsSender(show_text=config["CARD_ENV"] != "production")
    from app.integrations.tencent_sms import TencentSmsSender, TencentSmsSettings  # the SDK, only when used

    return TencentSmsSender(TencentSmsSettings(
        config["CARD_SMS_SECRET_ID"], config["CARD_SMS_SECRET_KEY"], config["CARD_SMS_SDK_APP_ID"], config["CARD_SMS_SIGN_NAME"],
        config["CARD_SMS_TEMPLATES"], config["CARD_SMS_ENDPOINT"], config["CARD_SMS_REGION"]))


def _wechat(config: Any, store: Store, clock: Clock) -> WeChatLogin:
    """WeChat code2Session; in the sandbox (CARD_SANDBOX), the sandbox's own login (app.sandbox)."""
    if config.get("CARD_SANDBOX"):
        from app.sandbox import SandboxWeChat  # imports the services, which import this module

        return SandboxWeChat(config["SECRET_KEY"], store, clock)  # type: ignore[return-value]
    return WeChatLogin(config["CARD_WECHAT_APPID"], config["CARD_WECHAT_SECRET"], config["CARD_WECHAT_API_BASE"])


def _wechat_face(config: Any, clock: Clock, tokens: SharedTokens) -> WeChatFaceVerifier:
    """WeChat's face check; in the sandbox (CARD_SANDBOX), the sandbox's own (app.sandbox)."""
    if config.get("CARD_SANDBOX"):
        from app.sandbox import SandboxFaceVerifier  # imports the services, which import this module

        return SandboxFaceVerifier(config["SECRET_KEY"], clock)  # type: ignore[return-value]
    return WeChatFaceVerifier(config["CARD_WECHAT_APPID"], config["CARD_WECHAT_SECRET"], config["CARD_WECHAT_API_BASE"], tokens=tokens)


def _alipay(config: Any) -> AlipayLogin | None:
    if not (config.get("CARD_ALIPAY_APP_ID") and config.get("CARD_ALIPAY_PRIVATE_KEY_FILE")
            and config.get("CARD_ALIPAY_PUBLIC_KEY_FILE")):
        return None
    return AlipayLogin(
        config["CARD_ALIPAY_APP_ID"],
        load_key_file(config["CARD_ALIPAY_PRIVATE_KEY_FILE"]),
        load_key_file(config["CARD_ALIPAY_PUBLIC_KEY_FILE"]),
        config["CARD_ALIPAY_GATEWAY"],
    )


def runtime() -> Runtime:
    """The current app's runtime."""
    return current_app.extensions[EXTENSION_KEY]
