"""Operators' accountability on the command line (issue 21 item 7, M-25): every command that reads
or changes personal data, a card, a partner or money is recorded in the audit chain with the
operator who ran it: ``CARD_OPERATOR`` if set (a named person, e.g. ``zhang.wei``, when several
share a service account), otherwise the operating-system user. Never the word "operator" alone.

The record is written when the command ends, whatever the end: ``ok``, ``exit 1`` (e.g. rows
rejected) or ``failed: <error type>``; the command's own work is committed or rolled back by the
command before that (app.service_desk.audit.record_operator_action).
"""
from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from typing import Any

import click

from app.runtime import runtime

MAX_NAME = 64


def operator_identity() -> str:
    """``CARD_OPERATOR`` (stripped, printable, at most 64 characters), else the OS user name,
    else ``uid:<n>``; the audit trail's ``actor_id`` for command-line actions."""
    named = "".join(ch for ch in os.environ.get("CARD_OPERATOR", "") if ch.isprintable()).strip()
    if named:
        return named[:MAX_NAME]
    try:
        return getpass.getuser()[:MAX_NAME]
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def audited(action: str, reference: Callable[[dict[str, Any]], str | None] | None = None,
            fields: tuple[str, ...] = (), citizen: Callable[[dict[str, Any]], int | None] | None = None,
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a click command (inside ``with_appcontext``): record ``action`` by
    :func:`operator_identity` with ``reference(kwargs)``, ``fields`` and the citizen concerned
    (``citizen(kwargs)``) when it ends."""
    def wrap(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            outcome = "ok"
            try:
                return command(**kwargs)
            except SystemExit as exc:
                outcome = "ok" if exc.code in (0, None) else f"exit {exc.code}"
                raise
            except click.ClickException as exc:
                outcome = f"refused: {exc.format_message()[:120]}"
                raise
            except Exception as exc:
                outcome = f"failed: {type(exc).__name__}"
                raise
            finally:
                from app.service_desk.audit import record_operator_action

                record_operator_action(runtime(), operator_identity(), action, reference(kwargs) if reference else None,
                                       outcome, citizen(kwargs) if citizen else None, fields)
        return run
    return wrap


def file_name(key: str = "path") -> Callable[[dict[str, Any]], str | None]:
    """The reference of a file command: the file's name (not its folder, which may name a person)."""
    return lambda kwargs: f"file:{os.path.basename(kwargs[key])}" if kwargs.get(key) else None


def argument(key: str, prefix: str = "") -> Callable[[dict[str, Any]], str | None]:
    """The reference of a command on one object: that argument (a partner id, a batch)."""
    return lambda kwargs: f"{prefix}{kwargs[key]}" if kwargs.get(key) else None


def card_holder(key: str = "card_number") -> Callable[[dict[str, Any]], int | None]:
    """The citizen whose card the command concerns (the audit record names the citizen, not the card number)."""
    def find(kwargs: Any) -> int | None:
        from sqlalchemy import select

        from app.card.models import Card
        from app.platform.db import db

        return db.session.scalar(select(Card.citizen_id).where(Card.card_number == kwargs.get(key)))
    return find
