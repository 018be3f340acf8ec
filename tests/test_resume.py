"""History, reconnect and resume against real hubs: nothing acknowledged is lost, nothing shows twice."""

from __future__ import annotations

import asyncio
import json
import socket
import sys

import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import (
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ConnectionClosed,
    ConnectionState,
    ConnectionStateChanged,
    OzWebClient,
)
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore, SQLiteStore
from ozchat.protocol import Gap, Synced, Welcome, encode
from ozchat.reconnect import ReconnectPolicy

from conftest import Recorder
from relay import Relay

FAST = {"backoff_base": 0.05, "backoff_cap": 0.3, "ping_interval": None}


async def _connect_via(relay: Relay, options: dict, **properties) -> tuple[OzWebClient, Recorder]:
    """A client whose connection goes through `relay`, so a test can cut it without a close frame."""
    client = OzWebClient(**options)
    recorder = Recorder(client)
    await client.connect(relay.address, "Webphone1", properties)
    return client, recorder


def _texts(recorder) -> list[str]:
    return [m.text for m in recorder.of_type(ChatMessage)]


async def test_newcomer_gets_recent_history_above_live(connect):
    a, _ = await connect(nickname="Alice")
    for i in range(3):
        await a.send_message(f"old {i}")
    _, c_events = await connect(nickname="Carol")
    await c_events.wait_for(lambda e: isinstance(e, Synced))
    history = c_events.of_type(ChatMessage)
    assert [m.text for m in history] == ["old 0", "old 1", "old 2"]
    assert all(m.history for m in history)
    await a.send_message("live")
    live = await c_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "live")
    assert not live.history


async def test_history_count_is_limited_by_the_hub_and_the_client():
    async with Hub("127.0.0.1", 0, history=5, ping_interval=None) as hub:
        await _history_limits(hub)


async def _history_limits(hub: Hub) -> None:
    sender = OzWebClient(ping_interval=None)
    await sender.connect(hub.url, "Busy", {"nickname": "S"})
    for i in range(8):
        await sender.send_message(f"m{i}")
    for asked, expected in ((None, ["m3", "m4", "m5", "m6", "m7"]), (2, ["m6", "m7"]), (0, [])):
        late = OzWebClient(ping_interval=None, history=asked)
        got: list[str] = []
        late.on_message_received(lambda m, got=got: got.append(m.text))
        stream = late.events()
        await late.connect(hub.url, "Busy", {})
        async for event in stream:
            if isinstance(event, Synced):
                break
        assert got == expected
        await late.disconnect()
    await sender.disconnect()


async def test_direct_messages_replay_only_to_their_parties(connect):
    a, _ = await connect(nickname="Alice")
    b, _ = await connect(nickname="Bob")
    await a.send_message("public")
    await a.send_message("secret", to=b.phone_number)
    _, c_events = await connect(nickname="Carol")
    await c_events.wait_for(lambda e: isinstance(e, Synced))
    assert _texts(c_events) == ["public"]


async def test_resend_of_the_same_client_id_is_relayed_once(hub, connect):
    _, watcher = await connect(nickname="Watcher")
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "Retry"}}))
        frame = {"type": "send", "text": "only once", "id": "same-id"}
        await ws.send(json.dumps(frame))
        await ws.send(json.dumps(frame))
        acks = []
        while len(acks) < 2:
            got = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if got["type"] == "ack":
                acks.append(got)
    assert acks[0]["seq"] == acks[1]["seq"]
    await watcher.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
    assert _texts(watcher) == ["only once"]


async def test_dropped_socket_resumes_same_number_and_misses_nothing(connect, relay):
    a, a_events = await connect(nickname="Alice")
    b, b_events = await _connect_via(relay, FAST, nickname="Bob")
    number = b.phone_number
    await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
    relay.cut()  # no close frame
    await b_events.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying)
    sent_while_away = [await a.send_message(f"while away {i}") for i in range(3)]
    in_flight = asyncio.create_task(b.send_message("typed while away"))
    await b_events.wait_for(
        lambda e: [c.state for c in b_events.of_type(ConnectionStateChanged)].count(ConnectionState.ACCESS_GRANTED) == 2
    )
    await in_flight
    await b_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "typed while away")
    assert b.phone_number == number
    texts = _texts(b_events)
    assert texts == ["while away 0", "while away 1", "while away 2", "typed while away"]
    assert [m.seq for m in b_events.of_type(ChatMessage)][:3] == [m.seq for m in sent_while_away]
    states = [(e.state, e.retrying) for e in b_events.of_type(ConnectionStateChanged)]
    assert states == [
        (ConnectionState.ACCESS_GRANTED, False),
        (ConnectionState.CONNECTION_CLOSED, True),
        (ConnectionState.ACCESS_GRANTED, False),
    ]
    # Alice saw Bob neither leave nor come back: he resumed within the grace period.
    await a.send_message("sync")
    await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sync")
    assert [e.status for e in a_events.of_type(ClientInfo) if e.phone_number == number] == [ClientStatus.ONLINE]
    assert _texts(a_events).count("typed while away") == 1
    await b.disconnect()


