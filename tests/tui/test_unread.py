"""Unread marks rank direct messages and mentions above plain ones; the bell rings for both, not too often."""

from __future__ import annotations

from ozchat.tui.app import BELL_INTERVAL, OzChatApp

from .conftest import joined, make_app, said, until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def label(app: OzChatApp, tab: str) -> str:
    return app.tabs.get_tab(tab).label.plain


async def test_tabs_show_the_level_of_what_is_unread_and_the_bell_is_rate_limited(hub, connect):
    clock = FakeClock()
    app = make_app(hub.url, monotonic=clock)
    rings: list[float] = []
    app.bell = lambda: rings.append(clock.now)
    async with joined(app) as pilot:
        mary, _ = await connect(nickname="Mary")
        bob, _ = await connect(nickname="Bob")
        await mary.send_message("psst", to=app.me.phone_number)
        dm_tab = f"dm-{mary.phone_number}"
        await until(pilot, lambda: said(app, "psst", dm_tab))
        assert rings == [1000.0]  # a direct message rings without naming me

        # Plain messages in a tab not shown: a plain count.
        app.tabs.active = dm_tab
        await bob.send_message("nice weather")
        await until(pilot, lambda: label(app, "line") == "#Webphone1 (1)")
        # A mention raises the mark; more mentions at Bob's pace ring no more within the interval.
        for n in range(5):
            await bob.send_message(f"john, look {n}")
        await until(pilot, lambda: label(app, "line") == "#Webphone1 (6 @)")
        assert rings == [1000.0]
        clock.now += BELL_INTERVAL
        await bob.send_message("john?")
        await until(pilot, lambda: label(app, "line") == "#Webphone1 (7 @)")
        assert rings == [1000.0, 1000.0 + BELL_INTERVAL]

        # Direct messages outrank mentions; reading a tab clears its mark.
        app.tabs.active = "line"
        await until(pilot, lambda: label(app, "line") == "#Webphone1")
        await mary.send_message("plain to the line")
        await mary.send_message("and just for you", to=app.me.phone_number)
        await until(pilot, lambda: label(app, dm_tab) == "Mary (1 DM)")
        await until(pilot, lambda: label(app, "line") == "#Webphone1")
