"""The scene registry: adding a scene is one policy module and one line here. Which scenes are
open is configuration (``CARD_SCENES_ENABLED``; scenes open gradually, M-23.8)."""
from __future__ import annotations

from typing import Any

from app.platform.errors import AppError

from .policies.base import Scene
from .policies.campus import Campus
from .policies.culture import Culture
from .policies.finance import Finance
from .policies.government import Government
from .policies.medical import Medical
from .policies.public_venue import PublicVenue
from .policies.transit import Transit

POLICIES: dict[str, Scene] = {
    policy.name: policy
    for policy in (Government(), Transit(), Medical(), Culture(), PublicVenue(), Campus(), Finance())
}

SCENE_NAMES: tuple[str, ...] = tuple(POLICIES)


def check_enabled_scenes(config: Any) -> None:
    """ConfigError at start-up when ``CARD_SCENES_ENABLED`` names a scene that does not exist (a
    typo would otherwise close that scene for the whole city without a word)."""
    from app.config import ConfigError

    unknown = sorted(set(config["CARD_SCENES_ENABLED"] or ()) - set(SCENE_NAMES))
    if unknown:
        raise ConfigError(f"CARD_SCENES_ENABLED: unknown scenes {', '.join(unknown)} (scenes: {', '.join(SCENE_NAMES)}, or all)")


def enabled_policy(name: str, config: Any) -> Scene:
    """The policy of an open scene; 422 ``scene_unknown`` or ``scene_not_enabled``."""
    policy = POLICIES.get(name)
    if policy is None:
        raise AppError("scene_unknown", 422, "no such scene", {"scenes": list(SCENE_NAMES)})
    enabled = config["CARD_SCENES_ENABLED"]
    if enabled is not None and name not in enabled:
        raise AppError("scene_not_enabled", 422, "this scene is not open yet", {"scene": name})
    return policy