async def test_resume_after_grace_gets_a_new_number_and_roster_is_reconciled():
    # no grace: a dropped client is gone at once and comes back as someone new
    async with Hub("127.0.0.1", 0, grace=0, ping_interval=None) as hub, Relay(hub.port) as relay:
        a, a_events = await _connect_via(relay, FAST, nickname="Alice")
        b = OzWebClient(ping_interval=None, reconnect=False)
        await b.connect(hub.url, "Webphone1", {"nickname": "Bob"})
        await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
        old_number = a.phone_number
        relay.hold()
        relay.cut()
        await b.disconnect()  # Bob leaves while Alice is away: she must hear of it after reconnecting
        relay.release()
        await a_events.wait_for(
            lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob" and e.status is ClientStatus.OFFLINE, timeout=10
        )
        assert a.phone_number != old_number
        assert len(a.roster) == 0
        await a.disconnect()


async def test_resume_from_before_retained_history_reports_a_gap():
    store = MemoryStore(keep_messages=5)
    async with Hub("127.0.0.1", 0, store=store, ping_interval=None) as hub, Relay(hub.port) as relay:
        a, a_events = await _connect_via(relay, FAST, nickname="Alice")
        b = OzWebClient(ping_interval=None)
        await b.connect(hub.url, "Webphone1", {"nickname": "Bob"})
        first = await b.send_message("seen")
        await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "seen")
        relay.hold()  # Alice's resume waits at the door until the burst is over
        relay.cut()
        for i in range(20):
            await b.send_message(f"burst {i}")
        relay.release()
        gap = await a_events.wait_for(lambda e: isinstance(e, Gap), timeout=10)
        assert gap.after_seq == first.seq
        assert gap.before_seq == first.seq + 16  # only the newest 5 of the 20 are retained
        await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "burst 19")
        assert _texts(a_events) == ["seen"] + [f"burst {i}" for i in range(15, 20)]
        await a.disconnect()
        await b.disconnect()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_process_line(proc: asyncio.subprocess.Process, needle: str) -> None:
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert line, f"the hub exited before printing {needle!r}"
        if needle in line.decode():
            return


async def _start_hub_process(port: int, store: str, grace: float = 1) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ozchat", "serve", "--host", "127.0.0.1", "--port", str(port), "--store", store,
        "--grace", str(grace), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    await _wait_process_line(proc, "listening on")
    return proc


async def test_hub_killed_and_restarted_loses_nothing_acknowledged(tmp_path):
    port, store = _free_port(), str(tmp_path / "history.sqlite3")
    hub = await _start_hub_process(port, store)
    address = f"127.0.0.1:{port}"
    alice, bob = OzWebClient(**FAST), OzWebClient(**FAST)
    got: list[ChatMessage] = []
    bob.on_message_received(got.append)
    bob_granted = asyncio.Event()
    bob.on_connection_state_changed(lambda c: bob_granted.set() if c.state is ConnectionState.ACCESS_GRANTED else None)
    try:
        await alice.connect(address, "Webphone1", {"nickname": "Alice"})
        await bob.connect(address, "Webphone1", {"nickname": "Bob"})
        before = [await alice.send_message(f"before {i}") for i in range(5)]
        hub.kill()  # SIGKILL: no goodbye, no flush beyond what was committed
        await hub.wait()
        bob_granted.clear()
        typed = [asyncio.create_task(alice.send_message(f"outage {i}")) for i in range(3)]
        await asyncio.sleep(0.3)
        hub = await _start_hub_process(port, store)
        outage = [await task for task in typed]
        await asyncio.wait_for(bob_granted.wait(), 10)
        await asyncio.wait_for(_until(lambda: any(m.text == "outage 2" for m in got)), 10)
        texts = [m.text for m in got]
        assert texts == [f"before {i}" for i in range(5)] + [f"outage {i}" for i in range(3)]
        seqs = [m.seq for m in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert [m.seq for m in outage] == seqs[5:]
        # every acknowledged message is in the stored history after the restart
        history = SQLiteStore(store).visible("Webphone1", "nobody", limit=100)
        assert [m.seq for m in history] == [m.seq for m in before + outage]
    finally:
        await alice.disconnect()
        await bob.disconnect()
        hub.kill()
        await hub.wait()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.02)


async def test_resume_takes_over_a_connection_the_hub_still_thinks_alive():
    """The client noticed the drop first: its resume replaces the old socket, others see nothing;
    what the old socket still sends is dropped."""
    # No keepalive and a long close wait: the hub keeps the old connection open until its client answers.
    async with Hub("127.0.0.1", 0, ping_interval=None, close_timeout=60) as hub, Relay(hub.port) as relay:
        watcher = OzWebClient(ping_interval=None)
        w_events = Recorder(watcher)
        await watcher.connect(hub.url, "Webphone1", {"nickname": "Watcher"})
        old, welcome = await _raw_hello(relay.url, {"line": "Webphone1", "properties": {"nickname": "Bob"}})
        number = welcome["phoneNumber"]
        await w_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
        relay.mute()  # the old socket hears nothing more (not even its replacement); the hub still hears it
        new, again = await _raw_hello(hub.url, {"line": "Webphone1", "lastSeq": welcome["lastSeq"], "resume": {
            "phoneNumber": number, "token": welcome["resumeToken"]}})
        assert again["resumed"] and again["phoneNumber"] == number
        await new.send(json.dumps({"type": "send", "text": "yes", "id": "r1"}))
        reply = await w_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "yes")
        assert reply.sender == number
        # The replaced socket speaks for nobody any more: what it still sends is dropped. Its close
        # frame follows on the same connection, so once the hub has ended it, it has read the message.
        await old.send(json.dumps({"type": "send", "text": "from the stale socket", "id": "s1"}))
        await old.close()
        await new.send(json.dumps({"type": "send", "text": "after", "id": "r2"}))
        await w_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "after")
        assert _texts(w_events) == ["yes", "after"]
        assert [e.status for e in w_events.of_type(ClientInfo) if e.phone_number == number] == [ClientStatus.ONLINE]
        await new.close()
        await watcher.disconnect()


