"""Which scenes accept a relative's code for a family member (issue 18 item 2; docs/family.md)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from scenes.registry import POLICIES


def _context(partner_id: str, campus_partners: frozenset[str] = frozenset()) -> SimpleNamespace:
    return SimpleNamespace(partner=SimpleNamespace(partner_id=partner_id),
                           rt=SimpleNamespace(config={"CARD_CAMPUS_PROXY_PARTNERS": campus_partners}))


@pytest.mark.parametrize(("scene", "accepts"), [("transit", True), ("culture", True), ("public_venue", True),
                                                ("medical", True), ("government", False), ("finance", False)])
def test_each_scene_says_whether_it_accepts_proxies(scene: str, accepts: bool) -> None:
    assert POLICIES[scene].accepts_proxy(_context("p_any")) is accepts


def test_a_campus_accepts_proxies_only_when_its_partner_id_is_configured() -> None:
    campus = POLICIES["campus"]
    assert campus.accepts_proxy(_context("p_school")) is False
    assert campus.accepts_proxy(_context("p_school", frozenset({"p_school"}))) is True
    assert campus.accepts_proxy(_context("p_other", frozenset({"p_school"}))) is False
