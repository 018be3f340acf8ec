"""Typing and pasting: several lines make one message, nothing is lost or sent twice, long text asks first."""

from __future__ import annotations

from textual import events

from ozchat import ChatMessage
from ozchat.tui.commands import split_text
from ozchat.tui.widgets import Composer
from ozchat.tui.widgets.confirm import Confirm

from .conftest import joined, listed, said, until, visible


def texts(recorder) -> list[str]:
    return [event.text for event in recorder.of_type(ChatMessage)]


async def test_a_bracketed_paste_of_several_lines_is_one_message_shown_with_its_line_breaks(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        composer = app.query_one(Composer)
        app.post_message(events.Paste("first line\r\nsecond line\nthird line\nfourth\nfifth"))
        await until(pilot, lambda: composer.value.count("\n") == 4)
        await pilot.press("enter")
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert heard.text == "first line\nsecond line\nthird line\nfourth\nfifth"
        chat = app.line_conversation.chat
        await until(pilot, lambda: "second line" in visible(chat))
        rows = visible(chat).splitlines()
        start = next(n for n, row in enumerate(rows) if "<John> first line" in row)
        assert [row.strip() for row in rows[start + 1 : start + 5]] == ["second line", "third line", "fourth", "fifth"]
        await mary.send_message("sentinel")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        assert texts(mary_events) == [heard.text, "sentinel"]
        assert composer.value == ""


async def test_an_unbracketed_paste_typed_by_the_terminal_is_one_message(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        # A terminal without bracketed paste types the text: keys in one burst, Enter for each line break.
        pasted = ["one two", "three", "four five"]
        for line in pasted:
            for character in line:
                app.post_message(events.Key("space" if character == " " else character, character))
            app.post_message(events.Key("enter", "\r"))
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert heard.text == "one two\nthree\nfour five"
        await mary.send_message("sentinel")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        assert texts(mary_events) == [heard.text, "sentinel"]


async def test_shift_enter_and_ctrl_j_start_a_new_line_and_enter_sends(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        _, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press(*"roses", "shift+enter", *"violets", "ctrl+j", *"sugar")
        assert app.query_one(Composer).value == "roses\nviolets\nsugar"
        await pilot.press("enter")
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert heard.text == "roses\nviolets\nsugar"


async def test_a_pasted_file_is_sent_without_its_final_line_break_and_counted_without_it(chat_app, connect):
    app = chat_app(nickname="John")
    lines = [f"    line {n:02} of the file" if n % 10 else "" for n in range(1, 46)]  # indented, blank lines inside
    pasted = "\n".join(lines) + "\n"
    async with joined(app) as pilot:
        _, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        composer = app.query_one(Composer)
        app.post_message(events.Paste(pasted + "  \n"))
        await until(pilot, lambda: composer.value == pasted + "  \n")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        sent = pasted.rstrip()
        assert app.screen.question == f"Send these 45 lines ({len(sent):,} characters) as one message?"
        await pilot.press("y")
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert heard.text == sent and heard.text.startswith("    line 01") and "\n\n" in heard.text


async def test_a_large_paste_asks_first_and_keeps_every_line(chat_app, connect):
    app = chat_app(nickname="John")
    pasted = "\n".join(f"line {n:02} of the log" for n in range(1, 46))
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        composer = app.query_one(Composer)
        app.post_message(events.Paste(pasted))
        await until(pilot, lambda: composer.value == pasted)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        assert app.screen.question == f"Send these 45 lines ({len(pasted):,} characters) as one message?"

        await pilot.press("n")  # declined: back in the input, nothing sent
        await until(pilot, lambda: not isinstance(app.screen, Confirm))
        assert composer.value == pasted
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert heard.text == pasted
        await mary.send_message("sentinel")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        assert texts(mary_events) == [pasted, "sentinel"]
        assert composer.value == ""


async def test_a_message_over_the_hubs_limit_is_split_at_spaces_once_confirmed(chat_app, connect):
    app = chat_app(nickname="John")
    words = " ".join(f"word{n:04}" for n in range(556))  # 5,003 characters
    async with joined(app) as pilot:
        _, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        limit = app.client.limits.max_text_chars
        assert len(words) > limit
        app.post_message(events.Paste(words))  # as the terminal sends it: to the app, which gives it to the focus
        await until(pilot, lambda: app.query_one(Composer).value == words)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        asked = f"This message has {len(words):,} characters and the hub takes {limit:,} at a time"
        assert app.screen.question.startswith(asked)
        assert "Send it as 2 messages" in app.screen.question
        await pilot.pause()
        assert app.screen.query_one("#question").region.height >= 2  # the whole question shows, wrapped
        await pilot.press("enter")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text.endswith("word0555"))
        first, second = texts(mary_events)
        assert len(first) <= limit and first.startswith("word0000 ") and first.endswith(first.split()[-1])
        assert first + " " + second == words
        assert not said(app, "text_too_long")


def test_split_text_cuts_at_line_breaks_then_spaces_and_loses_only_the_cut():
    assert split_text("short", 10) == ["short"]
    assert split_text("aaaa bbbb cccc", 9) == ["aaaa bbbb", "cccc"]
    assert split_text("aaaa\nbbbb cccc dd", 12) == ["aaaa\nbbbb", "cccc dd"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    text = " ".join(f"w{n}" for n in range(1000))
    pieces = split_text(text, 100)
    assert all(len(piece) <= 100 for piece in pieces) and " ".join(pieces) == text