async def test_same_client_id_from_two_senders_is_two_messages(hub, connect):
    """Ids are the sender's business: a collision with someone else's id must not swallow a message."""
    _, watcher = await connect(nickname="Watcher")
    async with ws_connect(hub.url, ping_interval=None) as a, ws_connect(hub.url, ping_interval=None) as b:
        for ws, name in ((a, "A"), (b, "B")):
            await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": name}}))
        await a.send(json.dumps({"type": "send", "text": "from A", "id": "c-1"}))
        await watcher.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "from A")
        await b.send(json.dumps({"type": "send", "text": "from B", "id": "c-1"}))
        got = await watcher.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "from B")
    assert got.seq == next(m for m in watcher.of_type(ChatMessage) if m.text == "from A").seq + 1


async def test_replay_cut_at_its_limit_reports_the_rest_as_a_gap(connect, relay):
    from ozchat.protocol import MAX_REPLAY

    a, a_events = await _connect_via(relay, FAST, nickname="Alice")
    b, _ = await connect(nickname="Bob")
    seen = await b.send_message("seen")
    await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "seen")
    relay.hold()  # Alice's resume waits at the door until every message of the burst is acknowledged
    relay.cut()
    burst = MAX_REPLAY + 5
    last = None
    for i in range(burst):
        last = await b.send_message(f"burst {i}")
    relay.release()
    gap = await a_events.wait_for(lambda e: isinstance(e, Gap), timeout=10)
    assert (gap.after_seq, gap.before_seq) == (seen.seq, last.seq - MAX_REPLAY + 1)
    await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == f"burst {burst - 1}")
    replayed = [m for m in a_events.of_type(ChatMessage) if m.text != "seen"]
    assert len(replayed) == MAX_REPLAY and replayed[0].text == "burst 5"
    await a.disconnect()


async def test_disconnect_while_a_reconnect_attempt_is_under_way():
    """The fake hub welcomes at once, drops the socket, then answers the next hello slowly."""
    from websockets.asyncio.server import serve

    hellos = 0

    async def handler(ws):
        nonlocal hellos
        await ws.recv()
        hellos += 1
        if hellos > 1:
            await asyncio.sleep(1.0)
        await ws.send(encode(Welcome("AAAAA", "Webphone1", {}, 0, "token")), text=True)
        if hellos == 1:
            ws.transport.abort()
        else:
            await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = OzWebClient(ping_interval=None, backoff_base=0.05, backoff_cap=0.05)
        states: list[ConnectionStateChanged] = []
        client.on_connection_state_changed(states.append)
        await client.connect(f"127.0.0.1:{port}", "Webphone1", {})
        await asyncio.wait_for(_until(lambda: hellos == 2), 5)  # the second hello waits on the hub
        await asyncio.wait_for(client.disconnect(), 5)
        assert not client.connected
        assert [(s.state, s.retrying) for s in states] == [
            (ConnectionState.ACCESS_GRANTED, False),
            (ConnectionState.CONNECTION_CLOSED, True),
            (ConnectionState.CONNECTION_CLOSED, False),
        ]


async def test_a_hub_restarted_without_its_history_numbers_afresh_and_nothing_is_dropped(unused_tcp_port):
    """With --store memory a restarted hub counts from 1 again: the clients must follow it."""
    alice, bob = OzWebClient(**FAST), OzWebClient(**FAST)
    got: list[str] = []
    alice.on_message_received(lambda m: got.append(m.text))
    granted = []
    alice.on_connection_state_changed(
        lambda c: granted.append(c) if c.state is ConnectionState.ACCESS_GRANTED else None
    )
    async with Hub("127.0.0.1", unused_tcp_port, grace=0) as first:
        await alice.connect(first.url, "Webphone1", {"nickname": "Alice"})
        await bob.connect(first.url, "Webphone1", {"nickname": "Bob"})
        for i in range(3):
            await bob.send_message(f"old {i}")
        await _until(lambda: len(got) == 3)
    async with Hub("127.0.0.1", unused_tcp_port, grace=0):
        await asyncio.wait_for(_until(lambda: len(granted) == 2 and bob.connected), 10)
        sent = await bob.send_message("after the restart")
        assert sent.seq == 1
        await asyncio.wait_for(_until(lambda: "after the restart" in got), 5)
        await alice.disconnect()
        await bob.disconnect()


async def _raw_hello(url: str, hello: dict) -> tuple:
    ws = await ws_connect(url, ping_interval=None)
    await ws.send(json.dumps({"type": "hello", **hello}))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def _next_of_type(ws, kind: str) -> dict:
    while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != kind:
        pass
    return frame


