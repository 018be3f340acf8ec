"""Search in the shown tab (Ctrl+F or /search): highlights, newest match first, n/N and Enter/Shift+Enter."""

from __future__ import annotations

from ozchat.tui.widgets import ChatLog, SearchBox

from .conftest import joined, listed, said, until
from .test_snapshots import feed, snapshot_app


def current(app) -> str | None:
    """The text of the match being read in the shown tab."""
    entry = app.active_conversation.chat.current_match
    return entry.body.plain if entry is not None else None


async def say_fruit(pilot, app, connect) -> None:
    mary, _ = await listed(pilot, app, connect(nickname="Mary"))
    for text in ["Apple pie", "banana", "APPLE juice", "no fruit"]:
        await mary.send_message(text)
    await until(pilot, lambda: said(app, "<Mary> no fruit"))


async def test_ctrl_f_finds_any_case_newest_first_and_enter_steps_back(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        await say_fruit(pilot, app, connect)
        await pilot.press("ctrl+f", *"aPPle")
        search = app.query_one(SearchBox)
        assert search.has_focus and search.display
        await until(pilot, lambda: current(app) == "APPLE juice")
        assert search.border_title == "match 1 of 2, newest first"
        await pilot.press("enter")
        assert current(app) == "Apple pie" and search.border_title == "match 2 of 2, newest first"
        await pilot.press("enter")  # the oldest stays the oldest
        assert current(app) == "Apple pie"
        await pilot.press("shift+enter")
        assert current(app) == "APPLE juice"
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", *"kiwi")
        assert search.border_title == "no match" and current(app) is None
        await pilot.press("escape")
        assert not search.display and app.query_one("#composer").has_focus
        assert app.active_conversation.chat.matching_entries() == []


async def test_search_command_lets_n_and_shift_n_step_and_search_alone_ends_it(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        await say_fruit(pilot, app, connect)
        await pilot.press(*"/search apple", "enter")
        await until(pilot, lambda: current(app) == "APPLE juice")
        assert app.active_conversation.chat.has_focus  # so n and N step
        await pilot.press("n")
        assert current(app) == "Apple pie"
        await pilot.press("N")
        assert current(app) == "APPLE juice"
        app.query_one("#composer").focus()
        await pilot.press(*"/search", "enter")
        await until(pilot, lambda: not app.query_one(SearchBox).display)
        assert current(app) is None and app.active_conversation.chat.matching_entries() == []


async def test_the_search_follows_the_tab_shown(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_message("apple on the line")
        await mary.send_message("apple for you", to=app.me.phone_number)
        tab = f"dm-{mary.phone_number}"
        await until(pilot, lambda: said(app, "apple for you", tab))
        await pilot.press("ctrl+f", *"apple")
        await until(pilot, lambda: current(app) == "apple on the line")
        await pilot.press("f3")
        await until(pilot, lambda: current(app) == "apple for you")
        assert app.line_conversation.chat.matching_entries() == []  # no highlights left behind


async def test_a_match_scrolled_out_of_view_is_brought_into_it(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        await mary.send_message("the needle")
        for n in range(60):
            await mary.send_message(f"hay {n}")
        await until(pilot, lambda: said(app, "hay 59"))
        chat = app.active_conversation.chat
        await pilot.press("ctrl+f", *"NEEDLE")
        await until(pilot, lambda: current(app) == "the needle")
        await pilot.pause()
        shown = "\n".join(chat.render_line(y).text for y in range(chat.size.height))
        assert "<Mary> the needle" in shown and "hay 59" not in shown
        assert isinstance(chat, ChatLog) and not chat.following


def test_search_highlights_every_match_and_marks_the_current_one(snap_compare):
    async def feed_then_search(pilot) -> None:
        await feed(pilot)
        pilot.app.query_one(SearchBox).cursor_blink = False  # the picture must not depend on timing
        await pilot.press("ctrl+f", *"the")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=(120, 40), run_before=feed_then_search)
