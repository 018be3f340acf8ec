"""ClientSession: what a client of the protocol decides, without any I/O.

It builds the hello (with the resume claim after a drop), takes the hub's decoded frames and
returns events, tracks the requests the hub has not answered and what to resend after a
reconnect, and keeps the roster, the last sequence numbers and the hub's epoch. The caller
owns the socket and the clock: it passes frames and the time in, and sends what it is given.

    session = ClientSession()
    session.start("Webphone1", {"nickname": "John"})
    hello = session.hello()                 # send it; then, for the hub's answer:
    welcome = session.answer(frame)         # a Welcome, or a Hello to try on a new connection
    granted = session.granted(welcome)      # the ACCESS_GRANTED event
    events = session.receive(frame, now)    # for every frame after the welcome
"""

from __future__ import annotations

import base64
import secrets
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from .events import ConnectionStateChanged, Event, RenumberedClient
from .exceptions import AccessDenied, ConnectionFailed
from .protocol import (
    Ack,
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ConnectionState,
    ErrorCode,
    ErrorFrame,
    Gap,
    Hello,
    HubFrame,
    Limits,
    Presence,
    Resume,
    Send,
    Synced,
    TypingNotice,
    Update,
    Upload,
    Uploaded,
    Welcome,
    encode,
    merge_properties,
    nickname_of,
    same_properties,
)
from .roster import Roster
from .typing_signals import TypingSender

RATE_LIMIT_PAUSES = (0.2, 0.4, 0.8, 1.6, 3.2)  # seconds before resending a rate-limited request
_ANSWERS_REMEMBERED = 256  # answered request ids, so that a second answer to a resent request is dropped


Request = Send | Update | Upload


@dataclass(frozen=True)
class Outgoing:
    """A request to send: its client id and the encoded frame."""

    request_id: str
    data: bytes


@dataclass(frozen=True)
class Answered:
    """The hub's final answer to a request of this client."""

    request_id: str
    request: Request
    answer: Ack | Uploaded | ErrorFrame


@dataclass(frozen=True)
class ResendDue:
    """The hub dropped a request unread (rate limited): send the same frame again at `at`."""

    request_id: str
    at: float


@dataclass
class _Pending:
    request: Request
    data: bytes
    pauses: int = 0  # rate-limited answers so far