async def _sentinel(ws, watcher, text: str) -> None:
    """Everything the hub did before this message reached the watcher has reached it too."""
    await ws.send(json.dumps({"type": "send", "text": text}))
    await watcher.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == text)


@pytest.mark.parametrize(
    ("resumed_with", "expected"),
    [
        (None, {"nickname": "John", "avatar": "cat"}),  # no properties in the hello: kept
        ({"NICKNAME": "John"}, {"nickname": "John", "avatar": "cat"}),  # the same, spelt otherwise: kept
        ({"nickname": "Johnny"}, {"nickname": "Johnny", "avatar": "cat"}),  # a real change, merged
    ],
    ids=["absent", "same-other-case", "changed"],
)
async def test_a_resume_keeps_the_properties_unless_its_hello_changes_them(hub, connect, resumed_with, expected):
    _, watcher = await connect(nickname="Watcher")
    properties = {"nickname": "John", "avatar": "cat"}
    first, welcome = await _raw_hello(hub.url, {"line": "Webphone1", "properties": properties})
    number = welcome["phoneNumber"]
    hello = {"line": "Webphone1", "resume": {"phoneNumber": number, "token": welcome["resumeToken"]}}
    if resumed_with is not None:
        hello["properties"] = resumed_with
    second, again = await _raw_hello(hub.url, hello)
    assert again["resumed"] and again["phoneNumber"] == number
    assert again["properties"] == expected
    await _sentinel(second, watcher, "after the resume")
    changes = [e.properties for e in watcher.of_type(ClientInfo) if e.phone_number == number]
    changed = resumed_with == {"nickname": "Johnny"}
    assert changes == [{"nickname": "John", "avatar": "cat"}] + ([expected] if changed else [])
    assert watcher.client.roster.get(number).properties == expected
    await first.close()
    await second.close()


async def test_after_an_update_a_resume_spelling_a_name_otherwise_is_no_change(hub, connect):
    _, watcher = await connect(nickname="Watcher")
    first, welcome = await _raw_hello(hub.url, {"line": "Webphone1", "properties": {"nickname": "John"}})
    await first.send(json.dumps({"type": "update", "properties": {"Nickname": "Johnny"}, "id": "u1"}))
    ack = await _next_of_type(first, "ack")
    # the ack carries the merged properties, so the client need not merge itself
    assert ack == {"type": "ack", "id": "u1", "properties": {"Nickname": "Johnny"}}
    hello = {"line": "Webphone1", "properties": {"nickname": "Johnny"},
             "resume": {"phoneNumber": welcome["phoneNumber"], "token": welcome["resumeToken"]}}
    second, again = await _raw_hello(hub.url, hello)
    assert again["properties"] == {"Nickname": "Johnny"}
    await _sentinel(second, watcher, "after the resume")
    changes = [e.properties for e in watcher.of_type(ClientInfo) if e.phone_number == welcome["phoneNumber"]]
    assert changes == [{"nickname": "John"}, {"Nickname": "Johnny"}]
    await first.close()
    await second.close()



SECRET_A, SECRET_B = "alice-" + "a" * 20, "bob-" + "b" * 20


async def _send_and_ack(ws, frame: dict) -> dict:
    await ws.send(json.dumps({"type": "send", **frame}))
    return await _next_of_type(ws, "ack")


@pytest.mark.parametrize("secrets_given", [True, False], ids=["with-client-secrets", "without"])
async def test_someone_elses_id_and_text_are_a_new_message(hub, connect, secrets_given):
    """Ids dedup per sender: Bob reusing Alice's id and text is relayed, and learns nothing of hers."""
    _, watcher = await connect(nickname="Watcher")
    a, _ = await _raw_hello(hub.url, {"line": "Webphone1", **({"clientSecret": SECRET_A} if secrets_given else {})})
    b, welcome = await _raw_hello(
        hub.url, {"line": "Webphone1", **({"clientSecret": SECRET_B} if secrets_given else {})}
    )
    bob_number = welcome["phoneNumber"]
    first = await _send_and_ack(a, {"text": "ok", "id": "c-1"})
    second = await _send_and_ack(b, {"text": "ok", "id": "c-1"})
    assert second["seq"] != first["seq"]
    got = await watcher.wait_for(lambda e: isinstance(e, ChatMessage) and e.sender == bob_number)
    assert (got.text, got.seq) == ("ok", second["seq"])
    # the same with a direct message: resending a guessed text does not confirm someone's DM
    dm = await _send_and_ack(a, {"text": "secret plan", "to": watcher.client.phone_number, "id": "d-1"})
    guess = await _send_and_ack(b, {"text": "secret plan", "to": watcher.client.phone_number, "id": "d-1"})
    assert (dm["directSeq"], guess["directSeq"]) == (1, 1)  # each sender's own first
    received = await watcher.wait_for(lambda e: isinstance(e, ChatMessage) and e.sender == bob_number and e.is_direct)
    assert (received.text, received.direct_seq) == ("secret plan", 2)  # relayed: the watcher's second
    await a.close()
    await b.close()


