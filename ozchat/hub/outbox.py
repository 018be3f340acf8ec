"""A joined connection's outbox, and each line's presence journal: frames queued per turn of the loop and
written without a task of their own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ..protocol import MAX_PRESENCE_BATCH, CloseCode
from .outputs import Pending, presence_frames

log = logging.getLogger("ozchat.hub")


class Journal:
    """One line's presence entries of this turn of the loop, appended once per change, read by every member's outbox.

    At the end of the turn each reader takes what it has not read yet (all but the entries about
    itself) into its queue in one step, so a change told to a thousand members costs one append,
    not a thousand pushes. A reader sent a frame of its own meanwhile takes the entries before it
    first, so the order stays as it was told. Readers with nothing waiting (most, in a join storm)
    are written the same presence frames, joined once for all of them.
    """

    __slots__ = ("_about", "_abouts", "_due", "_entries", "_frames", "line", "readers")

    def __init__(self, line: str) -> None:
        self.line = line
        self.readers: set[Outbox] = set()
        self._entries: list[bytes] = []
        self._abouts: list[Outbox | None] = []  # beside each entry: the connection it is about, not told
        self._about: set[Outbox] = set()  # the same, as a set: the other readers take a plain slice
        self._due = False
        self._frames: tuple[int, list[bytes]] | None = None  # the turn's entries as frames (and how many entries)

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, entry: bytes, about: Outbox | None) -> None:
        self._entries.append(entry)
        self._abouts.append(about)
        if about is not None and about in self.readers:  # a newcomer reads from after its own entry
            self._about.add(about)
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._deliver)

    def since(self, start: int, reader: Outbox) -> list[bytes]:
        """The entries from `start` on that `reader` is told."""
        if reader not in self._about:
            return self._entries[start:]
        return [entry for entry, about in zip(self._entries[start:], self._abouts[start:], strict=True)
                if about is not reader]

    def tells_all(self, reader: Outbox) -> bool:
        """Whether `reader` is told every entry of the turn (none is about itself)."""
        return reader not in self._about

    def frames(self) -> list[bytes]:
        """Every entry of the turn in presence frames, joined once for all the readers that have nothing waiting."""
        if self._frames is None or self._frames[0] != len(self._entries):
            self._frames = (len(self._entries), presence_frames(self._entries))
        return self._frames[1]

    def _deliver(self) -> None:
        self._due = False
        for reader in list(self.readers):  # a reader found closing leaves the set meanwhile
            reader.read_journal()
        self._entries = []
        self._abouts = []
        self._about = set()
        self._frames = None


class Journals:
    """The presence journal of each line that has a member connected here."""

    def __init__(self) -> None:
        self._by_line: dict[str, Journal] = {}

    def announce(self, line: str, entry: bytes, about: Outbox | None) -> None:
        journal = self._by_line.get(line)
        if journal is not None:
            journal.append(entry, about)

    def subscribe(self, line: str, outbox: Outbox) -> None:
        """From now on `outbox` is told the presence changes on `line`."""
        journal = self._by_line.get(line)
        if journal is None:
            journal = self._by_line[line] = Journal(line)
        outbox.follow(journal, self._unsubscribe)

    def _unsubscribe(self, journal: Journal, outbox: Outbox) -> None:
        journal.readers.discard(outbox)
        if not journal.readers and self._by_line.get(journal.line) is journal:
            del self._by_line[journal.line]


class Outbox:
    """One connection's outbox, written out once per turn of the event loop after the connection has joined.

    A turn's pushes and its line's presence entries are queued at its end in one step (presence
    entries, each encoded once, in runs: see `Pending`). Frames go
    straight into the write buffer, several in one write, while it has room (as `broadcast()`
    writes; no task per connection); past that they wait here, counting toward the slow-reader limit.
    """

    def __init__(self, ws: ServerConnection, max_pending: int, close_timeout: float) -> None:
        self.ws = ws
        self._close_timeout = close_timeout
        self._incoming: list[bytes] = []  # pushed in this turn of the loop, not queued yet
        self._pending = Pending()
        self._max_pending = max_pending
        self._started = False
        self._stopped = False
        self._overflowed = False
        self._flush_due = False
        self._draining: asyncio.Task[None] | None = None
        self._journal: Journal | None = None
        self._unfollow: Callable[[Journal, Outbox], None] | None = None
        self._read = 0  # entries of the journal's turn already taken

    @property
    def started(self) -> bool:
        """Whether the connection has joined: before that, the hub answers it directly."""
        return self._started

    def start(self, welcome: bytes, roster: list[bytes], rest: list[bytes]) -> None:
        """Queue the join burst (see `Burst`; after anything pushed before it) and start writing."""
        self._pending.extend(self._incoming)
        self._incoming = []
        self._pending.extend_burst(welcome, roster, rest)
        self._started = True
        self._schedule()

    def follow(self, journal: Journal, unfollow: Callable[[Journal, Outbox], None]) -> None:
        """Read `journal` from its end on (what came before is in the roster this connection was sent)."""
        self.unfollow()
        self._journal, self._unfollow, self._read = journal, unfollow, len(journal)
        journal.readers.add(self)

    def unfollow(self) -> None:
        """Take what the journal holds for this connection so far, and no more after it."""
        journal, unfollow = self._journal, self._unfollow
        if journal is None or unfollow is None:
            return
        self._catch_up(journal)
        self._journal = self._unfollow = None
        unfollow(journal, self)

    def read_journal(self) -> None:
        """The turn's presence entries not read yet are queued (at the end of the turn, with what it pushed)."""
        journal = self._journal
        if journal is None:
            return
        if self._incoming:  # pushed this turn too: in order with those
            self._catch_up(journal)
            self._read = 0  # the journal starts the next turn empty
            self._flush()
        elif self._read == 0 and self._idle() and len(journal) <= self._max_pending and journal.tells_all(self):
            self._write_shared(journal)  # what most readers get in a storm: the same frames as every other
        else:
            entries = journal.since(self._read, self) if self._read < len(journal) else []
            self._read = 0
            self._flush(entries)

    def _catch_up(self, journal: Journal) -> None:
        if self._read < len(journal):
            self._incoming += journal.since(self._read, self)
            self._read = len(journal)

    def stop(self) -> None:
        """The connection is over: nothing more is written."""
        self.unfollow()
        self._stopped = True
        self._incoming = []
        self._pending.clear()
        if self._draining is not None:
            self._draining.cancel()

    def push(self, item: bytes) -> None:
        if self._journal is not None and self._read < len(self._journal):  # presence told before it goes first
            self._catch_up(self._journal)
        self._incoming.append(item)
        if not self._flush_due:  # _schedule(), inline: this runs once per recipient of every change
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _schedule(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self, entries: list[bytes] | None = None) -> None:
        """Queue what this turn pushed (then `entries`, presence only), unless that makes the reader too slow;
        then write what has room."""
        self._flush_due = False
        incoming, self._incoming = self._incoming, []
        if self._stopped or self._overflowed:
            return
        if self._pending.counted + len(incoming) + (len(entries) if entries else 0) > self._max_pending:
            self._overflowed = True
            self._pending.clear()
            log.info("dropping a client that reads too slowly (%s)", self.ws.remote_address)
            asyncio.get_running_loop().create_task(self._drop())
            return
        self._pending.extend(incoming)
        if entries:
            self._pending.extend_entries(entries)
        if self._started and self._draining is None:
            self._write()

    async def _drop(self) -> None:
        """Close with 4008; a peer that reads nothing never lets the close frame out, so abort then."""
        try:
            await asyncio.wait_for(self.ws.close(CloseCode.TOO_SLOW, "too slow"), self._close_timeout)
        except TimeoutError:
            self.ws.transport.abort()

    def _idle(self) -> bool:
        """Writing, with nothing waiting: frames can go straight into the write buffer."""
        return (self._started and not self._stopped and not self._overflowed and self._draining is None
                and not self._pending)

    def _write_shared(self, journal: Journal) -> None:
        """The turn's presence frames, shared by all readers, while the write buffer has room; the rest queued.

        The same frames an empty queue would make of the entries (see `Pending`), without joining them again.
        """
        protocol, transport = self.ws.protocol, self.ws.transport
        if protocol.state is not State.OPEN:  # closing: nothing more can go out
            self.stop()
            return
        room = transport.get_write_buffer_limits()[1]
        queued = transport.get_write_buffer_size()
        for sent, frame in enumerate(journal.frames()):
            if queued >= room:
                transport.write(b"".join(protocol.data_to_send()))
                self._pending.extend_entries(journal.since(sent * MAX_PRESENCE_BATCH, self))
                self._write()
                return
            protocol.send_text(frame)
            queued += len(frame)
        transport.write(b"".join(protocol.data_to_send()))

    def _write(self) -> None:
        """Write what waits while the write buffer has room; once it is full, wait for it to drain."""
        protocol, transport = self.ws.protocol, self.ws.transport
        room = transport.get_write_buffer_limits()[1]
        while self._pending and not self._stopped:
            if protocol.state is not State.OPEN:  # closing: nothing more can go out
                self.stop()
                return
            queued = transport.get_write_buffer_size()
            if queued >= room:
                self._draining = asyncio.get_running_loop().create_task(self._drain())
                return
            while self._pending and queued < room:
                frame = self._pending.take()
                protocol.send_text(frame)
                queued += len(frame)
            transport.write(b"".join(protocol.data_to_send()))

    async def _drain(self) -> None:
        try:
            # Written like any frame; send() returns once the buffer is back under its low-water mark.
            await self.ws.send(self._pending.take(), text=True)
        except ConnectionClosed:
            return
        finally:
            self._draining = None
        self._write()