class ClientSession:
    """One client's side of the protocol on one line, across reconnects."""

    def __init__(
        self,
        *,
        client_secret: str | None = None,
        history: int | None = None,
        pick_free_nickname: bool = False,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        """`pick_free_nickname`: when the hub refuses the nickname as in use, try John2, John3, … John99.

        `history` is how many earlier messages to ask for when first joining (the hub's default when None).
        """
        self.roster = Roster()
        self.phone_number: str | None = None
        self.line: str | None = None
        self.properties: dict[str, Any] = {}
        self.last_seq = 0
        # This client's own direct messages, sent or received, are numbered apart from the line's.
        self.last_direct_seq = 0
        # The hub's name for the numbering last_seq and last_direct_seq count in (from the welcome).
        self.epoch: str | None = None
        # What the hub accepts, from its welcome: check a message against it before sending.
        self.limits = Limits()
        # Sent in every hello: the hub matches resends with this client's earlier sends only.
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self._history = history
        self._pick_free_nickname = pick_free_nickname
        self._new_id = new_id
        self._token: str | None = None
        self._resume_token = ""
        self._joined = False  # granted at least once since start(): later hellos claim a resume
        self._wanted_nickname: str | None = None  # what the caller asked for: variants are made from it
        self._hello: Hello | None = None
        self._variants: Iterator[str] = iter(())
        self._taken: str | None = None
        self._pending: dict[str, _Pending] = {}
        self._answered: deque[str] = deque(maxlen=_ANSWERS_REMEMBERED)
        # After a welcome: the hub's presence snapshot, gathered until it ends, then reconciled at once.
        self._snapshot: dict[str, ClientInfo] | None = None
        self._typing = TypingSender()

    @property
    def me(self) -> ClientInfo | None:
        if self.phone_number is None:
            return None
        return ClientInfo(self.phone_number, ClientStatus.ONLINE, self.properties)

    @property
    def nickname(self) -> str | None:
        """The nickname this client has on the line (a variant when the one asked for was taken)."""
        return nickname_of(self.properties)

    # ---- joining --------------------------------------------------------------------

    def start(self, line: str, properties: dict[str, Any] | None = None, token: str | None = None) -> None:
        """Begin anew on `line`: no number, no numbering, nothing pending."""
        self.line = line
        self.properties = dict(properties or {})
        self._wanted_nickname = self.nickname
        self._token = token
        self.phone_number = None
        self._resume_token = ""
        self.last_seq = 0
        self.last_direct_seq = 0
        self.epoch = None
        self._joined = False
        self.end()

    def hello(self) -> Hello:
        """The hello for the next connection: a first join, or after a drop the claim to resume."""
        if not self._joined:
            hello = Hello(
                self.line or "", properties=self.properties, token=self._token, history=self._history,
                client_secret=self.client_secret,
            )
        else:
            resume = Resume(self.phone_number, self._resume_token) if self.phone_number and self._resume_token else None
            hello = Hello(
                self.line or "", properties=self.properties, token=self._token, resume=resume,
                last_seq=self.last_seq, last_direct_seq=self.last_direct_seq, epoch=self.epoch,
                client_secret=self.client_secret,
            )
        self._hello = hello
        self._variants = _variants(self._wanted_nickname or "", self.limits.max_nickname_chars)
        self._taken = None
        return hello

    def answer(self, frame: HubFrame) -> Welcome | Hello:
        """The hub's answer to the hello: the Welcome, or a Hello under a free nickname to send on a new connection.

        Raises AccessDenied when the hub refused, ConnectionFailed when it asks to wait (carrying
        its retryAfter), could not read its store (`store_failed`: tried again, like a hub that
        cannot be reached) or answered with something else (permanent: trying again cannot help).
        """
        if isinstance(frame, Welcome):
            return frame
        if not isinstance(frame, ErrorFrame):
            raise ConnectionFailed(f"the hub answered the hello with a {type(frame).__name__} frame", permanent=True)
        if frame.code == ErrorCode.RATE_LIMITED:  # too many joins from here: not a refusal, a "later"
            raise ConnectionFailed(f"the hub asks to wait: {frame.message}", frame.retry_after)
        if frame.code == ErrorCode.STORE_FAILED:  # the hub's own trouble (its store, or Redis away): not a refusal
            raise ConnectionFailed(f"the hub cannot let anyone in for now: {frame.message}")
        assert self._hello is not None
        properties = self._hello.properties if isinstance(self._hello.properties, dict) else {}
        nickname = nickname_of(properties)
        if self._pick_free_nickname and frame.code == ErrorCode.NICKNAME_IN_USE and nickname:
            candidate = next((variant for variant in self._variants if variant != nickname), None)
            if candidate is not None:
                self._taken = self._taken or nickname
                kept = {key: value for key, value in properties.items() if key.casefold() != "nickname"}
                self._hello = msgspec.structs.replace(self._hello, properties={**kept, "nickname": candidate})
                return self._hello
        raise AccessDenied(frame.code, frame.message)

    def granted(self, welcome: Welcome) -> ConnectionStateChanged:
        """Take the hub's welcome; the presence snapshot and replay follow it."""
        if not self._joined:  # numbering starts from the hub's newest message: what came before is history, not missed
            self.last_seq = welcome.last_seq
            self.last_direct_seq = welcome.last_direct_seq
        # The hub lost its history (a restart with --store memory): it numbers afresh and replays all it has.
        history_reset = self.epoch is not None and welcome.epoch != self.epoch
        if history_reset:
            self.last_seq = 0
            self.last_direct_seq = 0
        self._joined = True
        self.epoch = welcome.epoch
        self.phone_number = welcome.phone_number
        self.line = welcome.line
        self.properties = welcome.properties
        self._resume_token = welcome.resume_token
        self.limits = welcome.limits
        self._snapshot = {}
        return ConnectionStateChanged(
            ConnectionState.ACCESS_GRANTED, history_reset=history_reset, taken_nickname=self._taken
        )

    def end(self) -> None:
        """The connection ended for good: nothing is pending, nobody is listed."""
        self._pending.clear()
        self._snapshot = None
        self.roster.clear()

    # ---- requests -------------------------------------------------------------------

    def send(self, text: str, to: str | None = None, *, action: bool = False) -> Outgoing:
        return self._request(lambda request_id: Send(text, to=to, action=action, id=request_id))

    def update(self, changes: dict[str, Any]) -> Outgoing:
        return self._request(lambda request_id: Update(changes, id=request_id))

    def upload(self, image: bytes) -> Outgoing:
        return self._request(lambda request_id: Upload(base64.b64encode(image).decode("ascii"), id=request_id))

    def typing(self, to: str | None, now: float, *, stopped: bool = False) -> bytes | None:
        """A `typing` frame to send now for keys pressed in a conversation (or `stopped`), or None when none is due."""
        frame = self._typing.frame(to, now, stopped=stopped)
        return None if frame is None else encode(frame)

    def _request(self, make: Callable[[str], Request]) -> Outgoing:
        request_id = self._new_id()
        request = make(request_id)
        self._pending[request_id] = _Pending(request, encode(request))
        return Outgoing(request_id, self._pending[request_id].data)

    def resends(self) -> list[bytes]:
        """Every request the hub has not answered, to send again after a reconnect (the hub drops what it has)."""
        return [pending.data for pending in self._pending.values()]

    def forget(self, request_id: str) -> None:
        """The caller stopped waiting for this request: it is not resent any more."""
        self._pending.pop(request_id, None)

    def message_sent(self, answered: Answered) -> ChatMessage:
        """The message as the hub numbered it, from the ack of a send."""
        request, ack = answered.request, answered.answer
        assert isinstance(request, Send) and isinstance(ack, Ack) and ack.seq is not None and ack.ts is not None
        return ChatMessage(
            seq=ack.seq, ts=ack.ts, sender=self.phone_number or "", text=request.text,
            nickname=self.nickname, to=request.to, action=request.action,
            id=ack.id, direct_seq=ack.direct_seq,
        )

    def properties_updated(self, answered: Answered) -> ClientInfo:
        """This client as it is now, from the ack of an update."""
        request, ack = answered.request, answered.answer
        assert isinstance(request, Update) and isinstance(ack, Ack)
        # The hub's merge is the truth; an older hub's ack carries none, so merge the same way then.
        if ack.properties is not None:
            self.properties = ack.properties
        else:
            self.properties = merge_properties(self.properties, request.properties)
        if any(key.casefold() == "nickname" for key in request.properties):
            self._wanted_nickname = self.nickname
        assert self.me is not None
        return self.me

    # ---- incoming -------------------------------------------------------------------

    def receive(self, frame: HubFrame, now: float) -> list[Event | Answered | ResendDue]:
        """What one frame after the welcome means: events to tell, answers to requests.

        `now` is the caller's clock, in seconds: a rate-limited request is due again after it.
        """
        if isinstance(frame, Presence):
            changed: list[Event | Answered | ResendDue] = []
            for info in frame.clients:
                if info.phone_number == self.phone_number:
                    continue
                if self._snapshot is not None:
                    self._snapshot[info.phone_number] = info
                elif self.roster.apply(info) != info:
                    changed.append(info)
            return changed
        out: list[Event | Answered | ResendDue] = []
        if self._snapshot is not None:  # the hub sends the whole snapshot before anything else
            out += self._reconcile(self._snapshot)
            self._snapshot = None
        if isinstance(frame, ChatMessage):
            if self._is_new(frame):
                out.append(frame)
        elif isinstance(frame, (Ack, Uploaded, ErrorFrame)) and frame.id is not None and frame.id in self._pending:
            out.append(self._answer(frame.id, frame, now))
        elif isinstance(frame, (Ack, Uploaded, ErrorFrame)) and frame.id in self._answered:
            pass  # a request resent after a reconnect was answered twice: the first answer stands
        elif isinstance(frame, (ErrorFrame, Synced, Gap)):
            out.append(frame)
        elif isinstance(frame, TypingNotice) and frame.sender != self.phone_number:
            out.append(frame)
        return out

    def _is_new(self, message: ChatMessage) -> bool:
        """Not shown yet: a replay may overlap what arrived live. Direct messages count apart."""
        if message.direct_seq is not None:
            if not message.history and message.direct_seq <= self.last_direct_seq:
                return False
            self.last_direct_seq = max(self.last_direct_seq, message.direct_seq)
        else:
            if not message.history and message.seq <= self.last_seq:
                return False
            self.last_seq = max(self.last_seq, message.seq)
        return True

    def _answer(self, request_id: str, answer: Ack | Uploaded | ErrorFrame, now: float) -> Answered | ResendDue:
        pending = self._pending[request_id]
        if isinstance(answer, ErrorFrame) and answer.code == ErrorCode.RATE_LIMITED:
            if pending.pauses < len(RATE_LIMIT_PAUSES):
                # The hub dropped the frame unread: the same frame again once its budget refills.
                pause = max(RATE_LIMIT_PAUSES[pending.pauses], answer.retry_after or 0.0)
                pending.pauses += 1
                return ResendDue(request_id, now + pause)
        del self._pending[request_id]
        self._answered.append(request_id)
        return Answered(request_id, pending.request, answer)

    def _reconcile(self, snapshot: dict[str, ClientInfo]) -> list[ClientInfo]:
        """Turn the roster into the hub's snapshot, announcing only real changes.

        Departures first, then clients that came back under a new number (a hub restart that lost
        the numbers: same properties, one on each side) as `RenumberedClient`, then property
        changes and arrivals. Whoever is listed again unchanged is not mentioned.
        """
        departed = [info for info in self.roster if info.phone_number not in snapshot]
        arrived = [info for info in snapshot.values() if info.phone_number not in self.roster]
        renumbered: list[RenumberedClient] = []
        for info in list(arrived):
            twins = [gone for gone in departed if same_properties(gone.properties, info.properties)]
            if info.properties and len(twins) == 1 and self._alone_alike(info, arrived):
                departed.remove(twins[0])
                arrived.remove(info)
                previous = twins[0].phone_number
                renumbered.append(RenumberedClient(info.phone_number, info.status, info.properties, previous))
        changes: list[ClientInfo] = [ClientInfo(g.phone_number, ClientStatus.OFFLINE, g.properties) for g in departed]
        changes += renumbered
        changes += [info for number, info in snapshot.items() if self.roster.get(number) not in (None, info)]
        changes += arrived
        for change in changes:
            if isinstance(change, RenumberedClient):
                self.roster.apply(ClientInfo(change.previous_phone_number, ClientStatus.OFFLINE, change.properties))
            self.roster.apply(ClientInfo(change.phone_number, change.status, change.properties))
        return changes


    @staticmethod
    def _alone_alike(info: ClientInfo, arrived: list[ClientInfo]) -> bool:
        """No other newcomer has the same properties (it could be the twin as well)."""
        return sum(same_properties(other.properties, info.properties) for other in arrived) == 1

def _variants(nickname: str, max_chars: int) -> Iterator[str]:
    """John2, John3, … John99, cut so that each fits the hub's nickname limit."""
    for number in range(2, 100):
        suffix = str(number)
        yield nickname[: max_chars - len(suffix)] + suffix
