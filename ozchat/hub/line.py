"""Line: presence, message numbering and who receives what. No sockets here."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from ..protocol import (
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ErrorCode,
    ProtocolError,
    merge_properties,
    new_phone_number,
)
from ..names import nickname_keys


class Line:
    """Who is on one line and the line's message sequence."""

    def __init__(
        self, name: str, *, last_seq: int = 0, epoch: str = "", phone_numbers: Callable[[], str] = new_phone_number
    ) -> None:
        self.name = name
        self.last_seq = last_seq
        # Names this numbering: a sequence number means something only together with it.
        self.epoch = epoch or secrets.token_hex(8)
        self._members: dict[str, ClientInfo] = {}
        # Look-alike keys of every member's nickname, and who holds each: one holder per key.
        self._nickname_keys: dict[str, frozenset[str]] = {}
        self._nickname_holders: dict[str, str] = {}
        self._phone_numbers = phone_numbers

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, phone_number: object) -> bool:
        return phone_number in self._members

    def get(self, phone_number: str) -> ClientInfo:
        return self._members[phone_number]

    def members(self) -> list[ClientInfo]:
        return list(self._members.values())

    def check_nickname(self, phone_number: str | None, properties: dict[str, Any]) -> frozenset[str]:
        """The look-alike keys of the nickname in `properties`; raise nickname_in_use when another member holds one."""
        # Property names match ignoring case, as ClientInfo reads them.
        nickname = next((value for name, value in properties.items() if name.casefold() == "nickname"), None)
        keys = nickname_keys(nickname) if isinstance(nickname, str) else frozenset()
        for key in keys:
            holder = self._nickname_holders.get(key, phone_number)
            if holder != phone_number:
                raise ProtocolError(
                    ErrorCode.NICKNAME_IN_USE,
                    f"{nickname!r} is taken on this line: it looks like {self._members[holder].get('nickname')!r}",
                )
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
        phone_number = self._phone_numbers()
        while phone_number in self._members:
            phone_number = self._phone_numbers()
        info = ClientInfo(phone_number, ClientStatus.ONLINE, properties)
        self._members[phone_number] = info
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
        self._members[phone_number] = ClientInfo(phone_number, ClientStatus.ONLINE, properties)
        self._hold_nickname(phone_number, keys)
        return True

    def leave(self, phone_number: str) -> ClientInfo | None:
        """Remove a client; return its OFFLINE state carrying its last properties."""
        info = self._members.pop(phone_number, None)
        if info is None:
            return None
        self._hold_nickname(phone_number, frozenset())
        return ClientInfo(phone_number, ClientStatus.OFFLINE, info.properties)

    def replace(self, phone_number: str, properties: dict[str, Any]) -> ClientInfo:
        """Set a present client's whole properties (merged and checked, but for the nickname, checked here); return the state."""
        keys = self.check_nickname(phone_number, properties)
        info = ClientInfo(phone_number, ClientStatus.ONLINE, properties)
        self._members[phone_number] = info
        self._hold_nickname(phone_number, keys)
        return info

    def update(self, phone_number: str, changes: dict[str, Any]) -> ClientInfo:
        """Merge property changes (null removes a key) and return the new state."""
        merged = merge_properties(self._members[phone_number].properties, changes)
        keys = self.check_nickname(phone_number, merged)
        info = ClientInfo(phone_number, ClientStatus.ONLINE, merged)
        self._members[phone_number] = info
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
    ) -> ChatMessage:
        """Number a message from a member; a direct message needs a present recipient."""
        if to is not None and to not in self._members:
            raise ProtocolError(ErrorCode.UNKNOWN_RECIPIENT, f"no client {to!r} on line {self.name!r}")
        nickname = self._members[sender].get("nickname")
        self.last_seq += 1
        return ChatMessage(
            seq=self.last_seq,
            ts=ts,
            sender=sender,
            text=text,
            nickname=nickname if isinstance(nickname, str) else None,
            to=to,
            action=action,
            id=client_id,
        )

    def recipients(self, message: ChatMessage) -> list[str]:
        """Phone numbers a message goes to: everyone, or just the two parties of a DM."""
        if message.to is None:
            return list(self._members)
        return [number for number in {message.sender, message.to} if number in self._members]


class LineRegistry:
    """Lines by name, made on first use and forgotten when the last client leaves.

    `last_seq` tells a new Line where its numbering stands and `epoch` which numbering that is,
    so numbers survive the line emptying and the hub restarting.
    """

    def __init__(
        self, last_seq: Callable[[str], int] = lambda name: 0, epoch: Callable[[str], str] = lambda name: ""
    ) -> None:
        self._lines: dict[str, Line] = {}
        self._last_seq = last_seq
        self._epoch = epoch

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, name: object) -> bool:
        return name in self._lines

    def __iter__(self):
        return iter(self._lines.values())

    def get(self, name: str) -> Line:
        line = self._lines.get(name)
        if line is None:
            line = self._lines[name] = Line(name, last_seq=self._last_seq(name), epoch=self._epoch(name))
        return line

    def discard_if_empty(self, line: Line) -> None:
        if not len(line) and self._lines.get(line.name) is line:
            del self._lines[line.name]
