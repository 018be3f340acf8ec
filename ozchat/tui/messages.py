"""Textual Messages that carry the client's events into the UI.

Only the worker that owns the client, and the hooks its client runs, post these; widgets never
touch the network. Each message carries everything needed to draw it, so a test or a replay can
post them directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from textual.app import App
from textual.message import Message

from ..avatars import AvatarResult
from ..events import ConnectionStateChanged
from ..images import RGB
from ..protocol import ChatMessage, ClientInfo, ErrorFrame, Gap, TypingNotice

AppT = TypeVar("AppT", bound=App[None])
Params = ParamSpec("Params")
Result = TypeVar("Result")


def while_running(
    handler: Callable[Concatenate[AppT, Params], Result],
) -> Callable[Concatenate[AppT, Params], Result | None]:
    """Skip `handler` once the app has begun to close: the widgets it draws into are being removed.

    For what workers deliver (these Messages, a request's answer): one finished just before the
    app closed arrives while its screen is torn down, and is of no use to anyone by then.
    """

    @functools.wraps(handler)
    def guarded(app: AppT, /, *args: Params.args, **kwargs: Params.kwargs) -> Result | None:
        return handler(app, *args, **kwargs) if app.is_running else None

    return guarded


class FromLine(Message):
    """A Message about one line the app is on: its worker sets `line_tab`, the id of that line's tab.

    None (a test posting it, or what runs beside the clients) means the line shown.
    """

    line_tab: str | None = None


@dataclass
class ConnectionChanged(FromLine):
    """The connection's state changed; `me`, `line` and `epoch` are set once access is granted.

    `epoch` names the numbering of the messages that follow (see the protocol's welcome).
    """

    change: ConnectionStateChanged
    me: ClientInfo | None = None
    line: str | None = None
    epoch: str | None = None


@dataclass
class PresenceChanged(FromLine):
    """Client-state events in arrival order, batched so a join storm is drawn once per tick."""

    clients: tuple[ClientInfo, ...]


@dataclass
class ChatReceived(FromLine):
    """A chat message for the line or a direct one, live or replayed from history."""

    message: ChatMessage


@dataclass
class HubErrorReceived(FromLine):
    """An error the hub sent that answers no request of ours."""

    error: ErrorFrame


@dataclass
class TypingReceived(FromLine):
    """Someone else is typing on the line or to me, or (`notice.stopped`) no more."""

    notice: TypingNotice


@dataclass
class HistoryGap(FromLine):
    """Messages between two sequence numbers exist but the hub can no longer replay them."""

    gap: Gap


@dataclass
class SystemNotice(FromLine):
    """A line for the line tab from what runs beside the client, e.g. a local hub started again."""

    text: str
    kind: str = "system"  # or "error": something failed


@dataclass(frozen=True, slots=True)
class AvatarKey:
    """One avatar load: the resolved URL drawn `size` pixels square over `background`."""

    url: str
    size: int
    background: RGB


@dataclass
class AvatarLoaded(Message):
    """An avatar load ended: the picture, or the identicon and the reason in `result.error`."""

    key: AvatarKey
    result: AvatarResult
