"""How the chat screen copes with a crowded line, measured by hand (not a test).

    python benchmarks/sidebar.py [--people 1000]

Runs the app headless at 120x40, fed through the same Messages the client worker posts:
the time until the sidebar lists N people after one batch of N joins, the time to add one
more, and to draw a chat line while N people are listed. Median of 5 runs each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.tui.app import OzChatApp
from ozchat.tui.messages import ChatReceived, ConnectionChanged, PresenceChanged
from ozchat.tui.widgets import PeopleList

ME = ClientInfo("AAAAA", ClientStatus.ONLINE, {"nickname": "Me"})


def person(i: int) -> ClientInfo:
    return ClientInfo(f"P{i:04d}", ClientStatus.ONLINE, {"nickname": f"user{i:04d}"})


async def _until(pilot, predicate) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("gave up")
        await pilot.pause(0.001)


async def one_run(people: int) -> tuple[float, float, float]:
    app = OzChatApp(OzWebClient(), join=None)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ConnectionChanged(ConnectionStateChanged(ConnectionState.ACCESS_GRANTED), me=ME, line="Bench"))
        await pilot.pause()
        sidebar = app.query_one(PeopleList)
        started = time.perf_counter()
        app.post_message(PresenceChanged(tuple(person(i) for i in range(people))))
        await _until(pilot, lambda: sidebar.option_count >= people)
        await pilot.pause()
        first = time.perf_counter() - started
        started = time.perf_counter()
        app.post_message(PresenceChanged((person(people),)))
        await _until(pilot, lambda: sidebar.option_count >= people + 1)
        await pilot.pause()
        one_more = time.perf_counter() - started
        started = time.perf_counter()
        hello = ChatMessage(seq=1, ts=int(time.time() * 1000), sender="P0001", text="hello", nickname="user0001")
        app.post_message(ChatReceived(hello))
        await _until(pilot, lambda: any("hello" in line for line in app.line_conversation.chat.plain_lines))
        await pilot.pause()
        chat_line = time.perf_counter() - started
    return first, one_more, chat_line


async def main(people: int) -> None:
    runs = [await one_run(people) for _ in range(5)]
    first, one_more, chat_line = (statistics.median(column) for column in zip(*runs, strict=True))
    print(f"{people} people: sidebar listed in {first * 1000:.0f} ms; one more in {one_more * 1000:.0f} ms; "
          f"a chat line drawn in {chat_line * 1000:.0f} ms (medians of 5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    asyncio.run(main(min(parser.parse_args().people, 5000)))
