"""The scene registry: adding a scene is one policy and one line here."""
from __future__ import annotations

from .policy import ScenePolicy

POLICIES: dict[str, ScenePolicy] = {
    policy.name: policy
    for policy in (
        ScenePolicy("government", "M-23.1"),
        ScenePolicy("transit", "M-23.2"),
        ScenePolicy("medical", "M-23.3"),
        ScenePolicy("culture", "M-23.4"),
        ScenePolicy("public_venue", "M-23.5"),
        ScenePolicy("campus", "M-23.6"),
        ScenePolicy("finance", "M-23.7"),
    )
}

SCENE_NAMES: tuple[str, ...] = tuple(POLICIES)
