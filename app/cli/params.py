"""Parameter types and wording shared by the command groups."""
from __future__ import annotations

from typing import Any

import click


class CommaList(click.ParamType):
    """A comma-separated list (``transit, culture``): each item stripped, empty items dropped.
    With ``allow_empty=False`` a list with no item left (``" , "``) is a usage error: for
    arguments, and options given explicitly, whose command would do nothing with it."""

    name = "list"

    def __init__(self, allow_empty: bool = True) -> None:
        self.allow_empty = allow_empty

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        items = value if isinstance(value, list) else [item.strip() for item in str(value).split(",") if item.strip()]
        if not items and not self.allow_empty:
            self.fail("give at least one item (comma-separated, e.g. transit,culture)", param, ctx)
        return items


COMMA_LIST = CommaList()
ITEMS = CommaList(allow_empty=False)


def plural(count: int, noun: str) -> str:
    """``1 terminal``, ``2 terminals``, ``0 terminals``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
