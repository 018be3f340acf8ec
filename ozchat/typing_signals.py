"""Typing, a client's side: when keys pressed become a `typing` frame, and who is typing where. No I/O.

A conversation is None for the line, else the phone number of the direct partner.
"""

from __future__ import annotations

import math

from .protocol import TYPING_INTERVAL, TYPING_REFRESH, TYPING_SHOWN, ChatMessage, Typing, TypingNotice

Conversation = str | None


class TypingSender:
    """At most one `typing` every TYPING_REFRESH seconds while keys are pressed, and a `stopped` only after one."""

    def __init__(self) -> None:
        # conversation -> (when a `typing` was last sent, whether no `stopped` has followed it)
        self._sent: dict[Conversation, tuple[float, bool]] = {}

    def frame(self, to: Conversation, now: float, *, stopped: bool = False) -> Typing | None:
        """The frame to send for a key pressed (or, `stopped`, the input sent or cleared) at `now`; None: nothing."""
        last, active = self._sent.get(to, (-math.inf, False))
        if stopped:
            if not active:
                return None
            self._sent[to] = (last, False)
            return Typing(to, stopped=True)
        # Typing again right after a stop waits only as long as the hub would drop it.
        if now - last < (TYPING_REFRESH if active else TYPING_INTERVAL):
            return None
        self._sent[to] = (now, True)
        return Typing(to)


class TypingBoard:
    """Who is typing in which conversation, from the hub's `typing` frames, each until `shown` seconds after their last.

    Someone stops typing at once when their `stopped` or their message arrives, or when they go OFFLINE.
    """

    def __init__(self, shown: float = TYPING_SHOWN) -> None:
        self._shown = shown
        # (conversation, typist's phone number) -> when it is no longer shown, in the order they began
        self._until: dict[tuple[Conversation, str], float] = {}

    def heard(self, notice: TypingNotice, now: float) -> None:
        key = (None if notice.to is None else notice.sender, notice.sender)
        if notice.stopped:
            self._until.pop(key, None)
        else:
            self._until[key] = now + self._shown

    def message(self, message: ChatMessage, me: str | None) -> None:
        """A message arrived: its sender has stopped typing in its conversation."""
        partner = message.sender if message.to is not None else None
        if message.sender != me:
            self._until.pop((partner, message.sender), None)

    def gone(self, phone_number: str) -> None:
        """OFFLINE (or renumbered): typing nowhere any more."""
        for key in [key for key in self._until if key[1] == phone_number]:
            del self._until[key]

    def typists(self, conversation: Conversation, now: float) -> list[str]:
        """The phone numbers typing in `conversation` at `now`, first to begin first."""
        return [number for (where, number), until in self._until.items() if where == conversation and until > now]

    def expire(self, now: float) -> float | None:
        """Forget those shown long enough; the time the next one is due to go (None: nobody left)."""
        for key in [key for key, until in self._until.items() if until <= now]:
            del self._until[key]
        return min(self._until.values(), default=None)