async def test_a_resend_under_a_new_number_matches_any_earlier_send_with_that_id(hub, connect):
    _, watcher = await connect(nickname="Watcher")
    a, _ = await _raw_hello(hub.url, {"line": "Webphone1", "clientSecret": SECRET_A})
    original = await _send_and_ack(a, {"text": "first", "id": "c-1"})
    other = await _send_and_ack(a, {"text": "second", "id": "c-1"})  # same id, other text: another message
    assert other["seq"] == original["seq"] + 1
    await a.close()
    # the same client comes back under a new number (no resume) and resends the older of the two
    again, _ = await _raw_hello(hub.url, {"line": "Webphone1", "clientSecret": SECRET_A})
    resent = await _send_and_ack(again, {"text": "first", "id": "c-1"})
    assert (resent["seq"], resent["ts"]) == (original["seq"], original["ts"])
    await _sentinel(again, watcher, "sentinel")
    assert [m.text for m in watcher.of_type(ChatMessage)] == ["first", "second", "sentinel"]
    await again.close()


async def test_a_resend_after_a_hub_restart_is_acknowledged_not_relayed_again(tmp_path, unused_tcp_port):
    path = tmp_path / "history.sqlite3"
    async with Hub("127.0.0.1", unused_tcp_port, store=SQLiteStore(path), ping_interval=None) as first:
        a, _ = await _raw_hello(first.url, {"line": "Webphone1", "clientSecret": SECRET_A})
        original = await _send_and_ack(a, {"text": "before the restart", "id": "c-1"})
        await a.close()
    async with Hub("127.0.0.1", unused_tcp_port, store=SQLiteStore(path), ping_interval=None) as second:
        watcher = OzWebClient(ping_interval=None, history=0)
        got: list[int] = []
        watcher.on_message_received(lambda m: got.append(m.seq))
        await watcher.connect(second.url, "Webphone1", {})
        a, _ = await _raw_hello(second.url, {"line": "Webphone1", "clientSecret": SECRET_A})
        resent = await _send_and_ack(a, {"text": "before the restart", "id": "c-1"})
        assert resent["seq"] == original["seq"]
        b, _ = await _raw_hello(second.url, {"line": "Webphone1", "clientSecret": SECRET_B})
        assert (await _send_and_ack(b, {"text": "before the restart", "id": "c-1"}))["seq"] == original["seq"] + 1
        await asyncio.wait_for(_until(lambda: original["seq"] + 1 in got), 5)
        assert got == [original["seq"] + 1]  # Bob's; Alice's resend was not relayed again
        await a.close()
        await b.close()
        await watcher.disconnect()


@pytest.mark.parametrize("secret", ["short", "x" * 129], ids=["too-short", "too-long"])
async def test_a_client_secret_has_16_to_128_characters(hub, secret):
    async with ws_connect(hub.url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1", "clientSecret": secret}))
        assert json.loads(await ws.recv())["code"] == "bad_field"


async def test_a_client_back_on_a_hub_that_lost_its_history_gets_everything_and_is_told(unused_tcp_port):
    """Seen 1-5; the hub restarts empty; 8 new messages; the client must get all 8, not just 6-8."""
    from relay import Relay

    alice = OzWebClient(**FAST)
    got: list[ChatMessage] = []
    alice.on_message_received(got.append)
    states: list[ConnectionStateChanged] = []
    alice.on_connection_state_changed(states.append)
    async with Relay(unused_tcp_port) as relay:
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), ping_interval=None) as first:
            bob = OzWebClient(ping_interval=None, reconnect=False)
            await alice.connect(relay.address, "Webphone1", {"nickname": "Alice"})
            await bob.connect(first.url, "Webphone1", {"nickname": "Bob"})
            for i in range(5):
                await bob.send_message(f"old {i}")
            await asyncio.wait_for(_until(lambda: len(got) == 5), 5)
            relay.hold()  # Alice's reconnects wait at the door while the new hub fills up
            await bob.disconnect()
        async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), ping_interval=None) as second:
            carol = OzWebClient(ping_interval=None, reconnect=False)
            await carol.connect(second.url, "Webphone1", {"nickname": "Carol"})
            for i in range(8):
                await carol.send_message(f"new {i}")
            relay.release()
            await asyncio.wait_for(_until(lambda: any(m.text == "new 7" for m in got)), 10)
            assert [m.text for m in got] == [f"old {i}" for i in range(5)] + [f"new {i}" for i in range(8)]
            assert [m.seq for m in got[5:]] == list(range(1, 9)) and not any(m.history for m in got[5:])
            granted = [s for s in states if s.state is ConnectionState.ACCESS_GRANTED]
            assert [s.history_reset for s in granted] == [False, True]
            assert alice.epoch == (await _welcome_epoch(second.url))
            await carol.disconnect()
            await alice.disconnect()


async def _welcome_epoch(url: str) -> str:
    ws, welcome = await _raw_hello(url, {"line": "Webphone1"})
    await ws.close()
    return welcome["epoch"]


