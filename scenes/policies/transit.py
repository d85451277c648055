"""Transit: bus and metro (M-23.2). No name, no ID number: a per-partner settlement token and the
fare concession. A metro exit (``direction: exit``) links to the holder's open entry."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.scanning.transit import open_entry
from app.scanning.verification import SceneContext

from .base import Scene, concession


class Transit(Scene):
    name, requirement = "transit", "M-23.2"
    class Subject(ma.Schema):
        EXAMPLES = [{"settlement_token": "3f9c0a51d2e84b7aa1c6e0d95b2f4a17", "concession": "standard", "entry_verification_id": None},
                    {"settlement_token": "3f9c0a51d2e84b7aa1c6e0d95b2f4a17", "concession": "standard",
                     "entry_verification_id": "vf_23360b7bf332b2d06b054a45"}]

        settlement_token = ma.fields.String(required=True, metadata={"description": "Stable per partner, differs between partners"})
        concession = ma.fields.String(required=True, metadata={"description": "disabled, an age category, or standard"})
        entry_verification_id = ma.fields.String(required=True, allow_none=True, metadata={
            "description": "On an exit (direction: exit): the holder's open entry at this partner"})

    def accept(self, context: SceneContext) -> tuple[dict[str, Any], dict[str, Any]]:
        entry = open_entry(context) if context.direction == "exit" else None
        subject = {
            "settlement_token": context.holder.token("transit", context.partner),
            "concession": concession(context),
            "entry_verification_id": entry,
        }
        return subject, {"direction": context.direction, "linked_verification_id": entry}
