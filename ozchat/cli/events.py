"""`ozchat events`: join a line and print one line per event; lines typed on standard input are sent."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading

from ..client import ConnectionStateChanged, OzWebClient
from ..exceptions import ConnectionClosed, OzchatError
from ..hub.autostart import StartedHub
from ..protocol import ChatMessage, ClientInfo, ClientStatus, ConnectionState, Gap, TypingNotice, encode
from ..text import printable
from .options import client_tls, local_hub_for, server_address, shared_properties


def started_hub_line(started: StartedHub, *, again: bool = False) -> str:
    """What `ozchat events` prints on standard error when it started a hub."""
    where = f"{started.host}:{started.port} (pid {started.pid}, log: {started.log_path})"
    return f"-- started a local hub {'again ' if again else ''}on {where}"


HISTORY_MARKER = "[history] "


class EventPrinter:
    """Prints a line's events as text (`John is ONLINE`, `<John> hi`) or as JSON lines."""

    def __init__(self, client: OzWebClient, as_json: bool) -> None:
        self._client = client
        self._json = as_json
        self._names: dict[str, str] = {}

    def _out(self, text: str) -> None:
        print(text, flush=True)

    def _name(self, phone_number: str | None, fallback: str | None = None) -> str:
        if phone_number == self._client.phone_number and self._client.me is not None:
            return printable(self._client.me.display_name)
        return printable(self._names.get(phone_number or "", fallback or phone_number or "?"))

    def connection(self, change: ConnectionStateChanged) -> None:
        if self._json:
            # Our own number and line, as the hub gave them: others' events name us by that number.
            self._out(json.dumps({
                "event": "connection", "state": change.state.value, "code": change.code,
                "reason": change.reason, "retrying": change.retrying,
                "phoneNumber": self._client.phone_number, "line": self._client.line,
                "nickname": self._client.nickname, "takenNickname": change.taken_nickname,
            }))
            return
        detail = (
            f" as {self._client.phone_number} on {printable(self._client.line or '')}"
            if change.state is ConnectionState.ACCESS_GRANTED
            else ""
        )
        code = f"{printable(str(change.code))}: " if change.code is not None else ""
        why = f" ({code}{printable(change.reason)})" if change.code is not None or change.reason else ""
        # A first connection's failure says itself when the next attempt comes; a dropped one is told so here.
        retrying = ", reconnecting" if change.retrying and change.state is ConnectionState.CONNECTION_CLOSED else ""
        print(f"-- {change.state.value}{detail}{why}{retrying}", file=sys.stderr, flush=True)
        if change.taken_nickname is not None:
            taken, given = printable(change.taken_nickname), printable(self._client.nickname or "")
            print(f"-- {taken} was taken; you are {given}", file=sys.stderr, flush=True)

    def client(self, info: ClientInfo) -> None:
        if self._json:
            self._out(json.dumps({"event": "client", **json.loads(encode(info))}))
            return
        previous = self._names.get(info.phone_number)
        name = printable(info.display_name)
        if info.status is ClientStatus.OFFLINE:
            self._names.pop(info.phone_number, None)
            self._out(f"{name} is OFFLINE")
            return
        self._names[info.phone_number] = info.display_name
        if previous is None:
            self._out(f"{name} is ONLINE")
        elif previous != info.display_name:
            self._out(f"{printable(previous)} is now {name}")
        else:
            shared = ", ".join(
                f"{printable(k)}={printable(json.dumps(v, ensure_ascii=False))}" for k, v in info.properties.items()
            )
            self._out(f"{name} shares {shared}")

    def gap(self, gap: Gap) -> None:
        if self._json:
            self._out(json.dumps({"event": "gap", **json.loads(encode(gap))}))
            return
        kind = "your direct messages" if gap.direct else "messages"
        lost = f"-- {kind} {gap.after_seq + 1} to {gap.before_seq - 1} could not be replayed"
        print(lost, file=sys.stderr, flush=True)

    def typing(self, notice: TypingNotice) -> None:
        """Others' typing, as JSON lines only: as text it would drown the chat."""
        if self._json:
            self._out(json.dumps({"event": "typing", **json.loads(encode(notice))}))

    def message(self, message: ChatMessage) -> None:
        if self._json:
            self._out(json.dumps({"event": "message", **json.loads(encode(message))}))
            return
        sender = self._name(message.sender, message.nickname)
        text = printable(message.text)
        # Said before we joined, replayed from the hub's history: not news.
        marker = HISTORY_MARKER if message.history else ""
        if message.action:
            self._out(f"{marker}* {sender} {text}")
        elif message.to is not None:
            self._out(f"{marker}<{sender} -> {self._name(message.to)}> {text}")
        else:
            self._out(f"{marker}<{sender}> {text}")


