"""The chat logger: writes what the chat shows to the line's log files (`ozchat/chat_logs.py`).

A message replayed again on a later join (the same number in the same epoch) is not logged
again; a file that cannot be written is told once, and logging ends for this run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from ..chat_logs import LineLogs, event_text, message_text
from ..protocol import ChatMessage, ClientInfo
from .texts import log_failed_text


class ChatLogger:
    """Logs one line's conversations through `logs` (None: not logging); `failed` shows why a write failed.

    `name_of(number, nickname)` is the name shown for a number (a direct message's folder is named after it).
    """

    def __init__(
        self, logs: LineLogs | None, name_of: Callable[[str, str | None], str], failed: Callable[[str], object]
    ) -> None:
        self._logs = logs
        self._name_of = name_of
        self._failed = failed
        self.epoch: str | None = None  # the numbering of the messages now arriving (the welcome's epoch)

    @property
    def logging(self) -> bool:
        return self._logs is not None

    def event(self, time: datetime, text: str) -> None:
        """`John is ONLINE` and the like, in the line's file."""
        self._write(lambda logs: logs.write(time, event_text(text)))

    def message(self, message: ChatMessage, me: ClientInfo | None, zone: tzinfo | None) -> None:
        """A message in the line's file or its direct partner's, unless logged before."""
        name_of = self._name_of
        own = me is not None and message.sender == me.phone_number
        sender = me.display_name if own and me is not None else name_of(message.sender, message.nickname)
        time = datetime.fromtimestamp(message.ts / 1000, tz=zone)
        text = message_text(sender, message.text, action=message.action)
        epoch = self.epoch
        if message.to is None:
            self._write(lambda logs: logs.write_numbered(epoch, "line", message.seq, time, text))
            return
        partner = name_of(message.to if own else message.sender, None if own else message.nickname)
        direct_seq = message.direct_seq
        if direct_seq is None:
            self._write(lambda logs: logs.write(time, text, partner))
            return
        numbering = f"direct {me.phone_number if me is not None else ''}"  # each number has its own numbering
        self._write(lambda logs: logs.write_numbered(epoch, numbering, direct_seq, time, text, partner))

    def path(self, day: datetime, partner: str | None) -> Path | None:
        """That day's file of the line, or of the direct conversation with the number `partner`; None if not logging."""
        if self._logs is None:
            return None
        return self._logs.path(day, self._name_of(partner, None) if partner is not None else None)

    def close(self) -> None:
        if self._logs is not None:
            self._logs.close()

    def _write(self, write: Callable[[LineLogs], object]) -> None:
        if self._logs is None:
            return
        try:
            write(self._logs)
        except OSError as error:
            self._logs.close()
            self._logs = None
            self._failed(log_failed_text(error))
