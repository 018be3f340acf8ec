"""Rate limits per client address: the limiter on a fake clock, then each behaviour over a socket."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from ozchat import ClientInfo, ClientStatus, ConnectionFailed, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.hub import Hub
from ozchat.hub.limits import (
    AddressLimiter,
    AddressLimits,
    RateLimit,
    SlidingWindow,
    TokenBucket,
    WindowLimit,
    client_address,
)

# ---- the limiter, on a fake clock ---------------------------------------------------------


def test_token_bucket_says_when_the_next_token_comes():
    bucket = TokenBucket(RateLimit(rate=4, burst=2), now=0.0)
    assert [bucket.wait(0.0), bucket.wait(0.0)] == [None, None]
    assert bucket.wait(0.0) == pytest.approx(0.25)
    assert bucket.wait(0.1) == pytest.approx(0.15)
    assert bucket.wait(0.25) is None


def test_sliding_window_counts_exactly_the_last_window():
    window = SlidingWindow(WindowLimit(count=3, window=60.0))
    assert [window.wait(t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert window.wait(30.0) == pytest.approx(30.0)  # the event at 0 leaves the window at 60
    assert window.wait(59.9) == pytest.approx(0.1)
    assert window.wait(60.0) is None
    assert window.wait(65.0) == pytest.approx(5.0)  # now the one at 10 must leave first
    assert window.empty(200.0)


def test_a_hello_given_back_frees_its_join_and_new_line_and_nothing_else():
    limiter = AddressLimiter(AddressLimits(joins=WindowLimit(2, 60.0), new_lines=WindowLimit(1, 3600.0)))
    assert [limiter.join("192.0.2.1", 0.0), limiter.join("192.0.2.1", 1.0), limiter.new_line("192.0.2.1", 2.0)] == [
        None, None, None
    ]
    limiter.give_back("192.0.2.1", 1.0, 2.0)
    assert [limiter.join("192.0.2.1", 3.0), limiter.new_line("192.0.2.1", 3.0)] == [None, None]
    assert limiter.join("192.0.2.1", 4.0) == pytest.approx(56.0)  # the join at 0 still counts
    limiter.give_back("192.0.2.1", 100.0, None)  # expired, or never counted: nothing to forget
    assert limiter.join("192.0.2.1", 4.0) == pytest.approx(56.0)


def test_an_address_shares_one_frame_budget_across_its_connections():
    limiter = AddressLimiter(AddressLimits(frames=RateLimit(rate=1, burst=3)))
    assert [limiter.frame("192.0.2.1", 0.0) for _ in range(3)] == [None, None, None]
    assert limiter.frame("192.0.2.1", 0.0) == pytest.approx(1.0)
    assert limiter.frame("192.0.2.2", 0.0) is None  # another address has its own budget
    assert limiter.frame("192.0.2.1", 1.0) is None


def test_connections_joins_and_new_lines_are_counted_separately():
    limiter = AddressLimiter(AddressLimits(
        connections=WindowLimit(2, 60.0), joins=WindowLimit(1, 60.0), new_lines=WindowLimit(1, 3600.0)
    ))
    address = "192.0.2.1"
    assert [limiter.connection(address, 0.0) for _ in range(3)] == [None, None, pytest.approx(60.0)]
    assert limiter.join(address, 0.0) is None
    assert limiter.join(address, 1.0) == pytest.approx(59.0)
    assert limiter.new_line(address, 0.0) is None
    assert limiter.new_line(address, 1800.0) == pytest.approx(1800.0)


def test_lifted_limits_never_refuse():
    limiter = AddressLimiter(AddressLimits())
    assert all(
        check("192.0.2.1", 0.0) is None
        for _ in range(1000)
        for check in (limiter.frame, limiter.connection, limiter.join, limiter.new_line)
    )


def test_addresses_whose_budgets_are_whole_again_are_forgotten():
    limiter = AddressLimiter(AddressLimits(frames=RateLimit(10, 10), joins=WindowLimit(5, 60.0)))
    for index in range(100):
        limiter.frame(f"192.0.2.{index}", 0.0)
    limiter.join("198.51.100.1", 30.0)
    assert len(limiter) == 101
    limiter.frame("203.0.113.1", 61.0)  # a sweep: every frame budget has refilled; the join is 31 s old
    assert len(limiter) == 2


_PROXY = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.7", [], "192.0.2.7"),
        ("192.0.2.7", ["198.51.100.1"], "192.0.2.7"),  # not a trusted proxy: its header is ignored
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["203.0.113.9, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # the nearest untrusted hop
        ("127.0.0.1", ["203.0.113.9", "198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", [], "127.0.0.1"),
        ("2001:db8:1:2:3:4:5:6", [], "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", [], "192.0.2.7"),
    ],
)
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, _PROXY) == expected


# ---- over a socket -------------------------------------------------------------------------


async def _answers(ws, count: int) -> list[dict]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(count)]


async def _hello(ws, line: str = "Webphone1", nickname: str = "Cycler") -> dict:
    await ws.send(json.dumps({"type": "hello", "line": line, "properties": {"nickname": nickname}}))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def _send_all(ws, texts: list[str]) -> list[str]:
    """Send each text with its id; the ack or error code each one got, in order."""
    for text in texts:
        await ws.send(json.dumps({"type": "send", "text": text, "id": text}))
    answers: dict[str, str] = {}
    while len(answers) < len(texts):
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] in ("ack", "error"):
            answers[frame["id"]] = frame.get("code", "ack")
            assert frame["type"] == "ack" or frame["retryAfter"] > 0
    return [answers[text] for text in texts]


async def test_reconnecting_does_not_renew_the_frame_budget():
    """Each new connection has a whole per-connection budget, but the address's budget carries on."""
    limits = AddressLimits(frames=RateLimit(rate=0.001, burst=8))
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(10, 30), address_limits=limits) as hub:
        async with ws_connect(hub.url, ping_interval=None) as ws:
            assert (await _hello(ws))["type"] == "welcome"
            assert await _send_all(ws, ["a1", "a2", "a3", "a4", "a5"]) == ["ack"] * 5
        async with ws_connect(hub.url, ping_interval=None) as ws:
            assert (await _hello(ws))["type"] == "welcome"
            assert await _send_all(ws, ["b1", "b2", "b3"]) == ["ack", "rate_limited", "rate_limited"]