async def test_a_last_seq_without_an_epoch_after_a_restart_loses_nothing():
    """Seen 1-3 on a memory hub; it restarts and numbers anew; lastSeq 3 with no epoch must still get new message 1."""
    async with Hub("127.0.0.1", 0, store=MemoryStore(), ping_interval=None) as first:
        bob = OzWebClient(ping_interval=None, reconnect=False)
        await bob.connect(first.url, "Webphone1", {"nickname": "Bob"})
        for i in range(3):
            await bob.send_message(f"old {i}")
        await bob.disconnect()
    async with Hub("127.0.0.1", 0, store=MemoryStore(), ping_interval=None) as second:
        carol = OzWebClient(ping_interval=None, reconnect=False)
        await carol.connect(second.url, "Webphone1", {"nickname": "Carol"})
        await carol.send_message("new1")
        ws, welcome = await _raw_hello(second.url, {"line": "Webphone1", "lastSeq": 3})
        frames = [welcome]
        while frames[-1]["type"] != "synced":
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        await ws.close()
        replayed = [(f["seq"], f["text"], f.get("history")) for f in frames if f["type"] == "message"]
        assert replayed == [(1, "new1", None)]
        await carol.disconnect()


async def test_the_epoch_survives_a_restart_on_the_same_history_file(tmp_path, unused_tcp_port):
    path = tmp_path / "history.sqlite3"
    epochs = []
    for _ in range(2):
        async with Hub("127.0.0.1", unused_tcp_port, store=SQLiteStore(path), ping_interval=None) as running:
            epochs.append(await _welcome_epoch(running.url))
    assert epochs[0] == epochs[1] and len(epochs[0]) == 16


async def _granted_again(events: Recorder, times: int = 2) -> None:
    """Wait for the `times`-th ACCESS_GRANTED and the `synced` that follows it."""

    def synced() -> bool:
        grants = [i for i, e in enumerate(events.events)
                  if isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.ACCESS_GRANTED]
        return len(grants) >= times and any(isinstance(e, Synced) for e in events.events[grants[times - 1]:])

    await asyncio.wait_for(_until(synced), 20)


def _after_the_restart(events: Recorder, since: int) -> list[ClientInfo]:
    return [e for e in events.events[since:] if isinstance(e, ClientInfo)]


async def test_a_hub_killed_and_restarted_on_its_store_keeps_everyones_number(tmp_path):
    """SIGKILL, restart on the same file: back within the grace period, everyone keeps their number."""
    port, store = _free_port(), str(tmp_path / "history.sqlite3")
    hub = await _start_hub_process(port, store, grace=60)
    address = f"127.0.0.1:{port}"
    watcher, bob = OzWebClient(**FAST), OzWebClient(**FAST)
    w_events, b_events = Recorder(watcher), Recorder(bob)
    dave = OzWebClient(ping_interval=None)
    try:
        await watcher.connect(address, "Webphone1", {"nickname": "Watcher"})
        await bob.connect(address, "Webphone1", {"nickname": "Bob"})
        await w_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Bob")
        numbers = (watcher.phone_number, bob.phone_number)
        hub.kill()
        await hub.wait()
        since = len(w_events.events)
        hub = await _start_hub_process(port, store, grace=60)
        await _granted_again(w_events)
        await _granted_again(b_events)
        assert (watcher.phone_number, bob.phone_number) == numbers
        # a direct message to the number from before the restart still reaches its owner
        await bob.send_message("still you?", to=numbers[0])
        await w_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "still you?")
        # a real arrival is the only news: nobody left and came back
        await dave.connect(address, "Webphone1", {"nickname": "Dave"})
        await w_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Dave")
        assert [(e.nickname, e.status) for e in _after_the_restart(w_events, since)] == [("Dave", ClientStatus.ONLINE)]
    finally:
        for client in (watcher, bob, dave):
            await client.disconnect()
        hub.kill()
        await hub.wait()


async def test_after_a_restart_that_lost_the_numbers_the_roster_is_reconciled(tmp_path):
    """--store memory: numbers change. The watcher hears of Carol, who left, and of Bob's new number only."""
    from relay import Relay

    port = _free_port()
    hub = await _start_hub_process(port, "memory", grace=60)
    address = f"127.0.0.1:{port}"
    watcher, bob = OzWebClient(**FAST), OzWebClient(**FAST)
    carol = OzWebClient(ping_interval=None, reconnect=False)
    w_events, b_events = Recorder(watcher), Recorder(bob)
    async with Relay(port) as relay:
        try:
            await watcher.connect(relay.address, "Webphone1", {"nickname": "Watcher"})
            await bob.connect(address, "Webphone1", {"nickname": "Bob", "avatar": "cat"})
            await carol.connect(address, "Webphone1", {"nickname": "Carol"})
            await w_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Carol")
            old_bob = bob.phone_number
            relay.hold()  # the watcher comes back only once Bob is back
            hub.kill()
            await hub.wait()
            since = len(w_events.events)
            hub = await _start_hub_process(port, "memory", grace=60)
            await _granted_again(b_events)
            assert bob.phone_number != old_bob
            relay.release()
            await _granted_again(w_events)
            changes = _after_the_restart(w_events, since)
            assert [(type(e).__name__, e.nickname, e.status) for e in changes] == [
                ("ClientInfo", "Carol", ClientStatus.OFFLINE),
                ("RenumberedClient", "Bob", ClientStatus.ONLINE),
            ]
            assert changes[1].previous_phone_number == old_bob and changes[1].phone_number == bob.phone_number
            assert [info.phone_number for info in watcher.roster] == [bob.phone_number]
        finally:
            for client in (watcher, bob, carol):
                await client.disconnect()
            hub.kill()
            await hub.wait()


async def _frames_until(ws, kind: str) -> list[dict]:
    frames = []
    while not frames or frames[-1]["type"] != kind:
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    return frames


