"""Money is integer fen (house rule; docs/benefits.md): every request field holding fen is a
strict integer, so ``12.5``, ``12.0``, ``"100"`` and ``true`` are refused, never coerced."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import marshmallow as ma
import pytest

from app import create_app


def _fields(schema: Any, path: str) -> Iterator[tuple[str, ma.fields.Field]]:
    """Every field of ``schema`` (a class or an instance), nested lists and schemas included."""
    instance = schema() if isinstance(schema, type) else schema
    for name, field in instance.fields.items():
        while isinstance(field, ma.fields.List):
            field = field.inner
        if isinstance(field, ma.fields.Nested):
            yield from _fields(field.schema, f"{path}.{name}")
        else:
            yield f"{path}.{name}", field


def money_fields() -> list[tuple[str, ma.fields.Field]]:
    """The ``*_fen`` fields of every endpoint's request schemas (JSON body, query, path)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None})
    found = []
    for endpoint, view in sorted(app.view_functions.items()):
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            found += [(name, field) for name, field in _fields(parameter["schema"], endpoint) if name.endswith("_fen")]
    return found


MONEY = money_fields()


def test_the_benefit_money_fields_are_found() -> None:
    names = {name for name, _ in MONEY}
    assert {"partner_benefits.post_batch.lines.amount_fen", "partner_benefits.put_medical_account.balance_fen",
            "partner_benefits.put_medical_account.statement.amount_fen"} <= names


@pytest.mark.parametrize(("name", "field"), MONEY, ids=[name for name, _ in MONEY])
def test_every_money_field_is_a_strict_integer(name: str, field: ma.fields.Field) -> None:
    assert isinstance(field, ma.fields.Integer) and field.strict, name
    for value in (12.5, 12.0, "100", True):
        with pytest.raises(ma.ValidationError):
            field.deserialize(value)
    assert field.deserialize(100) == 100
