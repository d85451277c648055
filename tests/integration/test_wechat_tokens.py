"""One WeChat access token for the deployment (app/integrations/wechat_tokens.py): WeChat
invalidates the previous token at every ``cgi-bin/token`` fetch, so clients that each keep their
own (one per gunicorn worker, one per messenger) break each other's sends. Against the stand-in
in that strict mode, on the SQL store and on Redis: shared clients fetch once, 32 concurrent
clients after a token loss fetch once, and clients of their own ping-pong (the fault fixed)."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import create_engine

from app.integrations.wechat_messages import SubscribeMessenger
from app.integrations.wechat_tokens import SharedTokens
from app.platform.clock import Clock
from app.platform.store import RedisStore, SqlStore
from standins.wechat import WeChatStandIn

from ..conftest import APP_SECRET, APPID

TEMPLATE = "tmpl-tokens"


@pytest.fixture
def strict_wechat() -> Iterator[WeChatStandIn]:
    with WeChatStandIn(APPID, APP_SECRET, latest_token_only=True) as server:
        yield server


@pytest.fixture(params=["sql", "redis"])
def tokens(request: pytest.FixtureRequest, pg_url: str, redis_url: str, redis_client: Any) -> SharedTokens:
    if request.param == "redis":
        redis_client.flushdb()
        return SharedTokens(RedisStore.from_url(redis_url, "cc-test-tokens:"))
    store = SqlStore(create_engine(pg_url), Clock())
    with store.engine.begin() as conn:  # this test's keys only: an earlier test's token would be taken
        conn.exec_driver_sql("DELETE FROM kv_entries WHERE key LIKE 'wechat:%%'")
    return SharedTokens(store)


def _messengers(wechat: WeChatStandIn, count: int, tokens: SharedTokens | None) -> list[SubscribeMessenger]:
    return [SubscribeMessenger(APPID, APP_SECRET, wechat.base_url, tokens=tokens) for _ in range(count)]


def test_clients_sharing_the_token_fetch_it_once_and_never_break_each_other(strict_wechat: WeChatStandIn,
                                                                          tokens: SharedTokens) -> None:
    first, second = _messengers(strict_wechat, 2, tokens)
    for round_ in range(5):
        first.send("o-one", TEMPLATE, {"thing1": f"第{round_}次"})
        second.send("o-two", TEMPLATE, {"thing1": f"第{round_}次"})
    assert strict_wechat.tokens_issued == 1
    assert len(strict_wechat.messages_to("o-one")) == len(strict_wechat.messages_to("o-two")) == 5


def test_clients_with_tokens_of_their_own_invalidate_each_other(strict_wechat: WeChatStandIn) -> None:
    """The fault the shared token fixes: each send after the other client's fetch is a 40001 and a
    new fetch (wechatpy retries once), so every send costs a token."""
    first, second = _messengers(strict_wechat, 2, None)
    for _ in range(5):
        first.send("o-one", TEMPLATE, {"thing1": "x"})
        second.send("o-two", TEMPLATE, {"thing1": "x"})
    assert strict_wechat.tokens_issued == 10


def test_32_concurrent_clients_after_a_lost_token_fetch_one_new_token(strict_wechat: WeChatStandIn,
                                                                      tokens: SharedTokens) -> None:
    clients = _messengers(strict_wechat, 32, tokens)
    clients[0].send("o-warm", TEMPLATE, {"thing1": "x"})
    assert strict_wechat.tokens_issued == 1
    strict_wechat.expire_tokens()  # WeChat dropped it (another system fetched one, say)
    for client in clients[1:]:  # every worker has sent with the token that is now dead
        assert client._client.access_token  # noqa: SLF001

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda pair: pair[1].send(f"o-{pair[0]}", TEMPLATE, {"thing1": "x"}), enumerate(clients)))
    assert strict_wechat.tokens_issued == 2
    assert sum(len(strict_wechat.messages_to(f"o-{n}")) for n in range(32)) == 32
