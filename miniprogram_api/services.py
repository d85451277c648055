"""GET /services: the catalogue of services that accept the card (M-16), searched; and its open-data export."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response

from app.catalogue.search import export_csv, export_items, search
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text

blp = CardBlueprint("mp_services", __name__, url_prefix="/api/mp/v1", description="The catalogue of services accepting the card")


class ServiceQuerySchema(ma.Schema):
    q = Text(load_default=None, validate=ma.validate.Length(0, 100), metadata={
        "description": "Words (Chinese or not), space-separated: each must occur in the title, department or conditions"})
    scene = Text(load_default=None, validate=ma.validate.Length(1, 32))
    department = Text(load_default=None, validate=ma.validate.Length(1, 100))
    near = Text(load_default=None, validate=ma.validate.Regexp(r"-?[0-9]{1,2}(\.[0-9]{1,8})?,-?[0-9]{1,3}(\.[0-9]{1,8})?\Z"),
                metadata={"description": "lat,lon (WGS 84 degrees): nearest first, with distance_m",
                          "pattern": "^-?[0-9]{1,2}(\\.[0-9]{1,8})?,-?[0-9]{1,3}(\\.[0-9]{1,8})?$"})


class PlaceSchema(ma.Schema):
    EXAMPLES = [{"name": "东莞市民服务中心", "address": "东莞市南城街道鸿福路99号", "terminal_id": "window-07", "latitude": 23.0205,
                 "longitude": 113.7518}]

    name = ma.fields.String()
    address = ma.fields.String()
    terminal_id = ma.fields.String(allow_none=True)
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)


class ServiceSchema(ma.Schema):
    EXAMPLES = [{"code": "hrss-card-replacement", "department": "东莞市人力资源和社会保障局", "title": "社会保障卡补换卡",
                 "scenes": ["government"], "channels": ["window", "online"], "conditions": "已申领社会保障卡的参保人，卡片遗失或损坏。",
                 "steps": ["挂失原卡", "提交补卡申请", "到合作银行网点领取新卡"], "time_limit_days": 10, "fee_fen": 2000,
                 "locations": PlaceSchema.EXAMPLES, "status": "open", "last_reviewed": "2026-04-30", "version": 3, "distance_m": 1240}]

    code = ma.fields.String(required=True)
    department = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    scenes = ma.fields.List(ma.fields.String(), required=True)
    channels = ma.fields.List(ma.fields.String(), required=True)
    conditions = ma.fields.String(required=True)
    steps = ma.fields.List(ma.fields.String(), required=True)
    time_limit_days = ma.fields.Integer(required=True, allow_none=True)
    fee_fen = ma.fields.Integer(required=True)
    locations = ma.fields.List(ma.fields.Nested(PlaceSchema), required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["open", "planned", "withdrawn"]})
    last_reviewed = ma.fields.String(required=True, metadata={"format": "date"})
    version = ma.fields.Integer(required=True)
    distance_m = ma.fields.Integer(allow_none=True, metadata={"description": "Only with near: metres to the nearest location"})


class ServiceListSchema(ma.Schema):
    EXAMPLES = [{"items": ServiceSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(ServiceSchema), required=True)


@blp.route("/services", methods=["GET"])
@blp.arguments(ServiceQuerySchema, location="query")
@blp.response(200, ServiceListSchema)
@error_responses(blp, {422: "validation_error"})
def get_services(args: dict[str, Any]) -> Any:
    """Services that accept the card, open and planned (at most 50); no log-in needed."""
    near = tuple(float(part) for part in args["near"].split(",")) if args["near"] else None
    return {"items": search(args["q"], args["scene"], args["department"], near)}  # type: ignore[arg-type]


@blp.route("/services/export", methods=["GET"])
@blp.response(200, ServiceListSchema)
def export_services() -> Any:
    """Open data: the whole catalogue as JSON, withdrawn items included."""
    return {"items": export_items()}


@blp.route("/services/export.csv", methods=["GET"])
@blp.doc(responses={200: {"description": "The whole catalogue as CSV (UTF-8, a header row, lists as JSON text; a cell "
                                         "starting with = + - @ is prefixed with ')",
                          "content": {"text/csv": {"schema": {"type": "string"}, "example": export_csv(ServiceSchema.EXAMPLES)}}}})
def export_services_csv() -> Any:
    """Open data: the whole catalogue as CSV, withdrawn items included."""
    return Response(export_csv(export_items()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="service-items.csv"'})
