"""The command runner: carries out the commands `tui/commands.py` parses, in one conversation.

It sends through the client of the conversation's line without blocking the screen; a refusal or a mistake becomes a
one-line error in the tab the command was typed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from ..exceptions import OzchatError, RequestRejected
from ..protocol import ClientInfo
from ..roster import find_people
from . import commands
from .avatar_choice import AvatarChoiceError, AvatarFileError, choose_avatar, read_avatar_file
from .conversations import Conversation
from .lines import join_line, part_line
from .texts import (
    LOG_OFF_TEXT,
    ONLY_LINE_TEXT,
    help_text,
    ignored_list_text,
    left_text,
    log_path_text,
    name_text,
    not_found_text,
    who_text,
    whois_text,
)
from .widgets import Composer, ProfileCard, SearchBox
from .widgets.confirm import Confirm

if TYPE_CHECKING:
    from .app import OzChatApp

LARGE_PASTE_LINES = 5  # a message of more lines is sent only once confirmed, like a paste in WeeChat


class CommandRunner:
    """Carries out typed commands for `app`: sends, shares properties, answers /who, /whois and /help."""

    def __init__(self, app: OzChatApp) -> None:
        self.app = app

    async def submit(self, typed: str, conversation: Conversation) -> None:
        """Parse what was typed in `conversation`; a mistyped command is told there, else run it."""
        try:
            command = commands.parse(typed)
        except commands.CommandError as error:
            conversation.chat.add_system(self.app.now(), str(error), kind="error")
            return
        await self.run(command, conversation, typed)

    async def run(self, command: commands.Command, conversation: Conversation, typed: str = "") -> None:
        """Carry out `command` in `conversation`; `typed` is what was typed, put back if a question is declined."""
        app = self.app
        log = conversation.chat
        line = app.line_of(conversation)
        if isinstance(command, commands.Say | commands.Me) and self.partner_left(conversation):
            log.add_system(app.now(), self.left_text(conversation.caption, conversation), kind="error")
            return
        match command:
            case commands.Say(text):
                self._send_text(conversation, text, typed)
            case commands.Me(action):
                self._send_text(conversation, action, typed, action=True)
            case commands.Msg(target, text):
                person = self.find_one(target, conversation)
                if person is not None and person is line.me:
                    log.add_system(app.now(), "you cannot send a direct message to yourself", kind="error")
                elif person is not None:
                    direct = await app.open_conversation(person.phone_number, activate=True, line=line)
                    self._send_text(direct, text, typed)
            case commands.Nick(name):
                self._share(conversation, {"nickname": name}, Text.assemble("You are now known as ", name_text(name)))
            case commands.Avatar(value):
                self._choose_avatar(conversation, value)
            case commands.Away(reason):
                self._share(conversation, {"away": reason or True}, "You are marked as away")
            case commands.Back():
                self._share(conversation, {"away": None}, "You are back")
            case commands.Set(key, None):
                self._share(conversation, {key: None}, f"You no longer share {key}")
            case commands.Set(key, value):
                self._share(conversation, {key: value}, f"You share {key}: {value}")
            case commands.Who():
                log.add_system(app.now(), who_text(line.everyone(), line.name or ""))
            case commands.Whois(target):
                person = self.find_one(target, conversation)
                if person is not None:
                    log.add_system(app.now(), whois_text(person))
            case commands.Clear():
                log.clear()
            case commands.Search(None):
                app.query_one(SearchBox).close()
            case commands.Search(text):
                app.query_one(SearchBox).open(log, text)
                log.focus()  # n and N step through the matches
            case commands.Ignore(None):
                log.add_system(app.now(), ignored_list_text(line.ignoring.names()))
            case commands.Ignore(target) | commands.Unignore(target) if target is not None:
                self._ignore(conversation, target, isinstance(command, commands.Ignore))
            case commands.Log():
                path = line.chat_logger.path(app.now(), conversation.partner)
                log.add_system(app.now(), LOG_OFF_TEXT if path is None else log_path_text(str(path)))
            case commands.JoinLine(name):
                await join_line(app, name)
            case commands.Part():
                if len(app.lines) == 1:
                    log.add_system(app.now(), ONLY_LINE_TEXT, kind="error")
                else:
                    await part_line(app, line)
            case commands.Help(topic):
                log.add_system(app.now(), help_text(topic))
            case commands.Quit():
                await app.action_quit()

    def find_one(self, target: str, conversation: Conversation) -> ClientInfo | None:
        """The one person (me included) a nickname or number names; otherwise say why not in the tab."""
        line = self.app.line_of(conversation)
        matches = find_people(line.everyone(), target)
        if len(matches) == 1:
            return matches[0]
        conversation.chat.add_system(self.app.now(), not_found_text(target, line.name, matches), kind="error")
        return None

    def _ignore(self, conversation: Conversation, target: str, ignore: bool) -> None:
        """Ignore (or no longer) the person `target` names on the line, or that nickname if no one has it."""
        app = self.app
        line = app.line_of(conversation)
        matches = find_people(line.everyone(), target)
        if len(matches) > 1:
            conversation.chat.add_system(app.now(), not_found_text(target, line.name, matches), kind="error")
            return
        name = matches[0].display_name if matches else target
        number = matches[0].phone_number if matches else None  # someone online: the rule covers them, not the name
        if ignore and line.me is not None and name.casefold() == line.me.display_name.casefold():
            conversation.chat.add_system(app.now(), "you cannot ignore yourself", kind="error")
            return
        try:
            changed = line.ignoring.add(name, number) if ignore else line.ignoring.remove(name, number)
        except OSError as error:
            conversation.chat.add_system(app.now(), f"the ignore list is not kept for next time: {error}", kind="error")
            changed = True
        verb = "now ignore" if ignore else "no longer ignore"
        said = f"You {verb} " if changed else f"You {'already' if ignore else 'did not'} ignore "
        conversation.chat.add_system(app.now(), Text.assemble(said, name_text(name)))
        app.people.restyle()

    def show_profile(self, number: str) -> None:
        """The profile card of the person with this number (me included); Message on it opens a direct tab."""
        app = self.app
        is_me = app.me is not None and number == app.me.phone_number
        info = app.me if is_me else app.roster.get(number)
        if info is None:
            return

        async def message_chosen(phone_number: str | None) -> None:
            if phone_number is not None and phone_number not in app.roster:
                app.active_conversation.chat.add_system(app.now(), self.left_text(info.display_name))
            elif phone_number is not None:
                await app.open_conversation(phone_number, activate=True)
            app.query_one(Composer).focus()

        app.push_screen(ProfileCard(info, app.avatars, is_me=is_me), message_chosen)

    def partner_left(self, conversation: Conversation) -> bool:
        """A direct tab whose number left the line; once closed for good, sending says why instead."""
        line = self.app.line_of(conversation)
        if conversation.partner is None or conversation.partner in line.roster:
            return False
        return line.client.connected or line.client.reconnecting

    def left_text(self, name: str, conversation: Conversation | None = None) -> Text:
        """`Mary has left`, and how to reach a Mary who is on the line now (a new connection, a new number)."""
        line = self.app.line_of(conversation) if conversation is not None else self.app.active_line
        return left_text(name, line.name or "", bool(line.roster.find(name)))

    def _send_text(self, conversation: Conversation, text: str, typed: str, *, action: bool = False) -> None:
        """Send to the conversation's partner or line; ask first if it is long or would go in pieces."""
        app = self.app
        client = app.line_of(conversation).client
        limit = client.limits.max_text_chars
        pieces = commands.split_text(text, limit)
        lines = text.count("\n") + 1
        to = conversation.partner

        async def send_pieces() -> None:
            for piece in pieces:
                await client.send_message(piece, to=to, action=action)

        def answered(yes: bool | None) -> None:
            if yes:
                self.request(conversation, send_pieces())
            else:
                app.query_one(Composer).restore(typed)

        if len(pieces) > 1:
            app.push_screen(
                Confirm(
                    f"This message has {len(text):,} characters and the hub takes {limit:,} at a time. "
                    f"Send it as {len(pieces)} messages, cut at spaces or line breaks?"
                ),
                answered,
            )
        elif lines > LARGE_PASTE_LINES:
            app.push_screen(Confirm(f"Send these {lines} lines ({len(text):,} characters) as one message?"), answered)
        else:
            self.request(conversation, send_pieces())

    def request(self, conversation: Conversation, request: Awaitable[Any], done: Text | str | None = None) -> None:
        """Send without blocking the screen; a refusal becomes a one-line error in the tab."""
        app = self.app
        line = app.line_of(conversation)
        if line.client.reconnecting:  # so nobody types it again thinking it was lost
            conversation.chat.add_system(app.now(), "Not connected: this goes out as soon as the line is back")

        async def send() -> None:
            try:
                result = await request
            except RequestRejected as error:
                conversation.chat.add_system(app.now(), f"the hub refused: {error.code}: {error.message}", kind="error")
                return
            except OzchatError as error:
                conversation.chat.add_system(app.now(), f"not sent: {error}", kind="error")
                return
            if isinstance(result, ClientInfo):
                app.show_me(result, line)
            if done is not None:
                conversation.chat.add_system(app.now(), done)

        app.run_worker(send(), group="requests")

    def _share(self, conversation: Conversation, changes: dict[str, Any], done: Text | str) -> None:
        self.request(conversation, self.app.line_of(conversation).client.update_properties(changes), done)

    def _choose_avatar(self, conversation: Conversation, value: str) -> None:
        """Share a URL or a bundled avatar's name, or upload a local file first."""
        app = self.app

        async def choose() -> None:
            try:
                choice = await asyncio.to_thread(choose_avatar, value)
            except AvatarChoiceError as error:
                conversation.chat.add_system(app.now(), f"avatar not changed: {error}", kind="error")
                return
            if isinstance(choice, Path):
                self.upload_avatar(conversation, choice)
            else:
                self._share(conversation, {"avatar": choice}, f"Your avatar is now {choice}")

        app.run_worker(choose(), group="requests")

    def upload_avatar(self, conversation: Conversation, path: Path) -> None:
        """Read `path` off the loop, give it to the hub, then share the name the hub serves it under."""
        app = self.app

        async def upload() -> None:
            try:
                data = await asyncio.to_thread(read_avatar_file, path)
                name = await app.line_of(conversation).client.upload_avatar(data)
            except AvatarFileError as error:
                conversation.chat.add_system(app.now(), f"avatar not changed: {error}", kind="error")
                return
            except RequestRejected as error:
                refused = f"avatar not changed: the hub refused {path.name}: {error.code}: {error.message}"
                conversation.chat.add_system(app.now(), refused, kind="error")
                return
            except OzchatError as error:
                failed = f"avatar not changed: {path.name} was not uploaded: {error}"
                conversation.chat.add_system(app.now(), failed, kind="error")
                return
            self._share(conversation, {"avatar": name}, f"Your avatar is now {path.name}, uploaded as {name}")

        app.run_worker(upload(), group="requests")
