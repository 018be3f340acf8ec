"""A batch of presence changes applied to the roster and the tabs, and the lines it says. No widgets of its own."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from ..events import RenumberedClient
from ..protocol import ClientInfo, ClientStatus
from ..roster import Roster
from . import texts
from .conversations import Conversation, Conversations
from .widgets.people_list import is_away


def apply_presence(
    clients: Iterable[ClientInfo], me: ClientInfo | None, roster: Roster, tabs: Conversations, home: Conversation
) -> list[Text]:
    """Apply the changes in arrival order to the line of tab `home`; return what that tab says: renames, away and
    back, joins, leaves."""
    joined: list[ClientInfo] = []
    left: list[ClientInfo] = []
    events: list[Text] = []
    for info in clients:
        if me is not None and info.phone_number == me.phone_number:
            continue
        if isinstance(info, RenumberedClient):  # the same person, back under a new number after a hub restart
            roster.apply(ClientInfo(info.previous_phone_number, ClientStatus.OFFLINE, info.properties))
            roster.apply(ClientInfo(info.phone_number, info.status, info.properties))
            continue
        previous = roster.apply(info)
        if info.status is ClientStatus.OFFLINE:
            left.append(previous or info)
            tabs.partner_left(info, roster.find, home)
        elif previous is None:
            joined.append(info)
            tabs.partner_joined(info, roster, home)
        else:
            if previous.display_name != info.display_name:
                events.append(texts.renamed_text(previous.display_name, info.display_name))
                tabs.partner_renamed(info, home)
            if is_away(previous) != is_away(info):
                events.append(texts.away_text(info))
    return [*events, *texts.announcements(joined, "ONLINE"), *texts.announcements(left, "OFFLINE")]