async def test_frames_before_the_hello_are_throttled():
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=0.001, burst=3)) as hub:
        async with ws_connect(hub.url, ping_interval=None) as ws:
            for index in range(5):
                await ws.send(json.dumps({"type": "send", "text": "x" * 40_000, "id": f"early{index}"}))
            answers = await _answers(ws, 5)
    assert [answer["code"] for answer in answers] == ["hello_required"] * 3 + ["rate_limited"] * 2
    assert all(answer["retryAfter"] > 0 for answer in answers[3:])


async def test_connections_over_the_address_limit_get_429_with_retry_after():
    async with Hub("127.0.0.1", 0, address_limits=AddressLimits(connections=WindowLimit(2, 60.0))) as hub:
        async with ws_connect(hub.url, ping_interval=None), ws_connect(hub.url, ping_interval=None):
            with pytest.raises(InvalidStatus) as refused:
                async with ws_connect(hub.url, ping_interval=None):
                    pass
            assert refused.value.response.status_code == 429
            assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 60
            async with httpx.AsyncClient() as http:  # plain HTTP is not a connection to the chat
                assert (await http.get(f"http://127.0.0.1:{hub.port}/healthz")).status_code == 200
            client = OzWebClient(ping_interval=None, reconnect=False)
            with pytest.raises(ConnectionFailed) as failed:
                await client.connect(hub.url, "Webphone1", {"nickname": "Late"})
            assert failed.value.retry_after is not None and failed.value.retry_after >= 1


