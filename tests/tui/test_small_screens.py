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