def _ack_of(client_id: str, message: dict) -> dict:
    return {"type": "ack", "id": client_id, "seq": message["seq"], "ts": message["ts"]}


async def test_the_documented_example_of_a_resume(connect, relay):
    """docs/PROTOCOL.md, *Example: joining, a dropped connection, a resume*, frame by frame."""
    alice, a_events = await connect(nickname="Alice")
    await alice.send_message("morning")
    secret = "q8ZtLw" + "x" * 26
    john = await ws_connect(relay.url, ping_interval=None)
    await john.send(json.dumps({"type": "hello", "version": 1, "line": "Webphone1",
                                "properties": {"nickname": "John"}, "clientSecret": secret}))
    welcome, presence, history, synced = await _frames_until(john, "synced")
    assert (welcome["type"], welcome["state"], welcome["resumed"], welcome["properties"], welcome["lastDirectSeq"]) == (
        "welcome", "ACCESS_GRANTED", False, {"nickname": "John"}, 0)
    assert presence == {"type": "presence", "clients": [
        {"phoneNumber": alice.phone_number, "status": "ONLINE", "properties": {"nickname": "Alice"}}]}
    assert (history["text"], history["history"], history["seq"]) == ("morning", True, welcome["lastSeq"])
    assert synced == {"type": "synced", "lastSeq": welcome["lastSeq"]}
    await john.send(json.dumps({"type": "send", "text": "hi all", "id": "c-1"}))
    message, ack = await _frames_until(john, "ack")
    assert (message["seq"], message["from"], message["nickname"], message["id"]) == (
        welcome["lastSeq"] + 1, welcome["phoneNumber"], "John", "c-1")
    assert ack == {"type": "ack", "id": "c-1", "seq": message["seq"], "ts": message["ts"]}
    await john.send(json.dumps({"type": "send", "text": "coffee?", "to": alice.phone_number, "id": "c-2"}))
    direct, direct_ack = await _frames_until(john, "ack")
    assert (direct["seq"], direct["to"], direct["directSeq"], direct["id"]) == (
        message["seq"], alice.phone_number, 1, "c-2")
    assert direct_ack == {"type": "ack", "id": "c-2", "seq": message["seq"], "ts": direct["ts"], "directSeq": 1}
    await john.send(json.dumps({"type": "send", "text": "still there?", "id": "c-3"}))
    await a_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "coffee?")
    relay.cut()  # no close frame; the hub may or may not have read c-3
    await alice.send_message("John?")
    await alice.send_message("yes!", to=welcome["phoneNumber"])
    again = await ws_connect(relay.url, ping_interval=None)
    await again.send(json.dumps({"type": "hello", "version": 1, "line": "Webphone1", "lastSeq": message["seq"],
                                 "lastDirectSeq": 1, "epoch": welcome["epoch"], "clientSecret": secret,
                                 "resume": {"phoneNumber": welcome["phoneNumber"], "token": welcome["resumeToken"]}}))
    frames = await _frames_until(again, "synced")
    resumed, presence, missed, synced = frames[0], frames[1], frames[2:-1], frames[-1]
    assert (resumed["resumed"], resumed["phoneNumber"], resumed["properties"], resumed["epoch"]) == (
        True, welcome["phoneNumber"], {"nickname": "John"}, welcome["epoch"])
    assert resumed["resumeToken"] == welcome["resumeToken"] and resumed["lastDirectSeq"] == 2
    assert presence["clients"][0]["phoneNumber"] == alice.phone_number
    # c-3 may have reached the hub before the cut (the document's other case): it comes first then.
    reached = [m["text"] for m in missed] == ["still there?", "John?", "yes!"]
    line_seq = message["seq"] + (2 if reached else 1)
    assert resumed["lastSeq"] == synced["lastSeq"] == line_seq
    assert [(m["text"], m["seq"], m.get("directSeq"), "history" in m) for m in missed][-2:] == [
        ("John?", line_seq, None, False), ("yes!", line_seq, 2, False)]
    await again.send(json.dumps({"type": "send", "text": "still there?", "id": "c-3"}))
    if reached:
        resent = missed[0]
        assert (await _frames_until(again, "ack")) == [_ack_of("c-3", resent)]
    else:
        resent, ack = await _frames_until(again, "ack")
        assert (resent["seq"], ack["seq"]) == (line_seq + 1, line_seq + 1)
    await again.send(json.dumps({"type": "send", "text": "still there?", "id": "c-3"}))
    assert (await _frames_until(again, "ack")) == [_ack_of("c-3", resent)]
    await again.close(None)  # type: ignore[arg-type]  # a close frame without a code
    gone = await a_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.status is ClientStatus.OFFLINE)
    assert gone.phone_number == welcome["phoneNumber"]
    assert [e.status for e in a_events.of_type(ClientInfo)] == [ClientStatus.ONLINE, ClientStatus.OFFLINE]
    await john.close()


