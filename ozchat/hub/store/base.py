"""What every history store offers the hub, and what they share."""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple, Protocol

from ...exceptions import OzchatError
from ...protocol import ChatMessage

DEFAULT_KEEP_MESSAGES = 10_000
DEFAULT_KEEP_DAYS = 30.0
DEFAULT_MAX_STORE_BYTES = 200 * 1024 * 1024
SHRINK_TO = 0.9  # a store over its bound is pruned to this share of it, so pruning is not constant


class StoreError(OzchatError):
    """The history store could not read or write: a damaged file, a full disk, a lost volume."""


class HistoryStore(Protocol):
    """Every method may raise StoreError."""

    def last_seq(self, line: str) -> int:
        """The newest sequence number ever given to a line message on the line (0 for none)."""

    def last_direct_seq(self, line: str, identity: str) -> int:
        """The newest number ever given to a direct message of this client identity on the line (0 for none)."""

    def has_held_messages(self, line: str) -> bool:
        """Whether a message, line or direct, was ever stored on the line."""

    def epoch(self, line: str) -> str:
        """A random id of the line's numbering, made on first use: it changes when the numbering restarts."""

    def append(self, line: str, message: ChatMessage, author: str | None = None, direct: Direct | None = None) -> None:
        """Keep a message; `author` is the sender's hashed client identity (for telling resends apart).

        A direct message comes with `direct`, its parties' identities and numbers.
        """

    def find(self, line: str, client_id: str, author: str) -> list[ChatMessage]:
        """Every retained message this author sent with this client id, oldest first, as its sender saw it."""

    def visible(
        self, line: str, phone_number: str, identity: str = "", *,
        after_seq: int = 0, after_direct_seq: int = 0, limit: int,
    ) -> list[ChatMessage]:
        """The newest `limit` messages the client may see, in the order they were sent.

        Line messages numbered after `after_seq`; direct messages this client (the same phone number
        and identity) sent or received numbered after `after_direct_seq`, carrying its own number.
        """

    def keep_member(
        self, line: str, phone_number: str, token_hash: str, properties: dict[str, Any], identity: str = ""
    ) -> None:
        """Remember who is on a line (its resume token hashed, its identity), so a restarted hub can take them back."""

    def forget_member(self, line: str, phone_number: str) -> None: ...

    def members(self) -> list[Member]:
        """Everyone remembered as present: the clients a restarted hub keeps numbers for."""

    def close(self) -> None: ...


class Member(NamedTuple):
    """A client present on a line, as a restarted hub finds it."""

    line: str
    phone_number: str
    token_hash: str
    properties: dict[str, Any]
    identity: str = ""  # empty when an older hub kept the member: it gets a new number


class Direct(NamedTuple):
    """A direct message's two parties (hashed client identities) and the number each gives it."""

    sender_identity: str
    recipient_identity: str
    sender_seq: int
    recipient_seq: int


def new_epoch() -> str:
    """A fresh id for a line's numbering."""
    return secrets.token_hex(8)
