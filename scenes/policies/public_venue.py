"""Public venues (M-23.5): citizen service centres, hospitals' public areas and the like: entry,
with the masked name for a greeting, nothing else."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.scanning.verification import SceneContext

from .base import Scene


class PublicVenue(Scene):
    name, requirement = "public_venue", "M-23.5"
    class Subject(ma.Schema):
        EXAMPLES = [{"masked_name": "陈*"}]

        masked_name = ma.fields.String(required=True, metadata={"description": "Surname and *"})

    def subject(self, context: SceneContext) -> dict[str, Any]:
        return {"masked_name": context.holder.name[:1] + "*"}
