"""The chat logger: writes what the chat shows to the line's log files (`ozchat/chat_logs.py`).

The writes go to a thread of their own through a queue, in order, so a slow or stalled disk
never holds up the chat; `close()` (on leaving the line, and on exit) waits until all are written.
A message replayed again on a later join (the same number in the same epoch) is not logged
again; a file that cannot be written is told once, and logging ends for this run.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

from ..chat_logs import LineLogs, event_text, message_text
from ..protocol import ChatMessage, ClientInfo
from .texts import log_failed_text

Write = Callable[[LineLogs], object]


class ChatLogger:
    """Logs one line's conversations through `logs` (None: not logging); `failed` shows why a write failed.

    `name_of(number, nickname)` is the name shown for a number (a direct message's folder is named after it).
    `failed` is called from the writing thread: it must be safe to call from there (a posted Message is).
    """

    def __init__(
        self, logs: LineLogs | None, name_of: Callable[[str, str | None], str], failed: Callable[[str], object]
    ) -> None:
        self._logs = logs
        self._name_of = name_of
        self._failed = failed
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None  # started by the first write
        self.epoch: str | None = None  # the numbering of the messages now arriving (the welcome's epoch)

    @property
    def logging(self) -> bool:
        return self._logs is not None

    def event(self, time: datetime, text: str) -> None:
        """`John is ONLINE` and the like, in the line's file."""
        line = event_text(text)
        self._write(lambda logs: logs.write(time, line))

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
        logs = self._logs
        if logs is None:
            return None
        return logs.path(day, self._name_of(partner, None) if partner is not None else None)

    async def close(self) -> None:
        """Write what is queued, then close the files; logging ends. Waits in a thread, not on the event loop."""
        logs, self._logs = self._logs, None
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            await asyncio.to_thread(writer.join)
        elif logs is not None:
            logs.close()

    def _write(self, write: Write) -> None:
        logs = self._logs
        if logs is None:
            return
        if self._writer is None:
            # A daemon: were close() never called (a crash), the process still ends.
            self._writer = threading.Thread(target=self._write_queued, args=(logs,), name="chat-log", daemon=True)
            self._writer.start()
        self._queue.put(write)

    def _write_queued(self, logs: LineLogs) -> None:
        """The writing thread: each write in turn until `close()` queues None; the first failure ends logging."""
        failed = False
        while (write := self._queue.get()) is not None:
            if failed:
                continue
            try:
                write(logs)
            except OSError as error:
                failed = True
                self._logs = None
                logs.close()
                self._failed(log_failed_text(error))
        logs.close()
