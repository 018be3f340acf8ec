"""Line: presence, message numbering and who receives what. No sockets here."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import msgspec

from ..names import nickname_keys
from ..protocol import (
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ErrorCode,
    ProtocolError,
    encode,
    merge_properties,
    new_phone_number,
    nickname_of,
)
from .outputs import Entry
from .store import Direct


class Posted(NamedTuple):
    """A message numbered by `Line.post`, not yet counted: `Line.commit` counts it once it is stored."""

    message: ChatMessage
    direct: Direct | None  # a direct message's parties and numbers


def missing_runs(after: int, last: int, present: list[int]) -> list[tuple[int, int]]:
    """The runs of numbers in after < n <= last not in `present` (ascending), as (after, before) pairs."""
    runs: list[tuple[int, int]] = []
    expected = after + 1
    for number in present:
        if number > expected:
            runs.append((expected - 1, number))
        expected = max(expected, number + 1)
    if expected <= last:
        runs.append((expected - 1, last + 1))
    return runs


class Line:
    """Who is on one line and the line's message sequence."""

    def __init__(
        self,
        name: str,
        *,
        last_seq: int = 0,
        epoch: str = "",
        last_direct_seq: Callable[[str], int] = lambda identity: 0,
        phone_numbers: Callable[[], str] = new_phone_number,
    ) -> None:
        self.name = name
        self.last_seq = last_seq  # line messages only: direct messages take no line number
        # Names this numbering: a sequence number means something only together with it.
        self.epoch = epoch or secrets.token_hex(8)
        # Direct messages are numbered per client identity: each party counts only its own.
        self._last_direct_seq = last_direct_seq
        self._direct_seqs: dict[str, int] = {}
        self._identities: dict[str, str] = {}
        self._members: dict[str, ClientInfo] = {}
        # Each member's presence entry, encoded once, in the same order: a newcomer's roster is these, joined.
        self._entries: dict[str, Entry] = {}
        # Look-alike keys of every member's nickname, and who holds each: one holder per key.
        self._nickname_keys: dict[str, frozenset[str]] = {}
        self._nickname_holders: dict[str, str] = {}
        self._phone_numbers = phone_numbers
        # A number reserved for the next join elsewhere (in Redis, by a hub sharing the line), taken instead of a draw.
        self.offered_number: str | None = None
        # Look-alike keys that Redis says other numbers hold, for the next check (key -> holder, its nickname).
        self.held_elsewhere: dict[str, tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, phone_number: object) -> bool:
        return phone_number in self._members

    def get(self, phone_number: str) -> ClientInfo:
        return self._members[phone_number]

    def members(self) -> list[ClientInfo]:
        return list(self._members.values())

    def roster(self, but: str) -> list[bytes]:
        """The presence entry (an `Entry`) of every member but `but`: a newcomer's roster, in the order they joined."""
        roster: list[bytes] = list(self._entries.values())
        own = self._entries.get(but)
        if own is not None:
            if roster[-1] is own:  # a newcomer: the last to join
                roster.pop()
            else:
                del roster[list(self._entries).index(but)]
        return roster

    def entry(self, info: ClientInfo) -> Entry:
        """`info` encoded: the member's own entry while `info` is its present state (encoded once), else anew."""
        if self._members.get(info.phone_number) is info:
            return self._entries[info.phone_number]
        return Entry(encode(info))

    def _put(self, info: ClientInfo) -> None:
        self._members[info.phone_number] = info
        self._entries[info.phone_number] = Entry(encode(info))

    def set_identity(self, phone_number: str, identity: str) -> None:
        """Who a present member is across numbers and restarts (its hashed client secret or resume token)."""
        self._identities[phone_number] = identity

    def identity(self, phone_number: str) -> str:
        return self._identities[phone_number]

    def identities(self) -> dict[str, str]:
        return self._identities

    def count_direct(self, numbers: dict[str, int]) -> None:
        """Where identities' direct numbering stands, as another source (Redis) tells it."""
        for identity, number in numbers.items():
            self._direct_seqs[identity] = max(number, self._direct_seqs.get(identity, 0))

    def last_direct_seq(self, identity: str) -> int:
        """The newest number among the direct messages this identity sent or received on the line."""
        if identity not in self._direct_seqs:
            self._direct_seqs[identity] = self._last_direct_seq(identity)
        return self._direct_seqs[identity]

    def check_nickname(self, phone_number: str | None, properties: dict[str, Any]) -> frozenset[str]:
        """The look-alike keys of the nickname in `properties`; raise nickname_in_use when another member holds one."""
        nickname = nickname_of(properties)
        keys = nickname_keys(nickname) if nickname is not None else frozenset()
        for key in keys:
            holder = self._nickname_holders.get(key)
            if holder is not None and holder != phone_number:
                taken = self._members[holder].get("nickname")
            elif (elsewhere := self.held_elsewhere.get(key)) is not None and elsewhere[0] != phone_number:
                taken = elsewhere[1]
            else:
                continue
            message = f"{nickname!r} is taken on this line: it looks like {taken!r}"
            raise ProtocolError(ErrorCode.NICKNAME_IN_USE, message)
        return keys

    def _hold_nickname(self, phone_number: str, keys: frozenset[str]) -> None:
        for key in self._nickname_keys.pop(phone_number, frozenset()):
            del self._nickname_holders[key]
        if keys:
            self._nickname_keys[phone_number] = keys
            self._nickname_holders.update(dict.fromkeys(keys, phone_number))

    def join(self, properties: dict[str, Any]) -> ClientInfo:
        """Add a client under a fresh phone number, unique on this line; its nickname must be free."""
        keys = self.check_nickname(None, properties)
        phone_number, self.offered_number = self.offered_number or self._phone_numbers(), None
        while phone_number in self._members:
            phone_number = self._phone_numbers()
        info = ClientInfo(phone_number, ClientStatus.ONLINE, properties)
        self._put(info)
        self._hold_nickname(phone_number, keys)
        return info

    def restore(self, phone_number: str, properties: dict[str, Any]) -> bool:
        """Put back a client from before a hub restart under its old number; False when it or the nickname is taken."""
        if phone_number in self._members:
            return False
        try:
            keys = self.check_nickname(None, properties)
        except ProtocolError:
            return False
        self._put(ClientInfo(phone_number, ClientStatus.ONLINE, properties))
        self._hold_nickname(phone_number, keys)
        return True

    def mirror(self, info: ClientInfo) -> bool:
        """Take another hub's member as it is (that hub checked it); False when nothing changes."""
        if info.status is ClientStatus.OFFLINE:
            return self.leave(info.phone_number) is not None
        if self._members.get(info.phone_number) == info:
            return False
        nickname = nickname_of(info.properties)
        self._put(info)
        self._hold_nickname(info.phone_number, nickname_keys(nickname) if nickname is not None else frozenset())
        return True

    def leave(self, phone_number: str) -> ClientInfo | None:
        """Remove a client; return its OFFLINE state carrying its last properties."""
        info = self._members.pop(phone_number, None)
        self._entries.pop(phone_number, None)
        self._identities.pop(phone_number, None)
        if info is None:
            return None
        self._hold_nickname(phone_number, frozenset())
        return ClientInfo(phone_number, ClientStatus.OFFLINE, info.properties)

    def replace(self, phone_number: str, properties: dict[str, Any]) -> ClientInfo:
        """Set a present client's whole properties (merged and checked here, nickname included); return the state."""
        keys = self.check_nickname(phone_number, properties)
        info = ClientInfo(phone_number, ClientStatus.ONLINE, properties)
        self._put(info)
        self._hold_nickname(phone_number, keys)
        return info

    def update(self, phone_number: str, changes: dict[str, Any]) -> ClientInfo:
        """Merge property changes (null removes a key) and return the new state."""
        merged = merge_properties(self._members[phone_number].properties, changes)
        keys = self.check_nickname(phone_number, merged)
        info = ClientInfo(phone_number, ClientStatus.ONLINE, merged)
        self._put(info)
        self._hold_nickname(phone_number, keys)
        return info

    def post(
        self,
        sender: str,
        text: str,
        *,
        ts: int,
        to: str | None = None,
        action: bool = False,
        client_id: str | None = None,
    ) -> Posted:
        """Number a message from a member; a direct message needs a present recipient.

        A line message takes the next line number. A direct message takes none (its `seq` is the
        newest line number, which it follows) but the next number of each party's identity.
        """
        if to is not None and to not in self._members:
            raise ProtocolError(ErrorCode.UNKNOWN_RECIPIENT, f"no client {to!r} on line {self.name!r}")
        nickname = self._members[sender].get("nickname")
        message = ChatMessage(
            seq=self.last_seq + 1 if to is None else self.last_seq,
            ts=ts,
            sender=sender,
            text=text,
            nickname=nickname if isinstance(nickname, str) else None,
            to=to,
            action=action,
            id=client_id,
        )
        if to is None:
            return Posted(message, None)
        sender_identity, recipient_identity = self._identities[sender], self._identities[to]
        sender_seq = self.last_direct_seq(sender_identity) + 1
        # A message to oneself (or to another connection with one's own secret) takes one number.
        same_party = recipient_identity == sender_identity
        recipient_seq = sender_seq if same_party else self.last_direct_seq(recipient_identity) + 1
        return Posted(message, Direct(sender_identity, recipient_identity, sender_seq, recipient_seq))

    def commit(self, posted: Posted) -> None:
        """Count a posted message as given, once it is stored."""
        if posted.direct is None:
            self.last_seq = posted.message.seq
        else:
            self._direct_seqs[posted.direct.sender_identity] = posted.direct.sender_seq
            self._direct_seqs[posted.direct.recipient_identity] = posted.direct.recipient_seq

    def copies(self, posted: Posted) -> list[tuple[str, ChatMessage]]:
        """Who gets a message, and the copy each gets: everyone, or the two parties of a DM with their own numbers."""
        if posted.direct is None:
            return [(number, posted.message) for number in self._members]
        message, direct = posted.message, posted.direct
        sent = msgspec.structs.replace(message, direct_seq=direct.sender_seq)
        if message.to == message.sender:
            return [(message.sender, sent)] if message.sender in self._members else []
        received = msgspec.structs.replace(message, direct_seq=direct.recipient_seq)
        parties = ((message.sender, sent), (message.to, received))
        return [(number, copy) for number, copy in parties if number in self._members]