async def test_a_hub_stopped_and_started_again_on_its_store_keeps_the_numbers(tmp_path, unused_tcp_port):
    """A clean stop (close 1001) is remembered like a crash: back in time, everyone keeps their number."""
    path = tmp_path / "history.sqlite3"
    client = OzWebClient(**FAST)
    events = Recorder(client)
    async with Hub("127.0.0.1", unused_tcp_port, store=SQLiteStore(path), ping_interval=None, grace=60) as first:
        await client.connect(first.url, "Webphone1", {"nickname": "Stays"})
        number = client.phone_number
    closed = await events.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying)
    assert closed.code == 1001
    async with Hub("127.0.0.1", unused_tcp_port, store=SQLiteStore(path), ping_interval=None, grace=60):
        await _granted_again(events)
        assert client.phone_number == number
        await client.disconnect()


async def test_a_client_whose_pings_go_unanswered_drops_without_a_goodbye_and_resumes(relay, connect):
    """The client's keepalive gives up on a silent hub: it must not send the close frame that means 'I left'."""
    _, w_events = await connect(nickname="Watcher")
    client = OzWebClient(backoff_base=0.05, backoff_cap=0.3, ping_interval=0.2, ping_timeout=0.2)
    events = Recorder(client)
    await client.connect(relay.address, "Webphone1", {"nickname": "Patient"})
    number = client.phone_number
    await w_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.nickname == "Patient")
    relay.hold()  # the reconnect waits at the door until the hub is heard again
    relay.mute()  # the hub's pongs no longer reach the client; what the client sends still reaches the hub
    await events.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying, timeout=10)
    relay.mute(False)
    relay.release()
    await _granted_again(events)
    assert client.phone_number == number
    sentinel = await client.send_message("back")
    await w_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.seq == sentinel.seq)
    assert [e.status for e in w_events.of_type(ClientInfo) if e.phone_number == number] == [ClientStatus.ONLINE]
    await client.disconnect()


def _fixed_policy(base: float, cap: float, *, jitter: float = 1.0) -> ReconnectPolicy:
    """The reconnect policy with its random draw fixed, so the waits it tells are known."""
    return ReconnectPolicy(base, cap, random=lambda: jitter)


async def test_a_hub_not_there_yet_is_tried_with_the_policy_each_failure_told(unused_tcp_port):
    client = OzWebClient(ping_interval=None, reconnect_policy=_fixed_policy(0.2, 0.4))
    events = client.events()
    connecting = asyncio.create_task(
        client.connect(f"127.0.0.1:{unused_tcp_port}", "Webphone1", {"nickname": "Early"}, keep_trying=True)
    )
    told: list[ConnectionStateChanged] = []
    async for event in events:
        assert isinstance(event, ConnectionStateChanged)
        told.append(event)
        if len(told) == 3:
            break
    assert [(e.state, e.retrying) for e in told] == [(ConnectionState.CONNECTION_FAILED, True)] * 3
    assert [e.reason.rsplit("(", 1)[1] for e in told] == [
        "attempt 1; trying again in 0.2 s)", "attempt 2; trying again in 0.4 s)", "attempt 3; trying again in 0.4 s)"]
    assert told[0].reason.startswith(f"cannot reach ws://127.0.0.1:{unused_tcp_port}/")
    async with Hub("127.0.0.1", unused_tcp_port, ping_interval=None):
        await connecting
        async for event in events:  # more failures may have come before the hub was there
            if isinstance(event, ConnectionStateChanged) and not event.retrying:
                assert event.state is ConnectionState.ACCESS_GRANTED and client.nickname == "Early"
                break
        await client.disconnect()


async def test_disconnect_ends_a_connect_that_keeps_trying(unused_tcp_port):
    client = OzWebClient(ping_interval=None, reconnect_policy=_fixed_policy(30.0, 30.0))
    recorder = Recorder(client)
    connecting = asyncio.create_task(client.connect(f"127.0.0.1:{unused_tcp_port}", "Webphone1", keep_trying=True))
    await recorder.wait_for(lambda e: isinstance(e, ConnectionStateChanged) and e.retrying)
    await client.disconnect()  # during the 30 s wait
    with pytest.raises(ConnectionClosed):
        await connecting
    assert [(e.state, e.retrying) for e in recorder.of_type(ConnectionStateChanged)] == [
        (ConnectionState.CONNECTION_FAILED, True), (ConnectionState.CONNECTION_CLOSED, False)]


async def test_a_hub_asking_to_wait_is_tried_again_no_sooner_than_it_asked():
    """The hub turns the first hello away as too frequent (retryAfter 0.3 s); the backoff alone would be 0.01 s."""
    from websockets.asyncio.server import serve

    hellos = 0

    async def handler(ws):
        nonlocal hellos
        await ws.recv()
        hellos += 1
        if hellos == 1:
            await ws.send(json.dumps({"type": "error", "code": "rate_limited", "message": "too many joins",
                                      "retryAfter": 0.3}))
            await ws.close(4029, "too many joins")
            return
        await ws.send(encode(Welcome("AAAAA", "Webphone1", {}, 0, "token")), text=True)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = OzWebClient(ping_interval=None, reconnect_policy=_fixed_policy(0.02, 0.02, jitter=0.0))
        recorder = Recorder(client)
        await client.connect(f"127.0.0.1:{port}", "Webphone1", keep_trying=True)
        failed, granted = recorder.of_type(ConnectionStateChanged)
        assert failed.reason == "the hub asks to wait: too many joins (attempt 1; trying again in 0.3 s)"
        assert granted.state is ConnectionState.ACCESS_GRANTED and hellos == 2
        await client.disconnect()
