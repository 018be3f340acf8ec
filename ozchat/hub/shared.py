"""HubState for hubs that share their lines through Redis: other hubs' members mirrored, messages numbered there.

Still without I/O: the server hands it what the backplane read (a line's roster and newest
messages, a presence change, a message from the line's stream) and hands the backplane what this
hub changed (`take_shared`) and what its members send (a `Post` output, numbered by Redis; the
message reaches everyone, its sender too, from the stream, in the line's one order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..protocol import ClientInfo, ClientStatus, CloseCode, Gap, Hello, Send, Typing, TypingNotice, Update, encode
from .admission import new_line_refusal
from .line import Line, Posted
from .outputs import Announce, Close, Conn, Deliver, Output, Post, failure, refusal
from .redis_nicknames import Held, hello_claim, nickname_entry, update_claim
from .redis_scripts import LineView, Message, Record, entry_id_order
from .state import HubState, _Connection
from .store import StoreError
from .typing_relay import TypingGate

log = logging.getLogger("ozchat.hub")


class _SharingGate(TypingGate):
    """A connection's typing gate that also notes what it let through, for the other hubs."""

    __slots__ = ("_peer", "_typing")

    def __init__(self, peer: _Connection, typing: list[tuple[str, str, str | None, bool]]) -> None:
        super().__init__()
        self._peer = peer
        self._typing = typing

    def admit(self, frame: Typing, now: float) -> bool:
        admitted = super().admit(frame, now)
        if admitted and self._peer.line is not None:
            self._typing.append((self._peer.line.name, self._peer.phone_number, frame.to, frame.stopped))
        return admitted


@dataclass(slots=True)
class _Checked:
    """A hello past every check that needs no line's state, and when its address's limits counted it."""

    hello: Hello
    hello_id: str | None
    joined_at: float
    new_line_at: float | None = None


