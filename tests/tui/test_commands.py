"""Slash-command parsing and completion: pure functions, no app, no event loop."""

from __future__ import annotations

import pytest

from ozchat import ClientInfo, ClientStatus
from ozchat.exceptions import OzchatError
from ozchat.roster import Roster, find_people
from ozchat.tui import commands
from ozchat.tui.commands import (
    Avatar,
    Away,
    Back,
    Clear,
    CommandError,
    Help,
    Me,
    Msg,
    Nick,
    Quit,
    Say,
    Set,
    Who,
    Whois,
    complete,
    parse,
)


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello there", Say("hello there")),
        ("  indented", Say("  indented")),
        ("  code\n\n    more  \n \n\t\n", Say("  code\n\n    more")),
        ("/me waves \n", Me("waves")),
        ("//not a command", Say("/not a command")),
        ("/nick Johnny", Nick("Johnny")),
        ("/NICK  John Smith ", Nick("John Smith")),
        ("/avatar http://example.com/a.png", Avatar("http://example.com/a.png")),
        ("/away", Away(None)),
        ("/away out for lunch", Away("out for lunch")),
        ("/back", Back()),
        ("/msg Mary hi there", Msg("Mary", "hi there")),
        ("/msg Qdb3W  hi", Msg("Qdb3W", "hi")),
        ('/msg "Mary Ann" hi', Msg("Mary Ann", "hi")),
        ("/me waves", Me("waves")),
        ("/who", Who()),
        ("/whois Mary", Whois("Mary")),
        ('/whois "Mary Ann"', Whois("Mary Ann")),
        ("/set mood sunny today", Set("mood", "sunny today")),
        ("/set mood", Set("mood", None)),
        ("/clear", Clear()),
        ("/search Apple Pie", commands.Search("Apple Pie")),
        ("/search", commands.Search(None)),
        ("/log", commands.Log()),
        ("/help", Help(None)),
        ("/help /msg", Help("msg")),
        ("/quit", Quit()),
    ],
)
def test_parse(line, command):
    assert parse(line) == command


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("", "nothing to send"),
        ("   ", "nothing to send"),
        ("/", "a command follows the slash"),
        ("/frobnicate now", "unknown command /frobnicate"),
        ("/nick", "usage: /nick NAME"),
        ("/nick   ", "usage: /nick NAME"),
        ("/avatar", "usage: /avatar URL|NAME|FILE"),
        ("/avatar two words", "usage: /avatar URL|NAME|FILE"),
        ("/back now", "/back takes no arguments"),
        ("/msg", "usage: /msg NICK|NUMBER TEXT"),
        ("/msg Mary", "usage: /msg NICK|NUMBER TEXT"),
        ('/msg "Mary hi', 'closing "'),
        ("/me", "usage: /me ACTION"),
        ("/who cares", "/who takes no arguments"),
        ("/log today", "/log takes no arguments"),
        ("/whois", "usage: /whois"),
        ("/whois Mary Ann", "usage: /whois"),
        ("/set", "usage: /set KEY [VALUE]"),
        ("/help nosuch", "no command /nosuch"),
    ],
)
def test_parse_errors_are_one_line(line, error):
    with pytest.raises(CommandError) as raised:
        parse(line)
    assert isinstance(raised.value, OzchatError)  # one tree: a caller may catch every ozchat failure
    assert error in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_command_has_help():
    for name, help in commands.COMMANDS.items():
        assert help.usage.startswith(f"/{name}")
        assert help.summary


NAMES = ["Mary", "mark", "John", "[bold]x[/]"]


def apply(text: str, completion: commands.Completion, index: int = 0) -> str:
    return text[: completion.start] + completion.candidates[index] + text[completion.end :]


def test_complete_command_names():
    completion = complete("/wh", 3, NAMES)
    assert completion is not None and completion.candidates == ("/who ", "/whois ")
    assert apply("/wh", completion) == "/who "


def test_complete_nickname_first_word_is_addressed():
    completion = complete("ma", 2, NAMES)
    assert completion is not None and completion.candidates == ("mark: ", "Mary: ")


def test_complete_nickname_mid_line_and_before_the_cursor():
    text = "hi jo and more"
    completion = complete(text, 5, NAMES)
    assert completion is not None
    assert apply(text, completion) == "hi John  and more"


def test_complete_nothing():
    assert complete("", 0, NAMES) is None
    assert complete("hello ", 6, NAMES) is None
    assert complete("zz", 2, NAMES) is None
    assert complete("/zz", 3, NAMES) is None
    assert complete("/msg [b", 7, NAMES) == commands.Completion(5, 7, ("[bold]x[/] ",))


def test_complete_quotes_a_name_with_spaces_after_msg_and_whois():
    names = ["Dave the Great", "Daisy", "Bob"]
    assert complete("/msg Dav", 8, names) == commands.Completion(5, 8, ('"Dave the Great" ',))
    assert complete('/whois "dav', 11, names) == commands.Completion(7, 11, ('"Dave the Great" ',))
    assert complete("/msg Da", 7, names) == commands.Completion(5, 7, ("Daisy ", '"Dave the Great" '))
    assert complete("/msg Bo", 7, names) == commands.Completion(5, 7, ("Bob ",))
    # Once the name is closed, Tab completes words of the message as usual.
    assert complete('/msg "Dave the Great" hi bo', 27, names) == commands.Completion(25, 27, ("Bob ",))
    assert commands.parse('/msg "Dave the Great" hi there') == commands.Msg("Dave the Great", "hi there")
    assert commands.parse('/whois "Dave the Great"') == commands.Whois("Dave the Great")


def test_a_target_is_a_number_first_then_a_nickname_ignoring_case():
    """/msg and /whois name someone as the roster does (find_people): one rule, one place."""
    bea = ClientInfo("B3a00", ClientStatus.ONLINE, {"nickname": "Bea"})
    impostor = ClientInfo("X0000", ClientStatus.ONLINE, {"nickname": "B3a00"})  # a nickname that is Bea's number
    twin = ClientInfo("B3a01", ClientStatus.ONLINE, {"nickname": "bea"})
    me = ClientInfo("M3000", ClientStatus.ONLINE, {"nickname": "Me"})
    roster = Roster()
    for info in (bea, impostor, twin):
        roster.apply(info)
    assert find_people([*roster, me], "B3a00") == [bea] == roster.find("B3a00")
    assert find_people([*roster, me], "BEA") == [bea, twin] == roster.find("BEA")
    assert find_people([*roster, me], "me") == [me] and roster.find("me") == []
    assert find_people([*roster, me], "nobody") == []
