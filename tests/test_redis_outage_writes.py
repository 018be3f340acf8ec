"""While Redis is away, each write that expects an answer gets one: hellos, sends, nickname changes: `store_failed`.

Real redis-server stopped and started again, real `ozchat serve --redis` processes, real clients.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import ChatMessage, ClientInfo, OzWebClient, RequestRejected

from redis_server import hub_url

# More refused hellos than the backplane sends in one round trip: each leaves a number to give back.
_HELLOS = 300
# Only turns an unanswered frame into a clear failure; two busy cores may take seconds.
_CAP = 20.0


async def send_until_stored(client: OzWebClient, text: str) -> ChatMessage:
    """Send as a user would: a `store_failed` (Redis away) is answered by sending again."""
    while True:
        try:
            return await client.send_message(text)
        except RequestRejected as exc:
            assert exc.code == "store_failed"


async def hello_answer(url: str, nickname: str) -> str:
    """The error code a raw hello on line Webphone1 is answered with."""
    async with ws_connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": nickname}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), _CAP))
        assert answer["type"] == "error", answer
        return answer["code"]


async def test_hellos_sends_and_nickname_changes_while_redis_is_away_are_all_answered_store_failed_however_many(
    start_hub, join, redis_server
):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    ann, _ = await join(url_a, nickname="Ann")
    _, bob_events = await join(url_b, nickname="Bob")
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Ann")

    await asyncio.to_thread(redis_server.stop)
    for first in range(0, _HELLOS, 50):
        codes = await asyncio.gather(*(hello_answer(url_a, f"P{n}") for n in range(first, first + 50)))
        assert set(codes) == {"store_failed"}
    with pytest.raises(RequestRejected) as refused:
        await asyncio.wait_for(ann.send_message("into the void"), _CAP)
    assert refused.value.code == "store_failed"
    with pytest.raises(RequestRejected) as refused:
        await asyncio.wait_for(ann.update_properties({"nickname": "Anna"}), _CAP)
    assert refused.value.code == "store_failed"
    assert await hello_answer(url_a, "Late") == "store_failed"
    assert ann.connected

    await asyncio.to_thread(redis_server.start)
    stored = await asyncio.wait_for(send_until_stored(ann, "back again"), _CAP)
    await bob_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "back again")
    assert [m.text for m in bob_events.of_type(ChatMessage)] == ["back again"]
    assert stored.text == "back again"
