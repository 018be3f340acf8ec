"""Small terminals: below 80 columns the sidebar hides so the chat keeps the width; the footer is never cut."""

from __future__ import annotations

import pytest
from textual.widgets import Footer

from ozchat.tui.widgets import Composer, PeopleList

from .test_snapshots import feed, snapshot_app


def footer_fits(app) -> bool:
    footer = app.query_one(Footer)
    keys = list(footer.query("FooterKey"))
    return bool(keys) and all(key.region.right <= footer.region.right and key.region.width > 0 for key in keys)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)])
async def test_the_footer_is_never_cut(size):
    app = snapshot_app()
    async with app.run_test(size=size) as pilot:
        await feed(pilot)
        assert footer_fits(app)
        await app.open_conversation("M4ry0", activate=True)  # F3 and F4 now offered too
        await pilot.pause()
        await pilot.pause()
        assert {key.key for key in app.query_one(Footer).query("FooterKey")} >= {"f1", "f2", "f3", "f4", "ctrl+q"}
        assert footer_fits(app)


async def test_below_80_columns_the_sidebar_hides_and_f2_shows_it_again():
    app = snapshot_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await feed(pilot)
        people = app.query_one(PeopleList)
        assert not people.display or people.region.width == 0
        assert app.line_conversation.chat.region.width == 60
        await pilot.press("f2")
        await pilot.pause()
        assert people.has_focus and people.region.width == 24
        await pilot.press("f2")
        await pilot.pause()
        assert app.query_one(Composer).has_focus and people.region.width == 0
        await pilot.press("f2", "escape")
        await pilot.pause()
        assert app.query_one(Composer).has_focus and people.region.width == 0


async def test_from_80_columns_the_sidebar_is_24_wide():
    app = snapshot_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(pilot)
        assert app.query_one(PeopleList).region.width == 24
        assert app.line_conversation.chat.region.width == 56


def footer_row(app) -> str:
    """The footer's row as it reads on screen, built from the text each of its entries draws."""
    footer = app.query_one(Footer)
    cells = [" "] * footer.region.width
    for entry in footer.query("FooterKey, FooterLabel"):
        for offset, character in enumerate(entry.render_line(0).text):
            if 0 <= entry.region.x - footer.region.x + offset < len(cells):
                cells[entry.region.x - footer.region.x + offset] = character
    return "".join(cells)


@pytest.mark.parametrize("width", [60, 80, 100, 120])
async def test_footer_entries_never_run_into_each_other(width):
    app = snapshot_app()
    async with app.run_test(size=(width, 24)) as pilot:
        await feed(pilot)
        assert_entries_apart(app)
        await app.open_conversation("M4ry0", activate=True)  # F3 and F4 now offered too
        await pilot.pause()
        await pilot.pause()
        assert_entries_apart(app)


def assert_entries_apart(app) -> None:
    footer = app.query_one(Footer)
    words = [word for entry in footer.query("FooterKey, FooterLabel") for word in entry.render_line(0).text.split()]
    assert footer_row(app).split() == words