async def test_joins_over_the_address_limit_are_refused_with_4029_and_nobody_hears_of_them():
    async with Hub("127.0.0.1", 0, address_limits=AddressLimits(joins=WindowLimit(3, 60.0))) as hub:
        watcher = OzWebClient(ping_interval=None)
        heard: list[ClientInfo] = []
        watcher.on_client_state_changed(heard.append)
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        for _ in range(2):
            async with ws_connect(hub.url, ping_interval=None) as ws:
                assert (await _hello(ws))["type"] == "welcome"
        async with ws_connect(hub.url, ping_interval=None) as ws:
            refusal = await _hello(ws)
            await ws.wait_closed()
        assert refusal["code"] == "rate_limited" and 0 < refusal["retryAfter"] <= 60
        assert ws.close_code == 4029
        client = OzWebClient(ping_interval=None, reconnect=False)
        with pytest.raises(ConnectionFailed) as failed:  # a "later", not an access denied
            await client.connect(hub.url, "Webphone1", {"nickname": "Late"})
        assert failed.value.retry_after is not None and failed.value.retry_after > 0
        await watcher.send_message("sentinel")  # every presence frame before it has arrived
        assert [(info.nickname, info.status) for info in heard] == [
            ("Cycler", ClientStatus.ONLINE), ("Cycler", ClientStatus.OFFLINE),
            ("Cycler", ClientStatus.ONLINE), ("Cycler", ClientStatus.OFFLINE),
        ]
        await watcher.disconnect()


async def test_new_lines_over_the_address_limit_are_refused_but_existing_ones_open():
    async with Hub("127.0.0.1", 0, address_limits=AddressLimits(new_lines=WindowLimit(2, 3600.0))) as hub:
        async with ws_connect(hub.url, ping_interval=None) as first, ws_connect(hub.url, ping_interval=None) as second:
            assert (await _hello(first, "Throwaway1"))["type"] == "welcome"
            assert (await _hello(second, "Throwaway2"))["type"] == "welcome"
            async with ws_connect(hub.url, ping_interval=None) as third:
                refusal = await _hello(third, "Throwaway3")
            assert refusal["code"] == "rate_limited" and refusal["retryAfter"] > 3000
            async with ws_connect(hub.url, ping_interval=None) as fourth:
                assert (await _hello(fourth, "Throwaway1", "Cycler2"))["type"] == "welcome"  # someone is on it


async def _hello_from(url: str, forwarded_for: str, nickname: str) -> dict:
    async with ws_connect(url, ping_interval=None, additional_headers={"X-Forwarded-For": forwarded_for}) as ws:
        return await _hello(ws, nickname=nickname)


# Each a different address, as the hub would count it were the header believed (the nearest hop of a list).
_FORGED = ["198.51.100.1", "192.0.2.9", "203.0.113.9, 198.51.100.2", "2001:db8:1:2::7"]


@pytest.mark.parametrize("trusted", [False, True])
async def test_a_forwarded_address_counts_only_from_a_trusted_proxy(trusted):
    """One peer joins once per forged X-Forwarded-For, then again as the first, under one join per address.

    From a trusted proxy each forwarded address has its own count, and only the repeat is
    refused; otherwise the header is ignored and the peer's one join is its first, whatever
    each of the others forwards.
    """
    limits = AddressLimits(joins=WindowLimit(1, 60.0))
    trusted_proxies = ["127.0.0.1"] if trusted else []
    async with Hub("127.0.0.1", 0, address_limits=limits, trusted_proxies=trusted_proxies) as hub:
        answers = [
            await _hello_from(hub.url, forwarded, f"Forger{index}")
            for index, forwarded in enumerate([*_FORGED, _FORGED[0]])
        ]
    outcomes = [answer.get("code", answer["type"]) for answer in answers]
    joins = len(_FORGED) if trusted else 1
    assert outcomes == ["welcome"] * joins + ["rate_limited"] * (len(_FORGED) + 1 - joins)


