"""The command palette's own entries (Ctrl+P): ozchat's slash commands, and for each person a
direct message and their profile, offered beside Textual's system commands."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from ..text import printable
from . import commands
from .widgets import Composer

if TYPE_CHECKING:
    from .app import OzChatApp


def chat_commands(app: OzChatApp) -> Iterable[SystemCommand]:
    """One entry per slash command (it is typed into the composer), then two per person."""
    for name, command in commands.COMMANDS.items():
        yield SystemCommand(command.usage, command.summary, partial(begin_command, app, name))
    for info in app.everyone():
        shown = printable(info.display_name)
        if info is not app.me:
            reach = partial(message_person, app, info.phone_number)
            yield SystemCommand(f"Message {shown}", f"direct messages with {shown} ({info.phone_number})", reach)
        profile = partial(app.command_runner.show_profile, info.phone_number)
        yield SystemCommand(f"Profile of {shown}", f"what {shown} ({info.phone_number}) shares", profile)


def begin_command(app: OzChatApp, name: str) -> None:
    composer = app.query_one(Composer)
    composer.value = f"/{name} "
    composer.focus()


async def message_person(app: OzChatApp, phone_number: str) -> None:
    if phone_number in app.roster:
        await app.open_conversation(phone_number, activate=True)
    app.query_one(Composer).focus()
