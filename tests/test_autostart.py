"""The local hub that starts itself: outlives its first client, stops when idle, never starts twice,
starts again when it died, and says so when something else holds its port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import time

import httpx
import pytest
import trustme

from ozchat import OzWebClient
from ozchat.client import ConnectionStateChanged
from ozchat.exceptions import ConnectionFailed
from ozchat.hub import Hub
from ozchat.hub.autostart import ensure_local_hub
from ozchat.protocol import ConnectionState

from conftest import Recorder
from processes import OZCHAT_SCRIPT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthz(port: int) -> dict | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False)
    except httpx.HTTPError:
        return None
    return response.json()


def _wait_gone(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthz(port) is None:
            return True
        time.sleep(0.2)
    return False


def test_started_hub_outlives_its_first_client_then_stops_when_idle(processes):
    port = _free_port()
    first = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "First", "--autostart-idle", "2")
    first.wait_for(rf"^-- started a local hub on 127\.0\.0\.1:{port} \(pid \d+, log: .+\)$")
    first.wait_for(r"ACCESS_GRANTED")
    # The second joins before the first quits: a gap longer than the idle time would end the hub.
    second = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Second", "--autostart-idle", "2")
    second.wait_for(r"ACCESS_GRANTED")
    assert not any("started a local hub" in line for line in second.lines)
    assert first.interrupt() == 0
    second.wait_for(r"^First is OFFLINE$")
    assert _healthz(port)["clients"] == 1  # the line survives the user who started its hub
    assert second.interrupt() == 0
    assert _wait_gone(port, timeout=15), "the hub did not stop after its idle time"


def test_two_clients_starting_at_once_share_one_hub(processes):
    port = _free_port()
    a = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Ann", "--autostart-idle", "2")
    b = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Ben", "--autostart-idle", "2")
    a.wait_for(r"ACCESS_GRANTED")
    b.wait_for(r"ACCESS_GRANTED")
    a.wait_for(r"^Ben is ONLINE$")
    b.wait_for(r"^Ann is ONLINE$")
    assert _healthz(port)["clients"] == 2
    a.interrupt()
    b.interrupt()
    assert _wait_gone(port, timeout=15)


def test_no_autostart_means_no_hub(processes):
    port = _free_port()
    client = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Solo", "--no-autostart")
    client.wait_for(r"CONNECTION_FAILED .*\(attempt 2; trying again in ")  # tried again, and still no hub started
    assert _healthz(port) is None
    assert client.interrupt() == 0


def test_hub_starts_from_a_folder_holding_a_clone_named_ozchat(processes, tmp_path):
    # `cd ~` with the clone at ~/ozchat: the folder must not stand in for the installed package.
    home = tmp_path / "home"
    (home / "ozchat").mkdir(parents=True)
    (home / "ozchat" / "__init__.py").write_text('raise ImportError("this folder is not the ozchat package")\n')
    port = _free_port()
    client = processes(
        "events", "--host", f"127.0.0.1:{port}", "--nick", "Home", "--autostart-idle", "2",
        command=OZCHAT_SCRIPT, cwd=home,
    )
    client.wait_for(rf"^-- started a local hub on 127\.0\.0\.1:{port} ", timeout=20)
    client.wait_for(r"ACCESS_GRANTED")
    assert client.interrupt() == 0
    assert _wait_gone(port, timeout=15)


def test_a_killed_local_hub_is_started_again_by_one_of_its_clients(processes):
    port = _free_port()
    ann = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Ann", "--autostart-idle", "2")
    pid = int(ann.wait_for(rf"^-- started a local hub on 127\.0\.0\.1:{port} \(pid (\d+), ").group(1))
    ann.wait_for(r"ACCESS_GRANTED")
    ben = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Ben", "--autostart-idle", "2")
    ben.wait_for(r"ACCESS_GRANTED")
    ann.wait_for(r"^Ben is ONLINE$")
    os.kill(pid, signal.SIGKILL)
    # Both find nothing listening and race to start a hub: one gets the port, both come back to it.
    for client in (ann, ben):
        client.wait_for(r"CONNECTION_CLOSED .*, reconnecting$")
        # The new hub found both in the store: they keep their numbers, and nobody left or came.
        first = client.wait_for(r"ACCESS_GRANTED as (\w+)").group(1)
        assert client.wait_for(r"ACCESS_GRANTED as (\w+)", timeout=30, nth=2).group(1) == first
    restarts = [line for client in (ann, ben) for line in client.lines if "started a local hub again" in line]
    assert len(restarts) == 1, restarts
    assert _healthz(port)["clients"] == 2
    assert ann.interrupt() == 0 and ben.interrupt() == 0
    assert _wait_gone(port, timeout=15)


def test_a_started_hub_ignores_the_hub_token_meant_for_hubs_run_by_hand(processes):
    port = _free_port()
    client = processes(
        "events", "--host", f"127.0.0.1:{port}", "--nick", "Solo", "--autostart-idle", "2",
        env={"OZCHAT_HUB_TOKEN": "for-my-shared-hub"},
    )
    client.wait_for(r"^-- started a local hub on ")
    client.wait_for(r"ACCESS_GRANTED")
    assert client.interrupt() == 0
    assert _wait_gone(port, timeout=15)


def _granted(event: object) -> bool:
    return isinstance(event, ConnectionStateChanged) and event.state is ConnectionState.ACCESS_GRANTED


async def test_a_failing_reconnect_hook_does_not_stop_the_reconnect(hub):
    calls: list[int] = []

    async def hook() -> None:
        calls.append(len(calls))
        raise RuntimeError("could not start anything")

    client = OzWebClient(ping_interval=None, backoff_base=0.05, backoff_cap=0.2, before_reconnect=hook)
    events = Recorder(client)
    await client.connect(hub.url, "Webphone1", {"nickname": "Hooked"})
    port = hub.port
    await hub.stop()
    await events.wait_for(lambda event: isinstance(event, ConnectionStateChanged) and event.retrying)
    async with Hub("127.0.0.1", port) as again:
        # Back on the new hub: every attempt ran the hook first, and its failure held nothing up.
        await events.wait_for(lambda _: sum(map(_granted, events.events)) == 2)
        assert again.client_count == 1 and calls
        await client.disconnect()


async def test_the_reconnect_hook_runs_between_the_attempts_of_a_first_connection(unused_tcp_port):
    """A local hub that died before the first join is started again by the hook, as on a reconnect."""
    started: list[Hub] = []

    async def start_the_hub() -> None:
        if not started:
            started.append(Hub("127.0.0.1", unused_tcp_port, ping_interval=None))
            await started[0].start()

    client = OzWebClient(ping_interval=None, backoff_base=0.05, backoff_cap=0.2, before_reconnect=start_the_hub)
    events = Recorder(client)
    try:
        await asyncio.wait_for(
            client.connect(f"127.0.0.1:{unused_tcp_port}", "Webphone1", {"nickname": "Early"}, keep_trying=True), 10
        )
        assert [(e.state, e.retrying) for e in events.of_type(ConnectionStateChanged)] == [
            (ConnectionState.CONNECTION_FAILED, True), (ConnectionState.ACCESS_GRANTED, False)]
        assert started[0].client_count == 1
        await client.disconnect()
    finally:
        for hub in started:
            await hub.stop()


async def test_disconnect_does_not_wait_for_a_reconnect_hook(hub):
    entered = asyncio.Event()
    never = asyncio.Event()

    async def hook() -> None:
        entered.set()
        await never.wait()

    client = OzWebClient(ping_interval=None, backoff_base=0.05, before_reconnect=hook)
    events = Recorder(client)
    await client.connect(hub.url, "Webphone1", {"nickname": "Hooked"})
    await hub.stop()
    await asyncio.wait_for(entered.wait(), 10)
    await client.disconnect()
    final = events.events[-1]
    assert isinstance(final, ConnectionStateChanged)
    assert final.state is ConnectionState.CONNECTION_CLOSED and not final.retrying


async def test_autostart_says_when_the_port_is_held_by_a_hub_serving_tls(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    async with Hub("127.0.0.1", 0, ssl_context=context) as tls_hub:
        expected = r"something else listens on 127\.0\.0\.1:\d+ .*\(a hub serving TLS\? then connect with wss://\)"
        with pytest.raises(ConnectionFailed, match=expected):
            await ensure_local_hub("127.0.0.1", tls_hub.port, wait=2.0)
