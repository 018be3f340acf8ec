"""One nickname, one holder, across hubs that share a real Redis server: claims race on two real hub processes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from ozchat import AccessDenied, ClientInfo, ClientStatus, OzWebClient, RequestRejected

from redis_server import Join, hub_url

ROUNDS = 20


async def race(join: Join, first: tuple[str, str], second: tuple[str, str]) -> list[OzWebClient | BaseException]:
    """Two newcomers joining at once, each (hub url, nickname); every refusal must be the one-hub one."""
    outcomes = await asyncio.gather(
        *(join(url, nickname=nickname) for url, nickname in (first, second)), return_exceptions=True
    )
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException) or (
            isinstance(outcome, AccessDenied) and outcome.code == "nickname_in_use"
        ), outcome
    return [outcome if isinstance(outcome, BaseException) else outcome[0] for outcome in outcomes]


def winners(outcomes: list[OzWebClient | BaseException]) -> list[OzWebClient]:
    return [outcome for outcome in outcomes if isinstance(outcome, OzWebClient)]


async def test_two_newcomers_racing_one_nickname_on_two_hubs_only_one_gets_it(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    for round_ in range(ROUNDS):  # the second spelling looks like the first: one nickname to people
        outcomes = await race(join, (url_a, f"Racer{round_}"), (url_b, f"RACER{round_}"))
        assert len(winners(outcomes)) == 1, f"round {round_}: {outcomes}"


async def test_a_nickname_is_free_again_once_its_holder_left_or_its_hub_was_killed_and_reaped(start_hub, join):
    hub_a = start_hub("--heartbeat-ttl", "1")
    url_a = hub_url(hub_a)
    url_b, url_c = hub_url(start_hub("--heartbeat-ttl", "1")), hub_url(start_hub("--heartbeat-ttl", "1"))
    _, watcher_events = await join(url_b, nickname="Watcher")
    leaving = [(await join(url_a, nickname=f"Lee{index}"))[0] for index in range(5)]
    killed = [(await join(url_a, nickname=f"Kim{index}"))[0] for index in range(5)]
    await watcher_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Kim4")
    assert winners(await race(join, (url_b, "lee0"), (url_c, "KIM0"))) == []  # held while their holders are there

    for client in leaving:
        await client.disconnect()  # a goodbye: each leaves at once, and gives back its nickname
    gone = {client.phone_number for client in leaving}
    await watcher_events.wait_for(
        lambda e: gone <= {info.phone_number for info in watcher_events.of_type(ClientInfo)
                           if info.status is ClientStatus.OFFLINE}
    )
    for index in range(5):
        assert len(winners(await race(join, (url_b, f"Lee{index}"), (url_c, f"lee{index}")))) == 1

    hub_a.kill()  # SIGKILL: no goodbye; the reaper frees what its members held
    reaped = {client.phone_number for client in killed}
    await watcher_events.wait_for(
        lambda e: reaped <= {info.phone_number for info in watcher_events.of_type(ClientInfo)
                             if info.status is ClientStatus.OFFLINE}
    )
    for index in range(5):
        assert len(winners(await race(join, (url_b, f"Kim{index}"), (url_c, f"kim{index}")))) == 1


async def test_two_members_changing_to_one_nickname_on_two_hubs_at_once_one_is_refused(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    ann, ann_events = await join(url_a, nickname="Ann")
    bob, bob_events = await join(url_b, nickname="Bob")
    await ann_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
    nicknames = ["Ann", "Bob"]
    for round_ in range(ROUNDS):
        asked = [f"Zed{round_}", f"zed{round_}"]
        outcomes = await asyncio.gather(
            ann.update_properties({"nickname": asked[0]}), bob.update_properties({"nickname": asked[1]}),
            return_exceptions=True,
        )
        refused = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert len(refused) == 1, f"round {round_}: {outcomes}"
        assert isinstance(refused[0], RequestRejected) and refused[0].code == "nickname_in_use"
        won = 0 if refused[0] is outcomes[1] else 1
        nicknames[won] = asked[won]  # the other keeps the nickname it had
        assert [ann.nickname, bob.nickname] == nicknames
    # Every change made is seen across hubs: the last nicknames are the ones each side has.
    await bob_events.wait_for(lambda e: isinstance(e, ClientInfo) and bob.roster.get(ann.phone_number) is not None
                              and bob.roster.get(ann.phone_number).nickname == ann.nickname)


async def hello(url: str, **fields: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """A raw hello on line Webphone1, and the hub's first answer."""
    ws = await ws_connect(url, ping_interval=None, max_queue=None)  # unread frames never hold up its close
    await ws.send(json.dumps({"type": "hello", "line": "Webphone1", **fields}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), 30))


