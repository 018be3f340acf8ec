"""A client bouncing between two real hub processes that share a real Redis server keeps its newest connection:
each older one is closed with 4009, and a newcomer on a third hub sees the member once, as it last was."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ozchat import ClientInfo

from redis_server import hub_url

ROUNDS = 100


async def hello(url: str, **fields: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """A raw hello on line Webphone1, and the hub's first answer."""
    ws = await ws_connect(url, ping_interval=None, max_queue=None)  # unread frames never hold up its close
    await ws.send(json.dumps({"type": "hello", "line": "Webphone1", **fields}))
    return ws, await next_frame(ws, "its welcome")


async def resumed(url: str, **fields: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """A resume's hello, sent again as a client does while the hub answers store_failed (Redis slow on busy cores)."""
    while True:
        ws, answer = await hello(url, **fields)
        if answer.get("code") != "store_failed":
            assert answer["type"] == "welcome" and answer["resumed"], answer
            return ws, answer
        await ws.close()


async def next_frame(ws: ClientConnection, awaited: str) -> dict[str, Any]:
    """The connection's next frame; a close instead fails, with its code."""
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), 30))
    except ConnectionClosed as closed:
        raise AssertionError(f"closed ({closed.rcvd}) before {awaited}") from None


async def received(ws: ClientConnection, text: str) -> None:
    """Read the connection until the message `text` arrives."""
    while True:
        frame = await next_frame(ws, f"the message {text!r}")
        if frame["type"] == "message" and frame["text"] == text:
            return


async def replaced(ws: ClientConnection, round_: int) -> None:
    """The connection is closed by the hub as one its member resumed from elsewhere (4009)."""
    await asyncio.wait_for(ws.wait_closed(), 30)
    assert ws.close_code == 4009, (round_, ws.close_code, ws.close_reason)


async def test_a_member_resuming_back_and_forth_with_new_properties_stays_on_its_newest_connection(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    sender, _ = await join(url_b, nickname="Sender")
    _, watcher = await join(url_a, nickname="Watcher")
    ws, welcome = await hello(url_a, properties={"nickname": "Bouncer"})
    number, token = welcome["phoneNumber"], welcome["resumeToken"]
    resume = {"phoneNumber": number, "token": token}
    await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == number)
    sockets = [ws]
    try:
        for round_ in range(ROUNDS):  # the old connection is left open, as one a load balancer moved away from
            ws_b, _ = await resumed(url_b, resume=resume, properties={"nickname": f"Bee{round_}"})
            sockets.append(ws_b)
            await replaced(ws, round_)
            ws_a, _ = await resumed(url_a, resume=resume, properties={"nickname": f"Ay{round_}"})
            sockets.append(ws_a)
            await replaced(ws_b, round_)
            ws = ws_a
            # Sent on hub B after it published the resume there: hub A reads it after any ONLINE of that resume.
            await sender.send_message(f"round {round_}")
            await received(ws_a, f"round {round_}")
        # A newcomer on a third hub sees the member once, with the nickname of its newest connection.
        newcomer, events = await join(hub_url(start_hub()), nickname="Newcomer")
        await events.wait_for(lambda _: number in newcomer.roster)
        assert [info.nickname for info in newcomer.roster if info.phone_number == number] == [f"Ay{ROUNDS - 1}"]
    finally:
        for socket in sockets:
            await socket.close()
