"""Slash commands typed into the composer: parsing and completion only. No I/O.

`parse` turns one submitted line into a command object the app carries out; anything that
is not a command is a `Say`. A line starting with `//` says the text with one slash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..exceptions import OzchatError, ProtocolError
from ..protocol import validate_line


class CommandError(OzchatError):
    """A command was mistyped; the message is one line, ready for the chat pane."""


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Nick:
    name: str


@dataclass(frozen=True)
class Avatar:
    value: str  # a URL, a bundled avatar's name or a local file


@dataclass(frozen=True)
class Away:
    reason: str | None


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Msg:
    target: str
    text: str


@dataclass(frozen=True)
class Me:
    action: str


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class Whois:
    target: str


@dataclass(frozen=True)
class Set:
    key: str
    value: str | None  # None removes the property


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Search:
    text: str | None  # None ends the search


@dataclass(frozen=True)
class Ignore:
    target: str | None  # None lists who is ignored


@dataclass(frozen=True)
class Unignore:
    target: str


@dataclass(frozen=True)
class Log:
    pass


@dataclass(frozen=True)
class JoinLine:
    line: str


@dataclass(frozen=True)
class Part:
    pass


@dataclass(frozen=True)
class Help:
    topic: str | None


@dataclass(frozen=True)
class Quit:
    pass


Command = (
    Say | Nick | Avatar | Away | Back | Msg | Me | Who | Whois | Set | Clear | Search | Ignore | Unignore | Log
    | JoinLine | Part | Help | Quit
)


@dataclass(frozen=True)
class CommandHelp:
    usage: str
    summary: str


COMMANDS: dict[str, CommandHelp] = {
    "nick": CommandHelp("/nick NAME", "change the nickname everyone sees"),
    "avatar": CommandHelp(
        "/avatar URL|NAME|FILE", "share an avatar: an image URL, a bundled name (cat), or ./file.png to upload"
    ),
    "away": CommandHelp("/away [TEXT]", "tell everyone you are away, with an optional reason"),
    "back": CommandHelp("/back", "you are back: the away mark goes"),
    "msg": CommandHelp(
        "/msg NICK|NUMBER TEXT", 'send a direct message (opens its own tab); "quote a name" with spaces'
    ),
    "me": CommandHelp("/me ACTION", "say what you do: * John waves"),
    "who": CommandHelp("/who", "list everyone on the line with their numbers"),
    "whois": CommandHelp("/whois NICK|NUMBER", 'show everything someone shares; "quote a name" with spaces'),
    "set": CommandHelp("/set KEY [VALUE]", "share any property; without a value it is removed"),
    "clear": CommandHelp("/clear", "empty this tab's messages"),
    "search": CommandHelp(
        "/search [TEXT]",
        "highlight TEXT in this tab (any case), newest first; n or Enter older, N or Shift+Enter newer; "
        "Esc or /search alone ends it (Ctrl+F too)",
    ),
    "ignore": CommandHelp(
        "/ignore [NICK|NUMBER]", "hide someone's messages, actions, direct messages and typing on this line; "
        "alone, list who is ignored. It covers the person: online, under any nickname they take (not whoever "
        "takes the one they left); not online, whoever comes under their last nickname (kept for the next run)",
    ),
    "unignore": CommandHelp("/unignore NICK|NUMBER", "show someone's messages again"),
    "log": CommandHelp("/log", "show the file this tab is logged to (one a day, on by default)"),
    "join": CommandHelp(
        "/join LINE", "join another line too, in its own tab with its own connection (Alt+1…9, Alt+←/→ switch tabs)"
    ),
    "part": CommandHelp(
        "/part", "leave the line of this tab: its connection and its tabs close (not the last line: /quit does)"
    ),
    "help": CommandHelp("/help [COMMAND]", "list the commands, or explain one"),
    "quit": CommandHelp("/quit", "leave every line and close ozchat"),
}


def _usage(name: str) -> CommandError:
    return CommandError(f"usage: {COMMANDS[name].usage}")


def _split_target(rest: str) -> tuple[str, str]:
    """The first word, or a "double quoted" name with spaces, and the text after it."""
    rest = rest.strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end == -1:
            raise CommandError('a quoted name needs its closing "')
        return rest[1:end], rest[end + 1 :].strip()
    target, _, text = rest.partition(" ")
    return target, text.strip()


def _no_arguments(name: str, rest: str, command: Command) -> Command:
    if rest.strip():
        raise CommandError(f"/{name} takes no arguments")
    return command


def parse(line: str) -> Command:
    """Parse one submitted line; raise CommandError with a one-line explanation."""
    if not line.strip():
        raise CommandError("nothing to send")
    line = line.rstrip()  # a pasted file's last line break, and blanks after the text, are no part of it
    if not line.startswith("/"):
        return Say(line)
    if line.startswith("//"):
        return Say(line[1:])
    word, _, rest = line[1:].partition(" ")
    name = word.casefold()
    if not name:
        raise CommandError("a command follows the slash: type /help for the list")
    argument = rest.strip()
    if name in ("nick", "me") and not argument:
        raise _usage(name)
    if name == "nick":
        return Nick(argument)
    if name == "avatar":
        if not argument or len(argument.split()) != 1:
            raise _usage(name)
        return Avatar(argument)
    if name == "away":
        return Away(argument or None)
    if name == "back":
        return _no_arguments(name, rest, Back())
    if name == "msg":
        target, text = _split_target(rest)
        if not target or not text:
            raise _usage(name)
        return Msg(target, text)
    if name == "me":
        return Me(argument)
    if name == "who":
        return _no_arguments(name, rest, Who())
    if name == "whois":
        target, extra = _split_target(rest)
        if not target or extra:
            raise _usage(name)
        return Whois(target)
    if name == "set":
        key, _, value = argument.partition(" ")
        if not key:
            raise _usage(name)
        return Set(key, value.strip() or None)
    if name == "clear":
        return _no_arguments(name, rest, Clear())
    if name == "search":
        return Search(argument or None)
    if name in ("ignore", "unignore"):
        target, extra = _split_target(rest)
        if extra or (name == "unignore" and not target):
            raise _usage(name)
        return Ignore(target or None) if name == "ignore" else Unignore(target)
    if name == "log":
        return _no_arguments(name, rest, Log())
    if name == "join":
        if not argument or len(argument.split()) != 1:
            raise _usage(name)
        try:
            return JoinLine(validate_line(argument))
        except ProtocolError as error:  # said here, rather than by a connection the hub refuses
            raise CommandError(f"cannot join {argument}: {error.message}") from None
    if name == "part":
        return _no_arguments(name, rest, Part())
    if name == "help":
        topic = argument.lstrip("/").casefold() or None
        if topic is not None and topic not in COMMANDS:
            raise CommandError(f"no command /{topic}: type /help for the list")
        return Help(topic)
    if name == "quit":
        return Quit()
    raise CommandError(f"unknown command /{word}: type /help for the list")


@dataclass(frozen=True)
class Completion:
    """Replace `text[start:end]` with one of `candidates` (Tab cycles through them)."""

    start: int
    end: int
    candidates: tuple[str, ...]


TARGET_COMMANDS = ("msg", "whois", "ignore", "unignore")  # commands whose first argument names someone


def quote_name(name: str) -> str:
    """A name as a command argument: "double quoted" if it has white space or starts with a quote."""
    return f'"{name}"' if name.startswith('"') or any(character.isspace() for character in name) else name


def _complete_target(text: str, cursor: int, nicknames: Iterable[str]) -> Completion | None:
    """The name after /msg or /whois, quoted where it has spaces; None when the cursor is elsewhere."""
    word, space, _ = text.partition(" ")
    if not space or word[1:].casefold() not in TARGET_COMMANDS or not text.startswith("/"):
        return None
    start = len(word) + 1
    typed = text[start:cursor]
    if typed.startswith('"'):
        if '"' in typed[1:]:
            return None  # the quoted name is closed: the message follows
        typed = typed[1:]
    elif " " in typed:
        return None
    folded = typed.casefold()
    matches = sorted({name for name in nicknames if name.casefold().startswith(folded)}, key=str.casefold)
    return Completion(start, cursor, tuple(quote_name(name) + " " for name in matches)) if matches else None


def complete(text: str, cursor: int, nicknames: Iterable[str]) -> Completion | None:
    """Complete the word before the cursor: a command name after a leading slash, else a nickname."""
    nicknames = list(nicknames)
    if (target := _complete_target(text, cursor, nicknames)) is not None:
        return target
    start = text.rfind(" ", 0, cursor) + 1
    word = text[start:cursor]
    if start == 0 and word.startswith("/"):
        prefix = word[1:].casefold()
        names = tuple(f"/{name} " for name in COMMANDS if name.startswith(prefix))
        return Completion(start, cursor, names) if names else None
    if not word:
        return None
    folded = word.casefold()
    # A nickname opening a plain message is addressed to someone: "Mary: ".
    suffix = ": " if start == 0 else " "
    matches = sorted({name for name in nicknames if name.casefold().startswith(folded)}, key=str.casefold)
    return Completion(start, cursor, tuple(name + suffix for name in matches)) if matches else None


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a line break or a space where there is one.

    Only the line break or space at a cut is dropped; a word longer than `limit` is cut where it must be.
    """
    pieces: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = max(cut, window.rfind(" "))
        if cut <= 0:
            pieces.append(text[:limit])
            text = text[limit:]
        else:
            pieces.append(text[:cut])
            text = text[cut + 1 :]
    pieces.append(text)
    return [piece for piece in pieces if piece.strip()]