class LineRegistry:
    """Lines by name, made on first use and forgotten when the last client leaves.

    `last_seq` tells a new Line where its numbering stands, `epoch` which numbering that is and
    `last_direct_seq` where each identity's direct numbering stands, so numbers survive the line
    emptying and the hub restarting.
    """

    def __init__(
        self,
        last_seq: Callable[[str], int] = lambda name: 0,
        epoch: Callable[[str], str] = lambda name: "",
        last_direct_seq: Callable[[str, str], int] = lambda name, identity: 0,
    ) -> None:
        self._lines: dict[str, Line] = {}
        self._last_seq = last_seq
        self._epoch = epoch
        self._last_direct_seq = last_direct_seq

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, name: object) -> bool:
        return name in self._lines

    def __iter__(self) -> Iterator[Line]:
        return iter(self._lines.values())

    def get(self, name: str) -> Line:
        line = self._lines.get(name)
        if line is None:
            line = self._lines[name] = Line(
                name,
                last_seq=self._last_seq(name),
                epoch=self._epoch(name),
                last_direct_seq=functools.partial(self._last_direct_seq, name),
            )
        return line

    def entry(self, name: str, info: ClientInfo) -> Entry:
        """A presence change on line `name` encoded (see `Line.entry`); a line already forgotten encodes it anew."""
        line = self._lines.get(name)
        return line.entry(info) if line is not None else Entry(encode(info))

    def drop(self, name: str) -> None:
        """Forget a line at once, whoever is on it (another hub's members this hub stops mirroring)."""
        self._lines.pop(name, None)

    def discard_if_empty(self, line: Line) -> None:
        if not len(line) and self._lines.get(line.name) is line:
            del self._lines[line.name]
