"""The help centre for citizens (issue 21 item 4, M-14): search the FAQ, also to suggest answers
before a complaint is filed. Public: no token (the articles are public information)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.service_desk.help_centre import MAX_RESULTS, search

blp = CardBlueprint("mp_help", __name__, url_prefix="/api/mp/v1", description="The help centre (FAQ)")


class HelpQuerySchema(ma.Schema):
    q = Text(load_default="", validate=ma.validate.Length(0, 100),
             metadata={"description": "Words that must all occur (title or text); empty: every article"})
    category = Text(load_default=None, validate=ma.validate.Length(1, 32),
                    metadata={"description": "A complaint category key: its articles and general ones, its own first "
                                             "(the suggestions shown before filing a complaint of that category)"})
    limit = ma.fields.Integer(load_default=10, validate=ma.validate.Range(1, MAX_RESULTS))


class HelpArticleSchema(ma.Schema):
    EXAMPLES = [{"id": 7, "title": "电子社保卡二维码刷不出来怎么办？",
                 "body": "请确认手机时间准确，并在小程序内下拉刷新二维码。\n仍无法使用时，可在“投诉与咨询”中提交问题。", "category": "code",
                 "updated_at": "2026-05-18T16:00:00+08:00"}]

    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    body = ma.fields.String(required=True, metadata={"description": "Plain text; line breaks are paragraphs"})
    category = ma.fields.String(required=True, allow_none=True, metadata={"description": "A complaint category key, or null: general"})
    updated_at = CityDateTime(required=True)


class HelpArticlesSchema(ma.Schema):
    EXAMPLES = [{"items": HelpArticleSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(HelpArticleSchema), required=True)


@blp.route("/help/articles", methods=["GET"])
@blp.arguments(HelpQuerySchema, location="query")
@blp.response(200, HelpArticlesSchema)
@error_responses(blp, {422: "validation_error"})
def get_help_articles(args: dict[str, Any]) -> Any:
    """Published help articles matching every word of ``q``, at most ``limit`` (1-20). With
    ``category`` and the complaint's first words as ``q``, the mini-program shows suggestions
    before the citizen files a complaint (docs/customer-service.md)."""
    return {"items": search(args["q"], args["category"], args["limit"])}
