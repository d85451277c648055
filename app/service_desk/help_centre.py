"""The help centre (issue 21 item 4, M-14 "intelligent customer service"): FAQ articles kept by
supervisors in the console, searched by citizens from the mini-program before they file a complaint.

Search: every word of ``q`` (split on spaces, at most 5) must occur in the title or the body
(``LIKE``, case-insensitive; Chinese works without word breaks: ``挂失`` finds 实体卡挂失); with a
``category`` (a complaint category key) that category's articles and the general ones come first.
Editing: a supervisor saves an article naming the ``version`` they edited; one conditional
``UPDATE ... WHERE id = ? AND version = ?`` raises the version, so of two concurrent saves one wins
and the other gets 409 ``article_changed`` (nothing is lost silently).
"""
from __future__ import annotations

from sqlalchemy import case, or_, select, update

from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.service_desk.audit import StaffActor
from app.service_desk.models import HelpArticle

MAX_RESULTS = 20
MAX_WORDS = 5


def search(q: str, category: str | None = None, limit: int = 10, published_only: bool = True) -> list[HelpArticle]:
    """Articles matching every word of ``q`` (all of them for an empty ``q``), the ``category``'s
    and general ones first, then by title; at most ``limit`` (1-20)."""
    query = select(HelpArticle)
    if published_only:
        query = query.where(HelpArticle.published.is_(True))
    for word in q.split()[:MAX_WORDS]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(or_(HelpArticle.title.ilike(pattern, escape="\\"), HelpArticle.body.ilike(pattern, escape="\\")))
    if category:
        query = query.where(or_(HelpArticle.category == category, HelpArticle.category.is_(None)))
        query = query.order_by(case((HelpArticle.category == category, 0), else_=1))
    query = query.order_by(HelpArticle.title, HelpArticle.id).limit(max(1, min(limit, MAX_RESULTS)))
    return list(db.session.scalars(query))


def get(article_id: int) -> HelpArticle:
    """One article (any state: the console); 404 ``article_not_found``."""
    article = db.session.get(HelpArticle, article_id)
    if article is None:
        raise AppError("article_not_found", 404, "no such article")
    return article


def create(rt: Runtime, actor: StaffActor, title: str, body: str, category: str | None, published: bool) -> HelpArticle:
    """Supervisors: a new article (version 1); 403 ``forbidden`` for other roles, 422 ``category_unknown``."""
    _may_edit(rt, actor, category)
    article = HelpArticle(title=title, body=body, category=category, published=published, version=1,
                          updated_at=rt.clock.now(), updated_by=actor.username)
    db.session.add(article)
    db.session.commit()
    return article


def save(rt: Runtime, actor: StaffActor, article_id: int, version: int, title: str, body: str, category: str | None,
         published: bool) -> HelpArticle:
    """Supervisors: save an edit of ``version``; 409 ``article_changed`` if someone saved since,
    404 ``article_not_found``."""
    _may_edit(rt, actor, category)
    saved = db.session.execute(update(HelpArticle).where(HelpArticle.id == article_id, HelpArticle.version == version).values(
        title=title, body=body, category=category, published=published, version=HelpArticle.version + 1,
        updated_at=rt.clock.now(), updated_by=actor.username).returning(HelpArticle.id)).first()
    db.session.commit()
    if saved is None:
        get(article_id)
        raise AppError("article_changed", 409, "someone saved this article since you opened it: reload and edit again")
    article = get(article_id)
    db.session.refresh(article)
    return article


def _may_edit(rt: Runtime, actor: StaffActor, category: str | None) -> None:
    if actor.role != "supervisor":
        raise AppError("forbidden", 403, "your role may not do this")
    if category is not None and category not in rt.config["CARD_COMPLAINT_CATEGORIES"]:
        raise AppError("category_unknown", 422, "not a complaint category")
