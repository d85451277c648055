"""PUT /api/partner/v1/service-items/{code}: a department keeps its own service items (M-16; role
``catalogue``; docs/service-catalogue.md). GET .../versions: the item's change history."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g

from app.catalogue.items import checked_code, history, write_item
from app.catalogue.models import CHANNELS, STATUSES
from app.partners.partners import require_role
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .registry import SCENE_NAMES
from .signing import signed

blp = CardBlueprint("partner_catalogue", __name__, url_prefix="/api/partner/v1",
                    description="The service catalogue: departments keep their items (docs/service-catalogue.md)")

SIGNED_DOC = {"security": [{"partnerSignature": []}]}
CODE_PARAMETER = {"in": "path", "name": "code", "required": True, "description": "The Guangdong government-service item code",
                  "schema": {"type": "string", "pattern": "^[0-9A-Za-z_-]{4,64}$", "examples": ["GD-HRSS-0001"]}}
ERRORS = {401: "Signature, timestamp, nonce or partner refused", 403: "role_required (catalogue) / item_not_yours"}


class LocationSchema(ma.Schema):
    EXAMPLES = [{"name": "东莞市民服务中心", "address": "东莞市南城街道鸿福路99号", "terminal_id": "window-07", "latitude": 23.0205,
                 "longitude": 113.7518},
                {"name": "东城街道社保服务站", "address": "东莞市东城街道东纵大道1号"}]

    name = Text(required=True, validate=ma.validate.Length(1, 100))
    address = Text(required=True, validate=ma.validate.Length(1, 200))
    terminal_id = Text(load_default=None, allow_none=True, validate=ma.validate.Length(1, 64),
                       metadata={"description": "A registered terminal at this place, if any (422 terminal_unknown otherwise)"})
    latitude = ma.fields.Float(load_default=None, allow_none=True, validate=ma.validate.Range(-90, 90))
    longitude = ma.fields.Float(load_default=None, allow_none=True, validate=ma.validate.Range(-180, 180))


class ServiceItemSchema(ma.Schema):
    EXAMPLES = [{"department": "东莞市人力资源和社会保障局", "title": "社会保障卡补换卡", "scenes": ["government"],
                 "channels": ["window", "online"], "conditions": "已申领社会保障卡的参保人，卡片遗失或损坏。",
                 "steps": ["挂失原卡", "提交补卡申请", "到合作银行网点领取新卡"], "time_limit_days": 10, "fee_fen": 2000,
                 "locations": LocationSchema.EXAMPLES[:1], "status": "open", "last_reviewed": "2026-04-30", "expected_version": 2}]

    department = Text(required=True, validate=ma.validate.Length(1, 100), metadata={"description": "e.g. 东莞市人力资源和社会保障局"})
    title = Text(required=True, validate=ma.validate.Length(1, 200))
    scenes = ma.fields.List(ma.fields.String(validate=ma.validate.Regexp(r"[a-z_]{1,32}\Z"), metadata={"pattern": "^[a-z_]{1,32}$"}),
                            required=True, validate=ma.validate.Length(0, 10),
                            metadata={"description": f"Scenes where the card is accepted: {', '.join(SCENE_NAMES)}"})
    channels = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(CHANNELS)), required=True,
                              validate=ma.validate.Length(1, 3),
                              metadata={"description": "window, terminal, online (log in with the card)"})
    conditions = Text(required=True, multiline=True, validate=ma.validate.Length(0, 4000))
    steps = ma.fields.List(Text(validate=ma.validate.Length(1, 500)), required=True, validate=ma.validate.Length(0, 30))
    time_limit_days = ma.fields.Integer(required=True, allow_none=True, strict=True, validate=ma.validate.Range(0, 365),
                                        metadata={"description": "Statutory time limit in working days; null: on the spot"})
    fee_fen = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(0, 10**9),
                                metadata={"description": "Fee in fen; 0: free"})
    locations = ma.fields.List(ma.fields.Nested(LocationSchema), required=True, validate=ma.validate.Length(0, 50))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES))
    last_reviewed = ma.fields.Date(required=True, metadata={"description": "YYYY-MM-DD: when the department last checked the item"})
    expected_version = ma.fields.Integer(load_default=None, allow_none=True, strict=True, load_only=True,
                                         validate=ma.validate.Range(0, 2**31 - 1), metadata={
        "description": "The version you read (0: create only); 409 version_conflict if it changed since. Omit to write regardless"})


class WrittenSchema(ma.Schema):
    EXAMPLES = [{"code": "hrss-card-replacement", "version": 3}]

    code = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True, metadata={"description": "1 when created, then one more per change"})


class VersionSchema(ma.Schema):
    EXAMPLES = [{"version": 3, "changed_by": "p_2f6a0c4e8b1d3f57", "changed_at": "2026-04-30T10:15:09+08:00",
                 "data": {"department": "东莞市人力资源和社会保障局", "title": "社会保障卡补换卡", "scenes": ["government"],
                          "channels": ["window", "online"], "conditions": "已申领社会保障卡的参保人，卡片遗失或损坏。",
                          "steps": ["挂失原卡", "提交补卡申请", "到合作银行网点领取新卡"], "time_limit_days": 10, "fee_fen": 2000,
                          "locations": LocationSchema.EXAMPLES[:1], "status": "open", "last_reviewed": "2026-04-30"}}]

    version = ma.fields.Integer(required=True)
    changed_by = ma.fields.String(required=True, metadata={"description": "The partner id that wrote it"})
    changed_at = CityDateTime(required=True)
    data = ma.fields.Dict(required=True, metadata={"description": "The item as written"})


class VersionListSchema(ma.Schema):
    EXAMPLES = [{"items": VersionSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(VersionSchema), required=True)


@blp.route("/service-items/<string:code>", methods=["PUT"], parameters=[CODE_PARAMETER])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(ServiceItemSchema)
@blp.response(200, WrittenSchema)
@error_responses(blp, {**ERRORS, 409: "version_conflict", 422: "validation_error / item_code_invalid / scene_unknown / "
                                                             "channel_unknown / terminal_unknown"})
def put_service_item(args: dict[str, Any], code: str) -> Any:
    """Create or replace your department's item ``code`` (the Guangdong government-service item
    code); every change is a new version, kept with who wrote it."""
    require_role(g.partner, "catalogue")
    expected = args.pop("expected_version")
    return write_item(runtime(), g.partner, checked_code(code), args, SCENE_NAMES, expected)


@blp.route("/service-items/<string:code>/versions", methods=["GET"], parameters=[CODE_PARAMETER])
@blp.doc(**SIGNED_DOC)
@signed
@blp.response(200, VersionListSchema)
@error_responses(blp, {**ERRORS, 422: "item_code_invalid / validation_error"})
def get_service_item_versions(code: str) -> Any:
    """Every version of an item, oldest first (any catalogue partner may read: the catalogue is public)."""
    import json

    require_role(g.partner, "catalogue")
    return {"items": [{"version": row.version, "changed_by": row.changed_by, "changed_at": row.changed_at,
                       "data": json.loads(row.data)} for row in history(checked_code(code))]}
