"""Typing frames: relayed to the line or to one direct partner, never stored, at most one a second. No I/O."""

from __future__ import annotations

import math

from ..exceptions import ProtocolError
from ..protocol import TYPING_INTERVAL, ErrorCode, Typing, TypingNotice, encode
from .line import Line
from .outputs import Conn, Deliver, Output

# Conversations a connection's gate remembers: past it, the one typed in longest ago is forgotten.
MAX_CONVERSATIONS = 64


class TypingGate:
    """One connection's typing per conversation (None: the line; else a phone number): what to relay of it."""

    __slots__ = ("_conversations",)

    def __init__(self) -> None:
        # conversation -> (when a `typing` was last relayed, whether no `stopped` has followed it), oldest first
        self._conversations: dict[str | None, tuple[float, bool]] = {}

    def admit(self, frame: Typing, now: float) -> bool:
        """A `typing` at most once a TYPING_INTERVAL; a `stopped` only to end a relayed `typing`."""
        last, active = self._conversations.get(frame.to, (-math.inf, False))
        if frame.stopped:
            if active:
                self._conversations[frame.to] = (last, False)
            return active
        if now - last < TYPING_INTERVAL:
            return False
        self._conversations.pop(frame.to, None)  # to the end: the dict stays in the order typed in
        self._conversations[frame.to] = (now, True)
        if len(self._conversations) > MAX_CONVERSATIONS:
            del self._conversations[next(iter(self._conversations))]
        return True


def relay_typing(
    gate: TypingGate, frame: Typing, sender: str, line: Line, members_by_line: dict[str, dict[str, Conn]], now: float
) -> list[Output[Conn]]:
    """The `typing` frame for everyone else on the line, or for the direct partner only; nothing when dropped."""
    if frame.to is not None and frame.to not in line:
        raise ProtocolError(ErrorCode.UNKNOWN_RECIPIENT, f"no client {frame.to!r} on line {line.name!r}", frame.id)
    if not gate.admit(frame, now):
        return []
    members = members_by_line[line.name]
    notice = encode(TypingNotice(sender, frame.to, frame.stopped))
    if frame.to is None:
        return [Deliver(tuple(members.values()), notice, members.get(sender))]
    partner = members.get(frame.to)  # absent while in its grace period: typing is not kept for it
    return [] if partner is None or frame.to == sender else [Deliver((partner,), notice)]
