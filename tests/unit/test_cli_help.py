"""`citizencard ... --help` reads as plain text: click prints command docstrings literally."""
from __future__ import annotations

from collections.abc import Iterator

import click

from app.cli import main


def our_commands(group: click.Group, path: str = "citizencard") -> Iterator[tuple[str, click.Command]]:
    """Every command and group of ours (not Flask's or Flask-Migrate's), with its command line."""
    for name, command in group.commands.items():
        if not (command.callback and command.callback.__module__.startswith("app.")):
            continue
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from our_commands(command, f"{path} {name}")


def test_help_texts_carry_no_rest_markup() -> None:
    commands = dict(our_commands(main))
    assert "citizencard partner terminal remove" in commands and "citizencard check" in commands
    for line, command in commands.items():
        text = command.get_help(click.Context(command, info_name=line))
        assert "``" not in text, f"{line} --help shows reST markup"