def _read_stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _send_typed_lines(client: OzWebClient, queue: asyncio.Queue[str | None]) -> None:
    while (text := await queue.get()) is not None:
        if not text.strip():
            continue
        try:
            await client.send_message(text)
        except OzchatError as exc:
            print(f"-- not sent: {printable(str(exc))}", file=sys.stderr, flush=True)


async def run_events(args: argparse.Namespace) -> int:
    try:
        local_hub = local_hub_for(args)
        tls = client_tls(args.cafile)
    except ValueError as exc:
        print(f"ozchat events: {printable(str(exc))}", file=sys.stderr)
        return 2

    async def start_hub_again() -> None:
        assert local_hub is not None
        started = await local_hub.ensure()
        if started is not None:
            print(started_hub_line(started, again=True), file=sys.stderr, flush=True)

    client = OzWebClient(
        pick_free_nickname=True, before_reconnect=start_hub_again if local_hub is not None else None, ssl_context=tls
    )
    printer = EventPrinter(client, args.json)
    client.on_connection_state_changed(printer.connection)
    client.on_client_state_changed(printer.client)
    client.on_message_received(printer.message)
    client.on_gap(printer.gap)
    client.on_typing(printer.typing)
    closed = asyncio.Event()

    def closed_for_good(change: ConnectionStateChanged) -> None:
        if change.state is not ConnectionState.ACCESS_GRANTED and not change.retrying:
            closed.set()

    client.on_connection_state_changed(closed_for_good)
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    stop_asked = asyncio.create_task(interrupted.wait())

    async def join() -> None:
        started = await local_hub.ensure() if local_hub is not None else None
        if started is not None:
            print(started_hub_line(started), file=sys.stderr, flush=True)
        if interrupted.is_set():  # checked with no await before connect() begins, which a disconnect() would miss
            raise ConnectionClosed("interrupted before joining")
        # A hub not up yet (or restarting) is tried again, each failure told; one trying cannot mend ends it (exit 1).
        address = server_address(args)
        await client.connect(address, args.line, shared_properties(args), token=args.token, keep_trying=True)

    joining = asyncio.create_task(join())
    await asyncio.wait((joining, stop_asked), return_when=asyncio.FIRST_COMPLETED)
    if not joining.done():
        await client.disconnect()  # ends the trying: connect() raises ConnectionClosed
    try:
        await joining
    except ValueError as exc:
        print(f"ozchat events: {printable(str(exc))}", file=sys.stderr)
        return 2
    except OzchatError as exc:
        if interrupted.is_set():
            return 0
        print(f"ozchat events: {printable(str(exc))}", file=sys.stderr)
        return 1
    finally:
        stop_asked.cancel()
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    if sys.stdin is not None and not sys.stdin.closed:
        threading.Thread(target=_read_stdin_lines, args=(loop, typed), daemon=True).start()
    sender = asyncio.create_task(_send_typed_lines(client, typed))
    waits = [asyncio.create_task(closed.wait()), asyncio.create_task(interrupted.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in (*waits, sender):
        task.cancel()
    await client.disconnect()
    return 0 if interrupted.is_set() else 1