async def test_a_resume_on_the_other_hub_keeps_the_nickname_and_a_changed_one_is_claimed_across_hubs(
    start_hub, join
):
    urls = [hub_url(start_hub()), hub_url(start_hub())]
    watcher_a, watcher_b = [(await join(url, nickname=f"Watcher{index}"))[1] for index, url in enumerate(urls)]
    sockets: list[ClientConnection] = []

    async def joined_on_a(nickname: str) -> tuple[str, str]:
        """A raw member on hub A, once hub B knows it: its number and resume token."""
        ws, welcome = await hello(urls[0], properties={"nickname": nickname})
        sockets.append(ws)
        number = welcome["phoneNumber"]
        await watcher_b.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == number)
        return number, welcome["resumeToken"]

    try:
        for round_ in range(ROUNDS):  # a member resumes on hub B with a new nickname as a newcomer on A asks for it
            number, token = await joined_on_a(f"Resumer{round_}")
            (resumed_ws, resumed), (newcomer_ws, newcomer) = await asyncio.gather(
                hello(urls[1], resume={"phoneNumber": number, "token": token},
                      properties={"nickname": f"Zoe{round_}"}),
                hello(urls[0], properties={"nickname": f"zoe{round_}"}),
            )
            sockets += [resumed_ws, newcomer_ws]
            answers = sorted([resumed, newcomer], key=lambda answer: answer["type"])
            assert [answer["type"] for answer in answers] == ["error", "welcome"], f"round {round_}: {answers}"
            assert answers[0]["code"] == "nickname_in_use"
            if resumed["type"] == "welcome":
                assert resumed["resumed"] and resumed["phoneNumber"] == number

        # A resume without properties keeps the nickname, which stays the member's on both hubs.
        number, token = await joined_on_a("Kay")
        ws, welcome = await hello(urls[1], resume={"phoneNumber": number, "token": token})
        sockets.append(ws)
        assert welcome["resumed"] and welcome["properties"] == {"nickname": "Kay"}
        assert winners(await race(join, (urls[0], "KAY"), (urls[1], "kay"))) == []
        await join(urls[0], nickname="Later")  # after the resume on hub A: seen after any OFFLINE it caused
        for events in (watcher_a, watcher_b):
            await events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Later")
            assert [e for e in events.of_type(ClientInfo)
                    if e.phone_number == number and e.status is ClientStatus.OFFLINE] == []
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_nickname_change_while_redis_is_away_is_answered_store_failed(start_hub, join, redis_server):
    ann, _ = await join(hub_url(start_hub()), nickname="Ann")
    await asyncio.to_thread(redis_server.stop)
    with pytest.raises(RequestRejected) as refused:
        await ann.update_properties({"nickname": "Zed"})
    assert refused.value.code == "store_failed" and ann.nickname == "Ann"
    changed = await ann.update_properties({"away": True})  # what claims no nickname needs no Redis first
    assert changed.get("away") is True and changed.nickname == "Ann"


async def test_a_nickname_changed_on_a_resume_on_another_hub_is_free_once_its_holder_left(start_hub, join):
    url_a, url_b = hub_url(start_hub()), hub_url(start_hub())
    _, watcher = await join(url_a, nickname="Watcher")
    ws, welcome = await hello(url_a, properties={"nickname": "Old"})
    number = welcome["phoneNumber"]
    await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == number)
    resumed_ws, resumed = await hello(
        url_b, resume={"phoneNumber": number, "token": welcome["resumeToken"]}, properties={"nickname": "New"}
    )
    assert resumed["type"] == "welcome" and resumed["resumed"] and resumed["phoneNumber"] == number
    assert winners(await race(join, (url_a, "NEW"), (url_a, "new"))) == []  # the resumed member holds it
    assert len(winners(await race(join, (url_a, "old"), (url_b, "OLD")))) == 1  # and no longer the one it left
    await resumed_ws.close()  # it leaves: both of its nicknames are free
    await ws.close()
    await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == number
                           and e.status is ClientStatus.OFFLINE)
    assert len(winners(await race(join, (url_a, "new"), (url_b, "NEW")))) == 1


async def test_a_hello_whose_claim_redis_answers_too_late_leaves_its_nickname_free(start_hub, join, redis_server):
    url = hub_url(start_hub())
    _, watcher = await join(url, nickname="Watcher")  # the line is read: the hello's claim is its first write
    woken = redis_server.sleep(6)  # longer than the hub's socket timeout: the claim runs, its answer is lost
    ws, answer = await hello(url, properties={"nickname": "Late"})
    await asyncio.to_thread(woken)
    if answer["type"] == "welcome":
        assert answer["properties"] == {"nickname": "Late"}
        await ws.close()
        await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == answer["phoneNumber"]
                               and e.status is ClientStatus.OFFLINE)
    else:
        assert answer["code"] == "store_failed", answer
        await ws.close()
    # Written after what the hub queued to give back; a hub just back from its lost connection may
    # answer store_failed once more, which a client tries again.
    client, _ = await join(url, keep_trying=True, nickname="LATE")
    assert client.nickname == "LATE"


async def test_a_member_rejoining_as_itself_while_redis_stalls_gets_its_nickname_back(start_hub, join, redis_server):
    url = hub_url(start_hub())
    watching, watcher = await join(url, nickname="Watcher")
    ann, _ = await join(url, nickname="Ann")
    woken = redis_server.sleep(3)  # shorter than the hub's socket timeout: the hub's writes wait
    await watching.update_properties({"away": True})  # written first: Ann's OFFLINE waits behind it, in the hub
    await ann.disconnect()
    await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == ann.phone_number
                           and e.status is ClientStatus.OFFLINE)
    again, _ = await join(url, nickname="Ann")  # its claim is written after that OFFLINE, which gave the nickname back
    await asyncio.to_thread(woken)
    assert again.nickname == "Ann"

