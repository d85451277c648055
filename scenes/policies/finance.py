"""Finance (M-23.7): a payment-account reference for the partner bank, and no personal fields."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.scanning.verification import SceneContext

from .base import Scene


class Finance(Scene):
    name, requirement = "finance", "M-23.7"
    accepts_proxies = False  # payments are the holder's own (issue 18)
    class Subject(ma.Schema):
        EXAMPLES = [{"payment_account_reference": "c2d8f1a0e7b94c56a3f0d1e8b7c2a914"}]

        payment_account_reference = ma.fields.String(required=True, metadata={"description": "Stable per bank, differs between banks"})

    def subject(self, context: SceneContext) -> dict[str, Any]:
        return {"payment_account_reference": context.holder.token("finance", context.partner)}
