"""Roster: who is on a line, built only from client-state events. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .protocol import ClientInfo, ClientStatus


def find_people(people: Iterable[ClientInfo], name_or_number: str) -> list[ClientInfo]:
    """Who a typed name means: the one with this phone number, or else everyone with this nickname (ignoring case)."""
    people = list(people)
    by_number = [info for info in people if info.phone_number == name_or_number]
    if by_number:
        return by_number
    folded = name_or_number.casefold()
    return [info for info in people if info.display_name.casefold() == folded]


def roster_order(info: ClientInfo) -> tuple[str, str]:
    """How rosters sort: by nickname ignoring case, then phone number."""
    return (info.display_name.casefold(), info.phone_number)


class Roster:
    """The clients present on a line, keyed by phone number, iterated sorted by nickname."""

    def __init__(self) -> None:
        self._clients: dict[str, ClientInfo] = {}

    def apply(self, info: ClientInfo) -> ClientInfo | None:
        """Take one client-state event; return the state it replaced, if any."""
        previous = self._clients.get(info.phone_number)
        if info.status is ClientStatus.ONLINE:
            self._clients[info.phone_number] = info
        else:
            self._clients.pop(info.phone_number, None)
        return previous

    def clear(self) -> None:
        self._clients.clear()

    def get(self, phone_number: str) -> ClientInfo | None:
        return self._clients.get(phone_number)

    def find(self, name_or_number: str) -> list[ClientInfo]:
        """Clients whose phone number, or else nickname (ignoring case), is the given text (`find_people`)."""
        return find_people(self, name_or_number)

    def __contains__(self, phone_number: object) -> bool:
        return phone_number in self._clients

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[ClientInfo]:
        return iter(sorted(self._clients.values(), key=roster_order))