async def test_the_client_waits_as_long_as_the_hub_says_before_resending(caplog):
    """Refused once with retryAfter 0.5 s, the client's first resend comes after it, not at 0.2 s."""
    caplog.set_level(logging.DEBUG, logger="ozchat.hub")
    async with Hub("127.0.0.1", 0, rate_limit=RateLimit(rate=2, burst=2)) as hub:  # the hello takes one
        client = OzWebClient(ping_interval=None)
        await client.connect(hub.url, "Webphone1", {"nickname": "Patient"})
        sent = await asyncio.gather(client.send_message("first"), client.send_message("second"))
        assert [message.text for message in sent] == ["first", "second"]
        await client.disconnect()
    assert len([r for r in caplog.records if r.getMessage().startswith("rate limited a frame")]) == 1


def _served_url(hub) -> str:
    return "ws://127.0.0.1:" + hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1) + "/"


def test_serve_limits_connections_per_address(processes):
    hub = processes("serve", "--port", "0", "--connections-per-minute", "1")
    url = _served_url(hub)

    async def two_connections() -> int:
        async with ws_connect(url, ping_interval=None):
            with pytest.raises(InvalidStatus) as refused:
                async with ws_connect(url, ping_interval=None):
                    pass
            return refused.value.response.status_code

    assert asyncio.run(two_connections()) == 429


def test_serve_no_limits_lifts_them(processes):
    hub = processes("serve", "--port", "0", "--connections-per-minute", "1", "--no-limits")
    url = _served_url(hub)

    async def joins() -> list[str]:
        answers = []
        for _ in range(3):
            async with ws_connect(url, ping_interval=None) as ws:
                answers.append((await _hello(ws))["type"])
        return answers

    assert asyncio.run(joins()) == ["welcome"] * 3


async def test_a_reconnect_turned_away_as_too_frequent_is_tried_again_after_the_hint(unused_tcp_port, caplog):
    """Not an access denied: the client waits the hub's retryAfter (up to 2 s, far beyond its backoff), then is back."""
    caplog.set_level(logging.DEBUG, logger="ozchat.hub")
    client = OzWebClient(ping_interval=None, backoff_base=0.05)
    states: list[ConnectionStateChanged] = []
    client.on_connection_state_changed(states.append)
    async with Hub("127.0.0.1", unused_tcp_port, grace=0):
        await client.connect(f"127.0.0.1:{unused_tcp_port}", "Webphone1", {"nickname": "Back"})
    limiter = AddressLimiter(AddressLimits(joins=WindowLimit(1, 2.0)))
    assert limiter.join("127.0.0.1", asyncio.get_running_loop().time()) is None  # someone else's join, just now
    async with Hub("127.0.0.1", unused_tcp_port, address_limits=limiter):
        granted = asyncio.Event()
        client.on_connection_state_changed(
            lambda c: granted.set() if c.state is ConnectionState.ACCESS_GRANTED else None
        )
        await asyncio.wait_for(granted.wait(), 10)
        await client.disconnect()
    assert [change.state for change in states[:3]] == [
        ConnectionState.ACCESS_GRANTED, ConnectionState.CONNECTION_CLOSED, ConnectionState.ACCESS_GRANTED
    ]
    assert len([r for r in caplog.records if r.getMessage().startswith("turned away a hello")]) == 1


async def test_a_line_that_held_only_direct_messages_is_no_new_line():
    async with Hub("127.0.0.1", 0, address_limits=AddressLimits(new_lines=WindowLimit(1, 3600.0))) as hub:
        alice, bob = OzWebClient(ping_interval=None), OzWebClient(ping_interval=None)
        await alice.connect(hub.url, "Private", {"nickname": "Alice"})  # the one new line this address may make
        await bob.connect(hub.url, "Private", {"nickname": "Bob"})
        await alice.send_message("psst", to=bob.phone_number)
        await alice.disconnect()
        await bob.disconnect()

        async def emptied() -> None:
            while "Private" in hub.lines:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(emptied(), 5)
        async with ws_connect(hub.url, ping_interval=None) as again:
            assert (await _hello(again, "Private"))["type"] == "welcome"
