"""How the chat words things: the Rich texts and strings the app shows, built from plain data.

Pure builders (no widgets, no I/O), so each wording is read and changed in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text

from ..events import ConnectionStateChanged
from ..protocol import ClientInfo, ConnectionState, Gap
from ..text import printable
from . import commands
from .nick_colours import nickname_style
from .widgets.people_list import is_away
from .widgets.profile_card import property_text

NAMES_IN_ANNOUNCEMENT = 3  # more joins than this in one tick are summed up in one line
HISTORY_RESET_NOTICE = "The hub's history was reset; below is everything it still has (older messages are gone from it)"
KEYS_HELP = (
    "Enter sends, Shift+Enter or Ctrl+J starts a new line; "
    "PgUp/PgDn scroll the chat while you type, Ctrl+Home/Ctrl+End go to its oldest/newest line; "
    "F1 help, F2 people (shows the list on a small screen), F3 next tab, F4 close tab, Ctrl+F search, "
    "Alt+1…9 show that tab, Alt+Left/Alt+Right the previous/next tab, Esc back to the input, Ctrl+Q quit"
)


def name_text(name: str) -> Text:
    """Someone's name, terminal-safe and in that name's colour."""
    return Text(printable(name), nickname_style(name))


def describe_state(change: ConnectionStateChanged) -> str:
    """`reconnecting: …` or `closed: ACCESS_DENIED bad_token …`, as the header shows it."""
    detail = " ".join(str(part) for part in (change.code, change.reason) if part not in (None, ""))
    if change.retrying:
        trying = "connecting" if change.state is ConnectionState.CONNECTION_FAILED else "reconnecting"
        return f"{trying}{': ' + detail if detail else ''}"
    return f"closed: {change.state.value}{' ' + detail if detail else ''}"


def joined_text(me: ClientInfo, line: str, again: bool) -> Text:
    """`You joined #line as John (Qdb3W)`, or `You are back on …` after the first time."""
    joined = "are back on" if again else "joined"
    return Text.assemble(f"You {joined} #{printable(line)} as ", name_text(me.display_name), f" ({me.phone_number})")


def nickname_taken_text(wanted: str, me: ClientInfo) -> Text:
    return Text.assemble(name_text(wanted), " was taken; you are ", name_text(me.display_name))


def announcements(infos: Sequence[ClientInfo], state: str) -> list[Text]:
    """`John is ONLINE` for each of a few people, or one line naming three and counting the rest."""
    if len(infos) <= NAMES_IN_ANNOUNCEMENT + 1:  # "and 1 others" would say no more than a fourth line
        return [Text.assemble(name_text(info.display_name), f" is {state}") for info in infos]
    names = Text(", ").join(name_text(info.display_name) for info in infos[:NAMES_IN_ANNOUNCEMENT])
    others = len(infos) - NAMES_IN_ANNOUNCEMENT
    return [Text.assemble(names, f" and {others} others are {state}")]


def renamed_text(before: str, after: str) -> Text:
    return Text.assemble(name_text(before), " is now known as ", name_text(after))


def offline_text(name: str) -> Text:
    return Text.assemble(name_text(name), " is OFFLINE")


def followed_text(info: ClientInfo) -> Text:
    """A direct tab's partner came back under a new number, which the tab now reaches."""
    return Text.assemble(name_text(info.display_name), f" is back as {info.phone_number}; this tab now reaches them")


def away_text(info: ClientInfo) -> Text:
    if not is_away(info):
        return Text.assemble(name_text(info.display_name), " is back")
    reason = info.get("away")
    why = f" ({property_text(reason)})" if isinstance(reason, str) else ""
    return Text.assemble(name_text(info.display_name), f" is away{why}")


def left_text(name: str, line: str, reachable: bool) -> Text:
    """`Mary has left`, and, if a Mary is on the line now (a new connection, a new number), how to reach her."""
    left = Text.assemble(name_text(name), f" has left #{printable(line)}")
    if not reachable:
        return left
    return Text.assemble(left, f"; /msg {printable(commands.quote_name(name))} to reach their new connection")


def gap_text(gap: Gap) -> str:
    missing = gap.before_seq - gap.after_seq - 1
    kind = "direct messages" if gap.direct else "messages"
    return f"{missing} earlier {kind} could not be replayed"


def not_found_text(target: str, line: str | None, matches: Sequence[ClientInfo]) -> str:
    """Why `target` names no one person: nobody has that name, or several do."""
    if not matches:
        return f"no one called {target} is on #{line}"
    numbers = ", ".join(info.phone_number for info in matches)
    return f"{len(matches)} people are called {target}; use a number: {numbers}"


def who_text(everyone: Sequence[ClientInfo], line: str) -> Text:
    """`/who`: everyone on the line (me included), in the order given, with numbers and who is away."""
    lines = [Text(f"{len(everyone)} on #{printable(line)}:")]
    for info in everyone:
        row = Text.assemble("  ", name_text(info.display_name), f"  {info.phone_number}")
        if is_away(info):
            row.append("  away", "italic")
        lines.append(row)
    return Text("\n").join(lines)


def whois_text(info: ClientInfo) -> Text:
    lines = [Text.assemble(name_text(info.display_name), f" is {info.phone_number}")]
    for key, value in sorted(info.properties.items(), key=lambda item: item[0].casefold()):
        lines.append(Text(f"  {printable(key)}: {property_text(value)}"))
    if not info.properties:
        lines.append(Text("  shares no properties"))
    return Text("\n").join(lines)


HIDDEN_KEY = "hidden"  # the one line that counts what /ignore hid


def hidden_text(count: int) -> str:
    return f"{count} message{'s' if count != 1 else ''} hidden from people you ignore (/ignore lists them)"


def ignored_list_text(names: Sequence[str]) -> Text:
    if not names:
        return Text("You ignore no one on this line")
    return Text.assemble("You ignore: ", Text(", ").join(name_text(name) for name in names))


TYPING_HELP = "Others see \"John is typing…\" under the chat as you write; --no-typing (typing = false) turns it off"
LOG_OFF_TEXT = "Logging is off (--no-log, or log = false in settings.toml)"


def log_path_text(path: str) -> str:
    return f"This tab is logged to {path}"


ONLY_LINE_TEXT = "this is the only line you are on: /join another first, or /quit to leave"


def log_failed_text(error: OSError) -> str:
    return f"the chat is no longer logged to disk: {error}"


def help_text(topic: str | None) -> Text:
    chosen: Iterable[str] = [topic] if topic is not None else commands.COMMANDS
    width = max(len(commands.COMMANDS[name].usage) for name in chosen)
    lines = [Text(f"{commands.COMMANDS[name].usage:<{width}}  {commands.COMMANDS[name].summary}") for name in chosen]
    if topic is None:
        recall = "Up/Down recall, Ctrl+R searches earlier inputs"
        lines.insert(0, Text(f"Commands (Tab completes, {recall}, // sends a leading slash):"))
        lines.append(Text(TYPING_HELP))
        lines.append(Text("Keys: " + KEYS_HELP))
    return Text("\n").join(lines)
