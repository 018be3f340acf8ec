"""The history store on a real SQLite file: damage found at start-up, and at run time a store
that fails costs the history, never the live chat."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect

from ozchat import OzWebClient
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore, SQLiteStore, StoreError
from ozchat.protocol import ChatMessage

from conftest import Recorder


def _store_with_messages(path: Path, count: int, line: str = "Webphone1") -> None:
    store = SQLiteStore(path)
    now = int(time.time() * 1000)
    for seq in range(1, count + 1):
        text = f"message {seq} " + "x" * 200
        store.append(line, ChatMessage(seq=seq, ts=now, sender="Qdb3W", text=text, id=f"c{seq}"))
    store.close()


def _damage(path: Path) -> None:
    """Zero 8 KiB in the middle of the file, as a bad sector or a half-copied file would."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size // 2 // 4096 * 4096)
        file.write(bytes(8192))


@pytest.fixture
def damaged_store(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite3"
    _store_with_messages(path, 3000)
    _damage(path)
    return path


def test_check_finds_a_damaged_file(damaged_store: Path):
    store = SQLiteStore(damaged_store)
    with pytest.raises(StoreError, match="is damaged"):
        store.check()
    store.close()


def test_check_passes_a_sound_file(tmp_path: Path):
    _store_with_messages(tmp_path / "sound.sqlite3", 100)
    store = SQLiteStore(tmp_path / "sound.sqlite3")
    store.check()
    assert store.last_seq("Webphone1") == 100
    store.close()


def test_serve_refuses_a_damaged_history_file_with_one_clear_line(processes, damaged_store: Path):
    hub = processes("serve", "--port", "0", "--store", str(damaged_store))
    assert hub.proc.wait(20) == 1
    hub.wait_for(r"history file")
    assert [line for line in hub.lines if line.strip()] == [
        f"ozchat serve: the history file {damaged_store} is damaged (database disk image is malformed); "
        "move it aside to start afresh, or use --store memory"
    ]


async def test_a_line_whose_history_is_damaged_still_chats(damaged_store: Path):
    """The file is damaged after start-up: joining still works (no 1011) and live chat goes on."""
    async with Hub("127.0.0.1", 0, store=SQLiteStore(damaged_store)) as hub:
        mary, john = OzWebClient(ping_interval=None), OzWebClient(ping_interval=None)
        mary_events = Recorder(mary)
        await mary.connect(hub.url, "Webphone1", {"nickname": "Mary"})
        await john.connect(hub.url, "Webphone1", {"nickname": "John"})
        sent = await john.send_message("still here")
        assert sent.seq == 3001
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and not e.history)
        assert heard.text == "still here"
        await mary.disconnect()
        await john.disconnect()


async def _frames_until_synced(url: str, hello: dict) -> list[dict]:
    async with ws_connect(url, ping_interval=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "line": "Webphone1", **hello}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 5))]
        while frames[-1]["type"] != "synced":
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return frames


async def test_history_the_store_cannot_read_is_a_notice(damaged_store: Path):
    async with Hub("127.0.0.1", 0, store=SQLiteStore(damaged_store), history=3000) as hub:
        frames = await _frames_until_synced(hub.url, {"history": 3000})
    assert [frame["type"] for frame in frames] == ["welcome", "error", "synced"]
    assert frames[1]["code"] == "history_unavailable"


async def test_a_catch_up_the_store_cannot_read_is_a_notice_and_a_gap(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    _store_with_messages(path, 600)
    _damage(path)
    async with Hub("127.0.0.1", 0, store=SQLiteStore(path)) as hub:
        epoch = (await _frames_until_synced(hub.url, {"history": 0}))[0]["epoch"]
        frames = await _frames_until_synced(hub.url, {"lastSeq": 1, "epoch": epoch})
    assert [frame["type"] for frame in frames] == ["welcome", "error", "gap", "synced"]
    assert frames[1]["code"] == "history_unavailable"
    assert (frames[2]["afterSeq"], frames[2]["beforeSeq"]) == (1, 601)


def _size_on_disk(path: Path) -> int:
    """The history file with its write-ahead log and shared-memory index."""
    return sum(file.stat().st_size for file in path.parent.iterdir() if file.name.startswith(path.name))


async def test_the_store_stays_within_its_bound_dropping_the_quietest_lines_first(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    bound = 2 * 1024 * 1024
    async with Hub("127.0.0.1", 0, store=SQLiteStore(path, max_bytes=bound)) as hub:
        filler = OzWebClient(ping_interval=None)
        for index in range(20):  # 20 throw-away lines of 30 messages of 4000 emoji (16 KB each): 9.4 MiB
            await filler.connect(hub.url, f"Throwaway{index}", {"nickname": "Filler"})
            for _ in range(30):
                await filler.send_message("\U0001f600" * 4000)
            await filler.disconnect()
        assert _size_on_disk(path) <= bound * 1.2
        oldest = await _frames_until_synced(hub.url, {"line": "Throwaway0"})
        newest = await _frames_until_synced(hub.url, {"line": "Throwaway19"})
    assert oldest[0]["lastSeq"] == 30  # its numbering goes on ...
    assert [frame["type"] for frame in oldest] == ["welcome", "synced"]  # ... but its history is gone
    assert [frame["seq"] for frame in newest if frame["type"] == "message"] == list(range(1, 31))
    assert _size_on_disk(path) <= bound * 1.2


def test_a_file_over_the_bound_is_brought_under_it_when_opened(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    _store_with_messages(path, 6000)  # about 1.5 MiB
    SQLiteStore(path, max_bytes=512 * 1024).close()
    store = SQLiteStore(path, max_bytes=512 * 1024)
    assert store.visible("Webphone1", "Qdb3W", limit=1)[0].seq == 6000 and store.last_seq("Webphone1") == 6000
    assert store.visible("Webphone1", "Qdb3W", limit=6000)[0].seq > 1
    store.close()
    assert _size_on_disk(path) <= 512 * 1024 * 1.2


def test_the_memory_store_is_bound_too():
    store = MemoryStore(max_bytes=1024 * 1024)
    now = int(time.time() * 1000)
    for line in range(10):
        for seq in range(1, 31):
            store.append(f"L{line}", ChatMessage(seq=seq, ts=now + line, sender="Qdb3W", text="\U0001f600" * 4000))
    assert store.used_bytes <= 1024 * 1024
    assert store.visible("L0", "Qdb3W", limit=50) == [] and store.last_seq("L0") == 30
    assert len(store.visible("L9", "Qdb3W", limit=50)) == 30


async def test_a_line_whose_numbering_cannot_be_read_is_refused_with_a_clear_error(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    _store_with_messages(path, 100)
    with sqlite3.connect(path) as db:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'lines'").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as file:  # the table that holds each line's numbering, zeroed
        file.seek((root - 1) * page_size)
        file.write(bytes(page_size))
    async with Hub("127.0.0.1", 0, store=SQLiteStore(path)) as hub:
        async with ws_connect(hub.url, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "line": "Webphone1"}))
            refusal = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.wait_closed()
    assert refusal["code"] == "store_failed"
    assert ws.close_code == 1011
