"""Issue 21 item 4 (M-14): the help centre. Supervisors write articles in the console (drafts are
not public; a stale save is refused, also under 32 concurrent saves); citizens search them from
the mini-program, by words and by a complaint's category (the suggestions before filing)."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from app.platform.db import db
from app.platform.errors import AppError
from app.service_desk import help_centre
from app.service_desk.audit import StaffActor
from app.service_desk.models import HelpArticle

from ..helpers import ApiClient, Console, new_staff

HELP = "/api/mp/v1/help/articles"
BOSS = StaffActor(1, "boss", "supervisor", None)


def _staff(api: ApiClient, username: str, role: str) -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role)).status_code == 302
    return console


def _article(api: ApiClient, title: str, body: str, category: str | None, published: bool = True) -> int:
    with api.app.app_context():
        return help_centre.create(api.rt, BOSS, title, body, category, published).id


def _titles(api: ApiClient, query: str) -> list[str]:
    answer = api.client.get(f"{HELP}?{query}")
    assert answer.status_code == 200, answer.json
    return [item["title"] for item in answer.json["items"]]


def test_a_supervisor_writes_an_article_and_citizens_find_it(api: ApiClient) -> None:
    boss = _staff(api, "boss", "supervisor")
    form = {"title": "实体卡丢了怎么办", "body": "在小程序“卡片”页点“挂失”，或拨打客服电话由客服代为挂失。", "category": "card"}
    created = boss.post("/console/help/new", form_page="/console/help/new", **form)
    assert created.status_code == 302
    assert _titles(api, "q=挂失") == []  # a draft is not public
    number = int(re.search(r"/help/(\d+)", created.headers["Location"]).group(1))
    page = boss.get(f"/console/help/{number}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    published = boss.post(f"/console/help/{number}", form_page=f"/console/help/{number}", **form, published="y", version=version)
    assert published.status_code == 302
    assert _titles(api, "q=挂失") == ["实体卡丢了怎么办"]
    assert _titles(api, "q=挂失 客服") == ["实体卡丢了怎么办"] and _titles(api, "q=挂失 医保") == []  # every word
    stale = boss.post(f"/console/help/{number}", form_page=f"/console/help/{number}", **form, version=version)
    assert stale.status_code == 422 and "已有其他人修改" in stale.get_data(as_text=True)


def test_suggestions_before_a_complaint_put_its_category_first(api: ApiClient) -> None:
    _article(api, "A 电子码刷不出来", "请检查网络后刷新电子码。", "code")
    _article(api, "B 如何联系客服", "工作日 9:00-18:00，可在小程序提交咨询。", None)
    _article(api, "C 补办实体卡", "到银行网点补办。", "card")
    _article(api, "D 草稿", "未发布", "code", published=False)
    assert _titles(api, "category=code") == ["A 电子码刷不出来", "B 如何联系客服"]
    assert _titles(api, "category=card&limit=1") == ["C 补办实体卡"]
    assert _titles(api, "q=100%25") == []  # % is a character, not a wildcard
    assert api.client.get(f"{HELP}?limit=99").status_code == 422


def test_agents_read_the_help_centre_but_only_supervisors_edit(api: ApiClient) -> None:
    _article(api, "实体卡丢了怎么办", "挂失。", "card")
    agent = _staff(api, "agent1", "agent")
    assert "实体卡丢了怎么办" in agent.get("/console/help?q=挂失").get_data(as_text=True)
    assert agent.get("/console/help/new").status_code == 403
    with api.app.app_context():
        try:
            help_centre.create(api.rt, StaffActor(2, "agent1", "agent", None), "x", "y", None, True)
        except AppError as exc:
            assert exc.code == "forbidden"
        else:
            raise AssertionError("an agent created an article")


def test_of_32_concurrent_saves_of_one_version_exactly_one_wins(api: ApiClient) -> None:
    article_id = _article(api, "原标题", "原文", None)
    barrier = threading.Barrier(32)

    def save(n: int) -> str:
        with api.app.app_context():
            barrier.wait()
            try:
                help_centre.save(api.rt, BOSS, article_id, 1, f"标题{n}", f"正文{n}", None, True)
            except AppError as exc:
                return exc.code
            finally:
                db.session.remove()
            return "saved"

    with ThreadPoolExecutor(32) as pool:
        outcomes: list[Any] = list(pool.map(save, range(32)))
    assert sorted(outcomes) == ["article_changed"] * 31 + ["saved"]
    with api.app.app_context():
        article = db.session.scalar(select(HelpArticle))
        assert article.version == 2 and article.title == f"标题{outcomes.index('saved')}"
