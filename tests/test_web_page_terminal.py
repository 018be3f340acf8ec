"""A terminal user (the Textual app) and a browser user (the hub's web page in headless Chromium)
on one line: each lists the other with their avatar, and they chat both ways, directly too."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from ozchat import OzWebClient
from ozchat.avatars import AvatarService
from ozchat.tui.app import Join, OzChatApp
from ozchat.tui.avatar_choice import avatar_base_url
from ozchat.tui.widgets.typing_indicator import TypingIndicator

from browser import ROSTER_AVATAR, Page, chromium, join_from_page, log_line_with, page_url, started_web_hub
from tui.conftest import fixed_clock, people_ids, said, until
from tui.test_avatars_ui import shows_picture

pytestmark = pytest.mark.timeout(60)

TYPING_IS = "return document.getElementById('typing').textContent === arguments[0]"


def typing_shown(app: OzChatApp) -> str:
    """The terminal's typing line as drawn: empty while it is hidden."""
    indicator = app.query_one(TypingIndicator)
    return str(indicator.render()) if indicator.display else ""


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch) -> None:
    """The app reads and writes no settings, logs or avatar cache of the user's own."""
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


async def test_a_terminal_user_and_a_browser_user_list_each_other_and_chat_both_ways(tmp_path):
    async with started_web_hub(tmp_path) as web_hub:
        app = OzChatApp(
            OzWebClient(ping_interval=None),
            join=Join(web_hub.url, "Webphone1", {"nickname": "John", "avatar": "cat"}),
            avatars=AvatarService(base_url=avatar_base_url(web_hub.url)),
            clock=fixed_clock,
        )
        async with app.run_test(size=(120, 40)) as pilot, chromium() as page:
            await chat_across(app, pilot, page, web_hub.port)


async def chat_across(app: OzChatApp, pilot: Pilot[None], page: Page, hub_port: int) -> None:
    await until(pilot, lambda: app.me is not None)
    john = app.me.phone_number
    anna = await join_from_page(page, page_url(hub_port, "/line/Webphone1"), "Anna", avatar="fox")

    # The terminal's sidebar lists Anna with her picture; the page's lists John with his.
    await until(pilot, lambda: anna in people_ids(app))
    await until(pilot, lambda: shows_picture(app, anna))
    src = await page.wait_for_script(ROSTER_AVATAR, "John's avatar in the page's list", john)
    assert src == f"http://127.0.0.1:{hub_port}/avatars/cat"

    # Line messages both ways, each side seeing the other typing until the message arrives.
    await page.type_into("text", "hi from the browser")
    await until(pilot, lambda: typing_shown(app) == "Anna is typing…")
    await page.click("#composer button")
    await until(pilot, lambda: said(app, "<Anna> hi from the browser"))
    await until(pilot, lambda: typing_shown(app) == "")
    await pilot.press(*"hi from the terminal")
    await page.wait_for_script(TYPING_IS, "John typing on the page", "John is typing…")
    await pilot.press("enter")
    assert (await log_line_with(page, "hi from the terminal")).endswith("John:hi from the terminal")
    await page.wait_for_script(TYPING_IS, "nobody typing on the page", "")

    # Direct messages both ways: /msg in the terminal, the "To" list on the page.
    await pilot.press(*"/msg Anna just for you", "enter")
    line = await log_line_with(page, "just for you")
    assert "John \u2192 Anna (direct)" in line
    await page.script("document.getElementById('to').value = arguments[0]", john)
    await page.type_into("text", "just for you too")
    await page.click("#composer button")
    await until(pilot, lambda: said(app, "<Anna> just for you too", f"dm-{anna}"))
    assert not said(app, "just for you too")  # not on the line's tab
