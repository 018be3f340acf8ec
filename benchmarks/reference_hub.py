"""A bare hub for comparison (not ozchat's): the measured paths of the wire protocol on `websockets.broadcast()`.

    python benchmarks/reference_hub.py --port PORT

What `benchmarks/hub.py` measures, and nothing else: hello -> welcome (every field), the roster
in presence frames of at most 100 entries, synced; ONLINE to the others on a join and OFFLINE
on a leave, each entry encoded once, the changes of one turn of the event loop batched and
broadcast; send -> the message to everyone on the line, encoded once and broadcast, then the
ack. No storage, no limits, no resume, no validation beyond what the clients need: it
stands for the least a Python hub on the same WebSocket library can do. Listens on 127.0.0.1
only and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import string
import time
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

ROSTER_BATCH = 100  # entries per presence frame, as the protocol caps them
LIMITS = {"maxFrameBytes": 65536, "maxPropertiesBytes": 4096, "maxPropertyDepth": 8,
          "maxNicknameChars": 32, "maxTextChars": 4000, "maxUploadFrameBytes": 524288}
_ALPHABET = string.ascii_letters + string.digits

_encode = msgspec.json.encode
_decode = msgspec.json.decode


class Member:
    __slots__ = ("phone_number", "properties", "ws")

    def __init__(self, ws: ServerConnection, phone_number: str, properties: dict[str, Any]) -> None:
        self.ws = ws
        self.phone_number = phone_number
        self.properties = properties

    def entry(self, status: str) -> bytes:
        return _encode({"phoneNumber": self.phone_number, "status": status, "properties": self.properties})


def presence_frames(entries: list[bytes]) -> list[bytes]:
    """Presence frames of at most ROSTER_BATCH entries, each entry encoded once beforehand."""
    return [b'{"type":"presence","clients":[' + b",".join(entries[start:start + ROSTER_BATCH]) + b"]}"
            for start in range(0, len(entries), ROSTER_BATCH)]


class Line:
    """Members, numbering, and the presence changes of this turn of the event loop, told once it ends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.epoch = secrets.token_hex(8)
        self.last_seq = 0
        self.members: dict[str, Member] = {}
        self.online: dict[str, bytes] = {}  # each member's ONLINE entry, encoded once
        self.changes: list[bytes] = []
        self.joined_at: dict[str, int] = {}  # this turn's newcomers: the index of their own change

    def new_phone_number(self) -> str:
        while (number := "".join(secrets.choice(_ALPHABET) for _ in range(5))) in self.members:
            pass
        return number

    def announce(self, entry: bytes, newcomer: str | None = None) -> None:
        if not self.changes:
            asyncio.get_running_loop().call_soon(self.flush)
        if newcomer is not None:
            self.joined_at[newcomer] = len(self.changes)
        self.changes.append(entry)

    def flush(self) -> None:
        """Everyone present before this turn gets all its changes in one broadcast; a newcomer those after its own."""
        changes, joined_at = self.changes, self.joined_at
        self.changes, self.joined_at = [], {}
        frames_from: dict[int, list[bytes]] = {0: presence_frames(changes)}
        earlier = [member.ws for number, member in self.members.items() if number not in joined_at]
        for frame in frames_from[0]:
            broadcast(earlier, frame, text=True)
        for number, index in joined_at.items():
            if (member := self.members.get(number)) is not None:
                if index + 1 not in frames_from:
                    frames_from[index + 1] = presence_frames(changes[index + 1:])
                for frame in frames_from[index + 1]:
                    broadcast([member.ws], frame, text=True)


class ReferenceHub:
    def __init__(self) -> None:
        self.lines: dict[str, Line] = {}
        self.stopping = False  # a hub going down tells nobody who left

    async def handle(self, ws: ServerConnection) -> None:
        try:
            hello = _decode(await ws.recv())
        except (ConnectionClosed, msgspec.DecodeError):
            return
        if not isinstance(hello, dict) or hello.get("type") != "hello" or not isinstance(hello.get("line"), str):
            await ws.close(4003, "hello expected")
            return
        line = self.lines.setdefault(hello["line"], Line(hello["line"]))
        me = Member(ws, line.new_phone_number(), hello.get("properties") or {})
        # The whole join burst is written at once (no await), so no live change can come between.
        burst = [_encode({
            "type": "welcome", "version": 1, "state": "ACCESS_GRANTED", "phoneNumber": me.phone_number,
            "line": line.name, "properties": me.properties, "lastSeq": line.last_seq,
            "resumeToken": secrets.token_urlsafe(16), "resumed": False, "epoch": line.epoch,
            "lastDirectSeq": 0, "limits": LIMITS,
        })]
        burst += presence_frames(list(line.online.values()))
        burst.append(_encode({"type": "synced", "lastSeq": line.last_seq}))
        for frame in burst:
            broadcast([ws], frame, text=True)
        line.members[me.phone_number] = me
        line.online[me.phone_number] = me.entry("ONLINE")
        line.announce(line.online[me.phone_number], newcomer=me.phone_number)
        try:
            async for raw in ws:
                self.receive(line, me, raw)
        except ConnectionClosed:
            pass
        finally:
            del line.members[me.phone_number], line.online[me.phone_number]
            if not line.members:
                del self.lines[line.name]
            elif not self.stopping:
                line.announce(me.entry("OFFLINE"))

    def receive(self, line: Line, me: Member, raw: str | bytes) -> None:
        try:
            frame = _decode(raw)
        except msgspec.DecodeError:
            return
        if not isinstance(frame, dict) or frame.get("type") != "send" or not isinstance(frame.get("text"), str):
            return
        line.last_seq += 1
        ts = int(time.time() * 1000)
        message: dict[str, Any] = {"type": "message", "seq": line.last_seq, "ts": ts, "from": me.phone_number}
        nickname = me.properties.get("nickname")
        if isinstance(nickname, str):
            message["nickname"] = nickname
        message["text"] = frame["text"]
        client_id = frame.get("id")
        if isinstance(client_id, str):
            message["id"] = client_id
        broadcast([member.ws for member in line.members.values()], _encode(message), text=True)
        if isinstance(client_id, str):
            broadcast([me.ws], _encode({"type": "ack", "id": client_id, "seq": line.last_seq, "ts": ts}), text=True)


async def main(port: int) -> None:
    hub = ReferenceHub()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # websockets' own keepalive, as a bare hub has; the listen backlog ozchat's hub has (LISTEN_BACKLOG).
    async with serve(hub.handle, "127.0.0.1", port, max_size=524288, backlog=1024):
        print(f"reference hub listening on ws://127.0.0.1:{port}/", flush=True)
        await stop.wait()
        hub.stopping = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
