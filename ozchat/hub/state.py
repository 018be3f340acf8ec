"""HubState: every decision of the hub, with no I/O (no sockets, no event loop).

The server feeds it inputs — a connection opened, a frame received on a connection, a
connection closed (with or without the client's close frame), a linger timer come due — each
with the time now, and applies what it returns: frames for recipients, closes, and deadlines
at which to call `expire`. Connections are whatever hashable handles the server picks (its
outboxes); the state never calls them. The history store stays a synchronous dependency.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Generic

import msgspec

from ..exceptions import ProtocolError
from ..protocol import (
    Ack,
    ClientInfo,
    CloseCode,
    ErrorCode,
    ErrorFrame,
    Hello,
    Send,
    Synced,
    Typing,
    Update,
    Upload,
    Welcome,
    encode,
    merge_properties,
    same_properties,
)
from .admission import check_hello, decode_frame, digest, frame_refusal, upload_data
from .limits import AddressLimiter, RateLimit, TokenBucket
from .line import Line, LineRegistry
from .outputs import Announce, Burst, Close, Conn, Deliver, Output, StoreUpload, Timer, answer, failure, refusal
from .replay import replay
from .store import HistoryStore, StoreError
from .typing_relay import TypingGate, relay_typing

log = logging.getLogger("ozchat.hub")


class _Connection:
    """What the state knows of one connection: its budgets, and once joined, where it stands."""

    __slots__ = ("address", "author", "bucket", "line", "phone_number", "replaced", "typing")

    def __init__(self, address: str, bucket: TokenBucket | None) -> None:
        self.address = address
        self.bucket = bucket
        self.line: Line | None = None
        self.phone_number = ""
        # Hashed client identity: a resend is compared with this author's earlier sends only.
        self.author = ""
        self.replaced = False
        self.typing = TypingGate()


class HubState(Generic[Conn]):
    """Lines, members, numbering, resume and linger of one hub; inputs in, outputs out."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        token: str | None = None,
        history: int = 50,
        grace: float = 10.0,
        rate_limit: RateLimit | None = None,
        limiter: AddressLimiter | None = None,
        uploads: bool = False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lines = LineRegistry(store.last_seq, store.epoch, store.last_direct_seq)
        self.limiter = limiter
        self._token = token
        self._history = history
        self._grace = grace
        self._rate_limit = rate_limit
        self._uploads = uploads
        self._wall_clock = wall_clock
        self._connections: dict[Conn, _Connection] = {}
        self._members: dict[str, dict[str, Conn]] = {}
        # Hashes of the resume tokens, as the store keeps them too: a restarted hub takes clients back.
        self._resume_hashes: dict[tuple[str, str], str] = {}
        # Members whose connection dropped, kept on their line until this deadline (in insertion order).
        self._lingering: dict[tuple[str, str], float] = {}

    @property
    def client_count(self) -> int:
        """Connections joined to a line."""
        return sum(len(members) for members in self._members.values())

    def member(self, conn: Conn) -> tuple[str, str] | None:
        """The line and phone number a connection speaks for, once it has joined (and until replaced)."""
        peer = self._connections.get(conn)
        if peer is None or peer.line is None or peer.replaced:
            return None
        return peer.line.name, peer.phone_number

    def connections_on(self, line_name: str) -> list[Conn]:
        """The connections joined to a line: who an `Announce` on it is told to (but the one it is about)."""
        return list(self._members.get(line_name, {}).values())

    @property
    def lingering_count(self) -> int:
        """Members kept on their line for a grace period, without a connection."""
        return len(self._lingering)

    # ---- inputs ---------------------------------------------------------------------

    def restore(self, now: float) -> list[Output[Conn]]:
        """Take back whoever the store remembers as present: they keep their numbers for a grace period."""
        try:
            remembered = self.store.members()
        except StoreError as exc:
            log.warning("could not read who was present before the restart: %s", exc)
            return []
        for member in remembered:
            line = self.lines.get(member.line)
            # An older hub kept no identity: without one, direct messages could not be numbered for it.
            if self._grace <= 0 or not member.identity or not line.restore(member.phone_number, member.properties):
                self._forget(member.line, member.phone_number)
                self.lines.discard_if_empty(line)
                continue
            line.set_identity(member.phone_number, member.identity)
            self._resume_hashes[member.line, member.phone_number] = member.token_hash
            self._lingering[member.line, member.phone_number] = now + self._grace
        if not self._lingering:
            return []
        log.info("keeping %d clients from before the restart for %g s", len(self._lingering), self._grace)
        return [Timer(now + self._grace)]

    def connect(self, conn: Conn, address: str, now: float) -> None:
        """A connection opened from `address` (the one its rate limits count it as)."""
        bucket = TokenBucket(self._rate_limit, now) if self._rate_limit is not None else None
        self._connections[conn] = _Connection(address, bucket)

    def receive(self, conn: Conn, raw: str | bytes, now: float) -> list[Output[Conn]]:
        """A frame from a connection: its hello (before it joined), or anything after."""
        peer = self._connections.get(conn)
        if peer is None or peer.replaced:
            return []  # closed, or replaced by a resumed connection: it speaks for nobody now
        if peer.line is None:
            return self._greet(conn, peer, raw, now)
        if (limited := frame_refusal(peer.bucket, self._rate_limit, self.limiter, peer.address, raw, now)) is not None:
            return [Deliver((conn,), encode(limited))]
        try:
            frame = decode_frame(raw)
            if isinstance(frame, Upload):
                return [StoreUpload(conn, upload_data(frame, enabled=self._uploads), frame.id)]
            if isinstance(frame, Typing):  # ephemeral: relayed, never stored
                return relay_typing(peer.typing, frame, peer.phone_number, peer.line, self._members, now)
            return self._dispatch(conn, peer, peer.line, frame)
        except ProtocolError as exc:
            log.debug("%s sent a bad frame: %s", peer.phone_number, exc)
            return answer(conn, exc, raw)

    def closed(self, conn: Conn, *, clean: bool, now: float, stopping: bool = False) -> list[Output[Conn]]:
        """A connection ended: `clean` when the client sent a close frame of its own (it has left).

        Any other end keeps its member on the line for the grace period. A hub `stopping`
        changes nothing: the store remembers the member for the next start.
        """
        peer = self._connections.pop(conn, None)
        line = peer.line if peer is not None else None
        if peer is None or line is None or peer.replaced:
            return []
        members = self._members[line.name]
        del members[peer.phone_number]
        if not members:
            del self._members[line.name]
        if stopping:
            return []
        if self._grace > 0 and not clean:
            return self._linger(line, peer.phone_number, now)
        return self._leave(line, peer.phone_number)

    def expire(self, now: float) -> list[Output[Conn]]:
        """Grace periods that have ended by `now`: those members leave (others see OFFLINE)."""
        due: list[tuple[str, str]] = []
        for key, deadline in self._lingering.items():
            if deadline > now:
                break  # one grace period for all: deadlines come in insertion order
            due.append(key)
        outputs: list[Output[Conn]] = []
        for line_name, phone_number in due:
            del self._lingering[line_name, phone_number]
            if line_name in self.lines:
                outputs += self._leave(self.lines.get(line_name), phone_number)
        return outputs

    # ---- joining --------------------------------------------------------------------

    def _greet(self, conn: Conn, peer: _Connection, raw: str | bytes, now: float) -> list[Output[Conn]]:
        """Before the hello: check it in the documented order, then admit it."""
        checked = check_hello(
            conn, raw, now, peer.bucket, self._rate_limit, self.limiter, peer.address,
            token=self._token, is_new_line=self._is_new_line,
        )
        return checked if isinstance(checked, list) else self._welcome(conn, peer, *checked, now)

    def _welcome(
        self, conn: Conn, peer: _Connection, hello: Hello, hello_id: str | None, now: float
    ) -> list[Output[Conn]]:
        """A hello past `check_hello` (`hello_id`: its id, for answers): the checks against its line, then it joins."""
        try:
            line = self.lines.get(hello.line)
        except StoreError as exc:  # the line's numbering is unreadable: numbering anew would reuse numbers
            log.warning("could not read the numbering of line %r: %s", hello.line, exc)
            return failure(conn, "the hub cannot read this line's stored numbering", hello_id)
        outputs: list[Output[Conn]] = []
        try:
            me, resumed = self._admit(conn, line, hello, outputs)
        except ProtocolError as exc:  # a resume whose merged properties break the limits, or a nickname in use
            self.lines.discard_if_empty(line)
            return refusal(conn, ErrorFrame(exc.code, exc.message, hello_id), CloseCode.ACCESS_DENIED, exc.code)
        key = (line.name, me.phone_number)
        if resumed and hello.resume is not None:
            resume_token = hello.resume.token
        else:
            resume_token = secrets.token_urlsafe(16)
            self._resume_hashes[key] = digest("resume", resume_token)
        # Without a client secret, the resume token stands for the client: same number, same author.
        author = digest("secret", hello.client_secret) if hello.client_secret else digest("token", resume_token)
        line.set_identity(me.phone_number, author)
        try:
            last_direct_seq = line.last_direct_seq(author)
        except StoreError as exc:  # as above: numbering anew would reuse numbers
            log.warning("could not read the direct numbering on line %r: %s", line.name, exc)
            if resumed:
                outputs += self._linger(line, me.phone_number, now)
            else:
                outputs += self._leave(line, me.phone_number)
            return outputs + failure(conn, "the hub cannot read this line's stored numbering", hello_id)
        self._remember(line, me)
        peer.line, peer.phone_number, peer.author = line, me.phone_number, author
        self._members.setdefault(line.name, {})[me.phone_number] = conn
        how = "resumed on" if resumed else "joined"
        log.info("%s %s line %r (%d present)", me.phone_number, how, line.name, len(line))
        welcome = Welcome(
            me.phone_number, line.name, me.properties, line.last_seq, resume_token, resumed,
            epoch=line.epoch, last_direct_seq=last_direct_seq,
        )
        rest: list[bytes] = []
        replay(rest, self.store, line, me.phone_number, author, hello, self._history)
        rest.append(encode(Synced(line.last_seq)))
        outputs.append(Burst(conn, encode(welcome), line.roster(but=me.phone_number), rest))
        return outputs

    def _admit(self, conn: Conn, line: Line, hello: Hello, outputs: list[Output[Conn]]) -> tuple[ClientInfo, bool]:
        """Join the line, or take back a lingering phone number when the hello proves it owns it."""
        claim = hello.resume
        if claim is not None:
            key = (line.name, claim.phone_number)
            token_hash = self._resume_hashes.get(key)
            if (
                token_hash is not None
                and claim.phone_number in line
                and hmac.compare_digest(token_hash, digest("resume", claim.token))
            ):
                previous = line.get(claim.phone_number)
                # A resume keeps the properties unless its hello really changes them (merged as an update).
                info = previous
                if hello.properties is not msgspec.UNSET:
                    merged = merge_properties(previous.properties, hello.properties)
                    if not same_properties(merged, previous.properties):
                        info = line.replace(claim.phone_number, merged)
                self._lingering.pop(key, None)
                # The client saw its connection die before we did: the new connection takes over.
                stale = self._members.get(line.name, {}).pop(claim.phone_number, None)
                if stale is not None:
                    self._connections[stale].replaced = True
                    outputs.append(Close(stale, CloseCode.REPLACED, "resumed on a new connection"))
                if info is not previous:
                    outputs.append(Announce(line.name, info, conn))
                return info, True
        info = line.join({} if hello.properties is msgspec.UNSET else hello.properties)
        outputs.append(Announce(line.name, info, conn))
        return info, False

    def _is_new_line(self, name: str) -> bool:
        """Nobody is on the line and it has never held a message."""
        if name in self.lines:
            return False
        try:
            return not self.store.has_held_messages(name)
        except StoreError:
            return False

    # ---- members' frames ------------------------------------------------------------

    def _dispatch(self, conn: Conn, peer: _Connection, line: Line, frame: Hello | Send | Update) -> list[Output[Conn]]:
        if isinstance(frame, Hello):
            raise ProtocolError(ErrorCode.ALREADY_JOINED, f"already on line {line.name!r}; one hello per connection")
        try:
            if isinstance(frame, Send):
                return self._relay(conn, peer, line, frame)
            info = line.update(peer.phone_number, frame.properties)
            self._remember(line, info)
            outputs: list[Output[Conn]] = [Announce(line.name, info, conn)]
            if frame.id is not None:
                outputs.append(Deliver((conn,), encode(Ack(frame.id, properties=info.properties))))
            return outputs
        except ProtocolError as exc:
            exc.request_id = frame.id
            raise

    def _relay(self, conn: Conn, peer: _Connection, line: Line, frame: Send) -> list[Output[Conn]]:
        """Store, then relay, then acknowledge; a client id this client used before is acknowledged again only."""
        try:
            earlier = self.store.find(line.name, frame.id, peer.author) if frame.id is not None else []
        except StoreError as exc:
            log.warning("could not look up a resend on line %r: %s", line.name, exc)
            earlier = []  # a possible duplicate is better than a line nobody can write to
        resent = next((m for m in earlier if (m.text, m.to, m.action) == (frame.text, frame.to, frame.action)), None)
        if resent is not None and frame.id is not None:
            # A resend after a lost acknowledgement (perhaps under a new number): acknowledge only.
            return [Deliver((conn,), encode(Ack(frame.id, resent.seq, resent.ts, resent.direct_seq)))]
        try:
            # A recipient's direct numbering may have to be read from the store first.
            posted = line.post(
                peer.phone_number, frame.text, ts=int(self._wall_clock() * 1000), to=frame.to, action=frame.action,
                client_id=frame.id,
            )
            self.store.append(line.name, posted.message, peer.author, posted.direct)
        except StoreError as exc:
            log.warning("could not store a message on line %r: %s", line.name, exc)
            raise ProtocolError(ErrorCode.STORE_FAILED, "the hub could not store the message; send it again") from None
        line.commit(posted)
        members = self._members[line.name]
        outputs: list[Output[Conn]] = []
        sent_copy = posted.message
        if posted.direct is None:
            outputs.append(Deliver(tuple(members.values()), encode(posted.message)))
        else:
            for number, copy in line.copies(posted):
                if number == peer.phone_number:
                    sent_copy = copy
                if (recipient := members.get(number)) is not None:
                    outputs.append(Deliver((recipient,), encode(copy)))
        if frame.id is not None:
            outputs.append(Deliver((conn,), encode(Ack(frame.id, sent_copy.seq, sent_copy.ts, sent_copy.direct_seq))))
        return outputs

    # ---- presence -------------------------------------------------------------------

    def _linger(self, line: Line, phone_number: str, now: float) -> list[Output[Conn]]:
        deadline = now + self._grace
        self._lingering.pop((line.name, phone_number), None)  # to the end: deadlines stay in order
        self._lingering[line.name, phone_number] = deadline
        return [Timer(deadline)]

    def _leave(self, line: Line, phone_number: str) -> list[Output[Conn]]:
        self._forget(line.name, phone_number)
        gone = line.leave(phone_number)
        outputs: list[Output[Conn]] = [Announce(line.name, gone)] if gone is not None else []
        self.lines.discard_if_empty(line)
        return outputs

    def _remember(self, line: Line, info: ClientInfo) -> None:
        try:
            self.store.keep_member(
                line.name, info.phone_number, self._resume_hashes[line.name, info.phone_number], info.properties,
                line.identity(info.phone_number),
            )
        except StoreError as exc:
            log.warning("could not remember %s on line %r: %s", info.phone_number, line.name, exc)

    def _forget(self, line_name: str, phone_number: str) -> None:
        self._resume_hashes.pop((line_name, phone_number), None)
        try:
            self.store.forget_member(line_name, phone_number)
        except StoreError as exc:
            log.warning("could not forget %s on line %r: %s", phone_number, line_name, exc)

