"""The chat (what `ozchat` runs by default): builds the Textual app over a client, and runs it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..chat_logs import LineLogs, logs_root
from ..client import OzWebClient
from ..exceptions import OzchatError
from ..hub.autostart import LocalHub, StartedHub
from ..input_history import InputHistory, input_history_path, input_history_root
from ..settings import settings_path
from .options import chat_lines, client_tls, local_hub_for, server_address

if TYPE_CHECKING:
    from ..tui.app import OzChatApp


def local_hub_notice(started: StartedHub, idle: float, *, again: bool = False) -> str:
    return (
        f"Started a local hub {'again ' if again else ''}on {started.host}:{started.port}; it stops by itself "
        f"{idle:g} s after the last client leaves. Its log: {started.log_path}"
    )


def _ask_nickname() -> str | None:
    if not sys.stdin.isatty():
        return None
    try:
        return input("Nickname: ").strip() or None
    except EOFError:
        return None


def build_chat_app(args: argparse.Namespace, nickname: str, local_hub: LocalHub | None = None) -> OzChatApp:
    """The chat app for these options, with an avatar service that trusts the hub's host.

    With `local_hub`, the client starts that hub again whenever it reconnects to nothing, and
    the status bar tells whether the hub it is connected to was started here.

    `--avatar` may name a bundled avatar (shared by name) or a local file
    (uploaded once connected); raises ValueError for a bad address or a missing file.
    """
    from ..avatars import AvatarService
    from ..tui.app import Join, LineParts, OzChatApp  # Textual loads only for the chat
    from ..tui.avatar_choice import avatar_base_url, choose_avatar
    from ..tui.ignoring import IgnoreList, ignored_path, ignored_root
    from ..tui.messages import SystemNotice

    server = server_address(args)
    base_url = avatar_base_url(server)
    properties = {**args.settings_properties, **dict(args.prop), "nickname": nickname}
    avatar_file = None
    if args.avatar:
        choice = choose_avatar(args.avatar)
        if isinstance(choice, Path):
            if not choice.is_file():
                raise ValueError(f"no avatar file {choice}")
            avatar_file = choice
            properties.pop("avatar", None)  # the upload's name is shared once connected
        else:
            properties["avatar"] = choice

    async def start_hub_again() -> None:
        assert local_hub is not None
        started = await local_hub.ensure()
        if started is not None:
            app.post_message(SystemNotice(local_hub_notice(started, args.autostart_idle, again=True)))

    tls = client_tls(args.cafile)

    def line_parts(line: str) -> LineParts:
        """Each line its own client (its own connection), logs, input history and ignore list."""
        client = OzWebClient(
            pick_free_nickname=True,
            before_reconnect=start_hub_again if local_hub is not None else None,
            ssl_context=tls,
        )
        return LineParts(
            client,
            Join(server, line, properties, args.token),
            chat_logs=LineLogs(logs_root(), server, line) if args.log else None,
            input_history=InputHistory(input_history_path(server, line), root=input_history_root()),
            ignoring=IgnoreList(ignored_path(server, line), root=ignored_root()),
            avatar_file=avatar_file,  # each line's connection shares it once uploaded
        )

    first, *more_lines = chat_lines(args)
    parts = line_parts(first)
    app = OzChatApp(
        parts.client,
        join=parts.join,
        avatars=AvatarService(base_url=base_url, cafile=args.cafile),
        avatar_file=parts.avatar_file,
        theme=args.theme,
        max_chat_lines=args.scrollback,
        settings_file=settings_path(),
        chat_logs=parts.chat_logs,
        input_history=parts.input_history,
        ignoring=parts.ignoring,
        notify=args.notify,
        more_lines=more_lines,
        line_factory=line_parts,
        typing=args.typing,
    )
    if local_hub is not None:
        app.hub_started_here = lambda: local_hub.started_here is not None
    return app


def chat(args: argparse.Namespace) -> int:
    nickname = args.nick or _ask_nickname()
    if nickname is None:
        print("ozchat: a nickname is needed: --nick NAME, or nick in the settings file", file=sys.stderr)
        return 2
    try:
        local_hub = local_hub_for(args)
        app = build_chat_app(args, nickname, local_hub)
    except ValueError as exc:
        print(f"ozchat: {exc}", file=sys.stderr)
        return 2
    if args.theme and args.theme not in app.available_themes:
        themes = ", ".join(sorted(app.available_themes))
        print(f"ozchat: no theme {args.theme!r}; try one of: {themes}", file=sys.stderr)
        return 2
    try:
        started = asyncio.run(local_hub.ensure()) if local_hub is not None else None
    except OzchatError as exc:
        print(f"ozchat: {exc}", file=sys.stderr)
        return 2
    if started is not None:
        app.startup_notice = local_hub_notice(started, args.autostart_idle)
    app.run()
    return 0