class SharedHubState(HubState[Conn]):
    """A hub's state whose lines also hold the members of other hubs (mirrored, never connected here)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This hub's own presence changes, for the other hubs (see `take_shared`), with the member's order then.
        self._shared: list[tuple[str, ClientInfo, int]] = []
        # Per (line, number), the order of the member's newest connection, as Redis gave it (see `reserve`).
        self._orders: dict[tuple[str, str], int] = {}
        # The order Redis gave a connection's hello, until it joins or resumes with it.
        self._hello_orders: dict[Conn, int] = {}
        # Per line, the stream entry of the newest message kept in the local mirror of its history.
        self._mirrored: dict[str, str] = {}
        # Typing this hub relayed, for the other hubs: (line, sender, to, stopped).
        self._typing: list[tuple[str, str, str | None, bool]] = []
        # The number reserved in Redis for a connection's hello, by line (see `reserve`).
        self._reserved: dict[Conn, tuple[str, str]] = {}
        # Hellos past every check that needs no line's state, waiting for their line to be read from Redis.
        self._checked: dict[Conn, _Checked] = {}
        # The look-alike keys Redis says other numbers hold, for a connection's next hello or update.
        self._held: dict[Conn, Held] = {}

    # ---- inputs, as HubState's, and every presence change of this hub's members noted for the other hubs ----

    def connect(self, conn: Conn, address: str, now: float) -> None:
        super().connect(conn, address, now)
        peer = self._connections[conn]
        peer.typing = _SharingGate(peer, self._typing)

    def receive(self, conn: Conn, raw: str | bytes, now: float) -> list[Output[Conn]]:
        try:
            return self._note(super().receive(conn, raw, now))
        finally:
            self._held.pop(conn, None)  # what Redis answered held for this frame only

    def closed(self, conn: Conn, *, clean: bool, now: float, stopping: bool = False) -> list[Output[Conn]]:
        self._checked.pop(conn, None)
        return self._note(super().closed(conn, clean=clean, now=now, stopping=stopping))

    def expire(self, now: float) -> list[Output[Conn]]:
        return self._note(super().expire(now))

    def checked_line(self, conn: Conn) -> str | None:
        """The line of this connection's hello, once it passed every check that needs no line's state.

        Until `admit_checked` or `refuse_checked`, the hello waits: only now is its line read from Redis,
        so a hello refused for its token, line name or limits never reaches Redis.
        """
        checked = self._checked.get(conn)
        return None if checked is None else checked.hello.line

    def may_be_new_line(self, conn: Conn) -> bool:
        """Whether the waiting hello counts as a new line if Redis knows nothing of its line: the hub limits
        new lines and has nobody on it (what this hub alone holds cannot tell, so Redis is asked first)."""
        checked = self._checked.get(conn)
        return (
            checked is not None and self.limiter is not None and self.limiter.limits.new_lines is not None
            and checked.hello.line not in self.lines
        )

    def count_new_line(self, conn: Conn, now: float) -> list[Output[Conn]] | None:
        """The waiting hello's line is new (Redis holds nobody on it, no message): count it; the refusal when over."""
        checked = self._checked[conn]
        assert self.limiter is not None
        over = new_line_refusal(self.limiter, self._connections[conn].address, checked.hello_id, now)
        if over is None:
            checked.new_line_at = now
            return None
        del self._checked[conn]  # refused by a limit: it stays counted as a join, as at step 6
        return refusal(conn, over, CloseCode.RATE_LIMITED, "rate limited")

    def checked_nickname(self, conn: Conn) -> tuple[str, str]:
        """The nickname entry the waiting hello asks for and the number it resumes (see `hello_claim`)."""
        return hello_claim(self._checked[conn].hello)

    def admit_checked(self, conn: Conn, now: float) -> list[Output[Conn]]:
        """The waiting hello, its line mirrored and a number reserved: the checks against the line, then it joins."""
        checked = self._checked.pop(conn)
        peer = self._connections.get(conn)
        if peer is None or peer.replaced:
            return []
        outputs = self._note(super()._welcome(conn, peer, checked.hello, checked.hello_id, now))
        if peer.line is None:  # refused after the limits (store_failed, nickname_in_use): it used up no budget
            self._give_back(peer, checked)
        return outputs

    def refuse_checked(self, conn: Conn, message: str) -> list[Output[Conn]]:
        """The waiting hello, answered with the hub's own failure (Redis could not be read); it used up no budget."""
        checked = self._checked.pop(conn)
        peer = self._connections.get(conn)
        if peer is not None:
            self._give_back(peer, checked)
        return failure(conn, message, checked.hello_id)

    def _give_back(self, peer: _Connection, checked: _Checked) -> None:
        if self.limiter is not None:
            self.limiter.give_back(peer.address, checked.joined_at, checked.new_line_at)

    def reserve(self, conn: Conn, line_name: str, phone_number: str, held: Held, order: int) -> None:
        """The number Redis holds for this connection's next hello on `line_name`: a join there takes it.

        `held`: the keys of the hello's nickname other numbers hold, as Redis answered its claim. `order`: the
        hello's place among all of the line's hellos on every hub; the member's connection keeps it, and yields
        only to another hub's ONLINE of a newer one (see `mirror`).
        """
        self._reserved[conn] = (line_name, phone_number)
        self._held[conn] = held
        self._hello_orders[conn] = order

    def unused_number(self, conn: Conn) -> tuple[str, str, str] | None:
        """After a hello: the (line, number) reserved for it if it did not take it (refused, or resumed), and
        the number it resumed ('' if none)."""
        self._held.pop(conn, None)
        self._hello_orders.pop(conn, None)
        reserved = self._reserved.pop(conn, None)
        member = self.member(conn)
        if reserved is None or member == reserved:
            return None
        return (*reserved, member[1] if member is not None and member[0] == reserved[0] else "")

    def nickname_change(self, conn: Conn, raw: str | bytes) -> tuple[str, str, str] | None:
        """(line, number, nickname entry) when a member's frame is an update that changes its nickname."""
        member = self.member(conn)
        if member is None:
            return None
        entry = update_claim(self.lines.get(member[0]).get(member[1]).properties, raw)
        return None if entry is None else (*member, entry)

    def nicknames_held(self, conn: Conn, held: Held) -> None:
        """The keys of a member's next update's nickname other numbers hold, as Redis answered its claim."""
        self._held[conn] = held

    def nickname_of(self, line_name: str, phone_number: str) -> str:
        """The nickname entry of a member (see redis_nicknames.py): what Redis should hold for it."""
        return nickname_entry(self.lines.get(line_name).get(phone_number).properties)

    def _note(self, outputs: list[Output[Conn]]) -> list[Output[Conn]]:
        self._shared += (
            (output.line, output.info, self._orders.get((output.line, output.info.phone_number), 0))
            for output in outputs if type(output) is Announce
        )
        return outputs

    def take_shared(self) -> list[tuple[str, ClientInfo, str, str, int]]:
        """This hub's presence changes since the last call, in order: (line, state, identity, resume token hash,
        order of the member's connection)."""
        changes, self._shared = self._shared, []
        shared = []
        for line_name, info, order in changes:
            identity = token = ""
            if info.status is ClientStatus.ONLINE and line_name in self.lines:
                identity = self.lines.get(line_name).identities().get(info.phone_number, "")
                token = self._resume_hashes.get((line_name, info.phone_number), "")
            shared.append((line_name, info, identity, token, order))
        return shared

    def share_again(self) -> list[tuple[str, str, int]]:
        """Redis lost what it held: every member of this hub is published again (see `take_shared`).

        Returns each line's epoch and newest number, for Redis to go on from.
        """
        for line_name, members in self._members.items():
            line = self.lines.get(line_name)
            self._shared += (
                (line_name, line.get(number), self._orders.get((line_name, number), 0)) for number in members
            )
        for line_name, number in self._lingering:
            if line_name in self.lines and number in (line := self.lines.get(line_name)):
                self._shared.append((line_name, line.get(number), self._orders.get((line_name, number), 0)))
        return [(line.name, line.epoch, line.last_seq) for line in self.lines]

    def take_typing(self) -> list[tuple[str, str, str | None, bool]]:
        """The typing this hub's members signalled since the last call (relayed here already): for the other hubs."""
        typing = self._typing[:]
        self._typing.clear()  # in place: every connection's gate appends to this list
        return typing

    def mirror_typing(self, line_name: str, sender: str, to: str | None, stopped: bool) -> list[Output[Conn]]:
        """Another hub's member is typing: tell this hub's members of the line, or only the direct partner."""
        members = self._members.get(line_name)
        if not members or line_name not in self.lines or sender not in self.lines.get(line_name):
            return []
        notice = encode(TypingNotice(sender, to, stopped))
        if to is None:
            return [Deliver(tuple(members.values()), notice)]
        partner = members.get(to)
        return [] if partner is None else [Deliver((partner,), notice)]

    def local_lines(self) -> set[str]:
        """The lines this hub has members on, connected or lingering."""
        return set(self._members) | {line for line, _ in self._lingering}

    def mirror_line(self, line_name: str, view: LineView) -> None:
        """A line this hub starts to serve, as Redis holds it: other hubs' members, numbering, newest messages."""
        line = self.lines.get(line_name)
        line.epoch = view.epoch
        for message in view.messages:
            self.mirror_message(line_name, message)
        line.last_seq = max(line.last_seq, view.last_seq)
        line.count_direct(view.direct_seqs)
        for record in view.roster:
            if record.info.phone_number not in line:
                self._mirror_member(line, record)

    def mirror(self, line_name: str, info: ClientInfo, record: Record | None) -> list[Output[Conn]]:
        """Another hub's member joined, changed or left (`record` None: its hub died); tell this hub's members.

        An ONLINE from another hub for one of this hub's members means it resumed there, if of a newer
        connection than this hub's (see `reserve`): this hub lets it go without an OFFLINE (and closes its old
        connection, if that is still open). An older one's, read late (the member resumed here again since), is
        passed over: it never closes the member's newest connection.
        """
        if line_name not in self.lines:
            return []
        line = self.lines.get(line_name)
        outputs: list[Output[Conn]] = []
        if self._is_ours(line_name, info.phone_number):
            if record is None or info.status is not ClientStatus.ONLINE:
                return []  # this hub's heartbeat lapsed while it lived on: it keeps its member
            if record.order and record.order < self._orders.get((line_name, info.phone_number), 0):  # 0: unknown, newer
                return []
            self._lingering.pop((line_name, info.phone_number), None)
            members = self._members.get(line_name, {})
            stale = members.pop(info.phone_number, None)
            if not members:
                self._members.pop(line_name, None)
            if stale is not None:
                self._connections[stale].replaced = True
                outputs.append(Close(stale, CloseCode.REPLACED, "resumed on another hub"))
        if record is not None and info.status is ClientStatus.ONLINE:
            changed = self._mirror_member(line, record)
        else:
            changed = line.mirror(info)
            self._resume_hashes.pop((line_name, info.phone_number), None)
            self._orders.pop((line_name, info.phone_number), None)
        return [*outputs, Announce(line_name, info)] if changed else outputs

    def mirror_message(self, line_name: str, shared: Message) -> list[Output[Conn]]:
        """A message from the line's stream (this hub's members' too): keep it in the mirror, relay it here."""
        newest = self._mirrored.get(line_name)
        if line_name not in self.lines or (newest and entry_id_order(newest) >= entry_id_order(shared.entry_id)):
            return []
        self._mirrored[line_name] = shared.entry_id
        line = self.lines.get(line_name)
        try:
            self.store.append(line_name, shared.message, shared.author, shared.direct)
        except StoreError as exc:
            log.warning("could not keep a message of line %r: %s", line_name, exc)
        posted = Posted(shared.message, shared.direct)
        # Numbers this hub never read (trimmed from the stream, or lost with Redis's data) are a gap, said as such.
        skipped = shared.direct is None and shared.message.seq > line.last_seq + 1 and line.last_seq > 0
        after = line.last_seq
        if shared.direct is not None:
            line.commit(posted)
        line.last_seq = max(after, shared.message.seq)
        members = self._members.get(line_name)
        if not members:
            return []
        if shared.direct is None:
            gap = [Deliver(tuple(members.values()), encode(Gap(after, shared.message.seq)))] if skipped else []
            return [*gap, Deliver(tuple(members.values()), encode(shared.message))]
        return [
            Deliver((conn,), encode(copy)) for number, copy in line.copies(posted)
            if (conn := members.get(number)) is not None
        ]

    def drop_mirror(self, line_name: str) -> None:
        """Stop mirroring a line this hub has nobody on any more."""
        if line_name not in self.local_lines():
            self.lines.drop(line_name)  # what the mirror kept stays kept (and `_mirrored` says up to where)

    # ---- overridden: sends are numbered by Redis, resumes may take a member over from another hub ----

    def _relay(self, conn: Conn, peer: _Connection, line: Line, frame: Send) -> list[Output[Conn]]:
        posted = line.post(  # checks the recipient and takes the nickname; Redis gives the numbers
            peer.phone_number, frame.text, ts=int(self._wall_clock() * 1000), to=frame.to, action=frame.action,
            client_id=frame.id,
        )
        return [Post(conn, line.name, posted.message, peer.author, posted.direct, line.last_seq, line.epoch)]

    def _admit(self, conn: Conn, line: Line, hello: Hello, outputs: list[Output[Conn]]) -> tuple[ClientInfo, bool]:
        reserved = self._reserved.get(conn)
        order = self._hello_orders.pop(conn, 0)
        announced = len(outputs)
        line.offered_number = reserved[1] if reserved is not None and reserved[0] == line.name else None
        line.held_elsewhere = self._held.pop(conn, {}) if reserved is not None and reserved[0] == line.name else {}
        try:
            info, resumed = super()._admit(conn, line, hello, outputs)
        finally:
            line.offered_number = None  # a resume, or a refusal, leaves it unused
            line.held_elsewhere = {}
        self._orders[line.name, info.phone_number] = order
        if resumed and not any(type(output) is Announce for output in outputs[announced:]):
            # Published once (a resume that changes properties is announced already), on every resume: a hub
            # this member left meanwhile may not know it yet, and lets it go on reading it.
            self._shared.append((line.name, info, order))
        return info, resumed

    def _welcome(
        self, conn: Conn, peer: _Connection, hello: Hello, hello_id: str | None, now: float
    ) -> list[Output[Conn]]:
        self._checked[conn] = _Checked(hello, hello_id, now)  # waits for its line to be read from Redis: `checked_line`
        return []

    def _is_new_line(self, name: str) -> bool:
        return False  # decided once Redis was asked: see `may_be_new_line`

    def _dispatch(self, conn: Conn, peer: _Connection, line: Line, frame: Hello | Send | Update) -> list[Output[Conn]]:
        line.held_elsewhere = self._held.get(conn, {})
        try:
            return super()._dispatch(conn, peer, line, frame)
        finally:
            line.held_elsewhere = {}

    def _mirror_member(self, line: Line, record: Record) -> bool:
        number = record.info.phone_number
        changed = line.mirror(record.info)
        line.set_identity(number, record.identity)
        self._resume_hashes[line.name, number] = record.token
        self._orders[line.name, number] = record.order
        return changed

    def _forget(self, line_name: str, phone_number: str) -> None:
        self._orders.pop((line_name, phone_number), None)
        super()._forget(line_name, phone_number)

    def _is_ours(self, line_name: str, phone_number: str) -> bool:
        return phone_number in self._members.get(line_name, {}) or (line_name, phone_number) in self._lingering
