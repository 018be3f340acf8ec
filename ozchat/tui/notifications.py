"""Desktop notifications through the terminal: a direct message or a mention while it is not focused.

`notify` chooses how: "osc777" (`ESC ] 777 ; notify ; title ; body ESC \\`: foot, Ghostty, WezTerm,
kitty and others), "osc9" (`ESC ] 9 ; text ESC \\`: iTerm2, Windows Terminal, kitty), "bell" (the
bell only, as always) or "off" (not even the bell). The text comes from other people: it is made
printable (no control character, so no escape of theirs can end the sequence or start another),
without the `;` that separates fields, and short.
"""

from __future__ import annotations

from collections.abc import Callable

from ..settings import NOTIFY_CHOICES
from ..text import printable

__all__ = ["NOTIFY_CHOICES", "Notifier", "notification_sequence", "notification_text"]
NOTIFY_INTERVAL = 5.0  # seconds: at most one desktop notification this often
MAX_NOTIFICATION_CHARS = 160


class RateLimit:
    """Allows one event per `interval` seconds of `clock`."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def allow(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True


def notification_text(text: str) -> str:
    """Someone's text as it may go inside an OSC sequence: printable, no `;`, on one line, bounded."""
    shown = printable(text).replace(";", ",")
    return shown if len(shown) <= MAX_NOTIFICATION_CHARS else shown[: MAX_NOTIFICATION_CHARS - 1] + "…"


def notification_sequence(kind: str, title: str, body: str) -> str:
    """The escape sequence that shows `title` and `body` as a notification ('' for bell and off)."""
    title, body = notification_text(title), notification_text(body)
    if kind == "osc777":
        return f"\x1b]777;notify;{title};{body}\x1b\\"
    if kind == "osc9":
        return f"\x1b]9;{title}: {body}\x1b\\"
    return ""


class Notifier:
    """Sends notifications of `kind` through `write` (to the terminal), one per `interval` seconds of `clock`."""

    def __init__(
        self, kind: str, write: Callable[[str], object], clock: Callable[[], float], interval: float = NOTIFY_INTERVAL
    ) -> None:
        if kind not in NOTIFY_CHOICES:
            raise ValueError(f"notify is one of {', '.join(NOTIFY_CHOICES)}, not {kind!r}")
        self.kind = kind
        self._write = write
        self._limit = RateLimit(interval, clock)

    @property
    def rings(self) -> bool:
        """Whether mentions and direct messages ring the bell (all but "off")."""
        return self.kind != "off"

    def tell(self, title: str, body: str, *, focused: bool) -> bool:
        """Notify, unless the terminal is focused, the kind sends none, or one was sent too recently."""
        sequence = notification_sequence(self.kind, title, body)
        if focused or not sequence or not self._limit.allow():
            return False
        self._write(sequence)
        return True
