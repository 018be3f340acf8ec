"""A TCP relay on 127.0.0.1 for tests: cut connections the way a network does, with no close frame."""

from __future__ import annotations

import asyncio
import contextlib


class Relay:
    """Forwards every connection to `target_port`; `cut()` drops them all without a goodbye."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._frozen = False
        self._muted = False  # nothing from the target reaches the clients; the other way still works
        self._admitting = asyncio.Event()
        self._admitting.set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._admitting.wait()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        for source, sink, towards_client in ((reader, upstream_writer, False), (upstream_reader, writer, True)):
            task = asyncio.create_task(self._pipe(source, sink, towards_client))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, towards_client: bool) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                if not (self._frozen or (towards_client and self._muted)):
                    sink.write(data)
                    await sink.drain()
        if not self._frozen:  # a frozen peer passes on nothing, not even the end of the connection
            sink.transport.abort()

    def cut(self) -> None:
        """Abort every relayed connection at both ends: each side sees the TCP connection die."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def hold(self) -> None:
        """New connections wait (TCP accepted, nothing forwarded) until `release()`."""
        self._admitting.clear()

    def release(self) -> None:
        self._admitting.set()

    def mute(self, muted: bool = True) -> None:
        """Stop (or, with False, go on) passing anything from the target to the clients: a hub that seems silent."""
        self._muted = muted

    def freeze(self) -> None:
        """Stop forwarding anything, keeping the connections open: a peer gone silent."""
        self._frozen = True

    async def close(self) -> None:
        self.release()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
