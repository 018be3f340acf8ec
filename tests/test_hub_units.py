"""Line and history stores as plain code: no sockets."""

from __future__ import annotations

import itertools
import time

import pytest

from ozchat import ClientStatus, ProtocolError
from ozchat.hub.line import Line, LineRegistry
from ozchat.hub.store import MemoryStore, SQLiteStore
from ozchat.protocol import ChatMessage


def test_join_draws_again_when_a_number_is_taken():
    numbers = itertools.chain(["AAAAA", "AAAAA", "BBBBB"])
    line = Line("L", phone_numbers=lambda: next(numbers))
    assert line.join({}).phone_number == "AAAAA"
    assert line.join({}).phone_number == "BBBBB"


def test_leave_reports_offline_with_last_properties():
    line = Line("L")
    me = line.join({"nickname": "John"})
    line.update(me.phone_number, {"away": "lunch"})
    gone = line.leave(me.phone_number)
    assert gone.status is ClientStatus.OFFLINE
    assert gone.properties == {"nickname": "John", "away": "lunch"}
    assert line.leave(me.phone_number) is None and len(line) == 0


def test_post_numbers_messages_and_picks_recipients():
    line = Line("L", last_seq=41)
    a, b, c = (line.join({"nickname": n}) for n in "abc")
    public = line.post(a.phone_number, "hi", ts=1)
    direct = line.post(a.phone_number, "psst", ts=2, to=b.phone_number)
    assert (public.seq, direct.seq) == (42, 43)
    assert public.nickname == "a"
    assert sorted(line.recipients(public)) == sorted([a.phone_number, b.phone_number, c.phone_number])
    assert sorted(line.recipients(direct)) == sorted([a.phone_number, b.phone_number])
    with pytest.raises(ProtocolError) as caught:
        line.post(a.phone_number, "x", ts=3, to="ZZZZZ")
    assert caught.value.code == "unknown_recipient"


def test_registry_forgets_empty_lines_but_keeps_numbering():
    store = MemoryStore()
    registry = LineRegistry(store.last_seq)
    line = registry.get("L")
    me = line.join({})
    store.append("L", line.post(me.phone_number, "one", ts=1))
    line.leave(me.phone_number)
    registry.discard_if_empty(line)
    assert len(registry) == 0
    assert registry.get("L").last_seq == 1


def _message(seq: int, *, sender="AAAAA", to=None, ts=None, client_id=None) -> ChatMessage:
    return ChatMessage(seq=seq, ts=ts if ts is not None else int(time.time() * 1000), sender=sender,
                       text=f"m{seq}", to=to, id=client_id)


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path):
    def make(**limits):
        if request.param == "memory":
            return MemoryStore(**limits)
        return SQLiteStore(tmp_path / "h.sqlite3", **limits)
    return make


def test_store_visibility_and_replay_after(make_store):
    store = make_store()
    store.append("L", _message(1))
    store.append("L", _message(2, to="BBBBB"))
    store.append("L", _message(3, client_id="c3"), "author-a")
    store.append("Other", _message(1))
    assert [m.seq for m in store.visible("L", "CCCCC", limit=10)] == [1, 3]
    assert [m.seq for m in store.visible("L", "BBBBB", limit=10)] == [1, 2, 3]
    assert [m.seq for m in store.visible("L", "BBBBB", after_seq=1, limit=10)] == [2, 3]
    assert [m.seq for m in store.visible("L", "BBBBB", limit=2)] == [2, 3]
    assert [m.seq for m in store.find("L", "c3", "author-a")] == [3]
    assert store.find("L", "c3", "author-b") == [] and store.find("L", "nope", "author-a") == []
    assert store.last_seq("L") == 3 and store.last_seq("Nobody") == 0


def test_store_retention_by_count_and_age(make_store):
    store = make_store(keep_messages=3, keep_days=1)
    old = int(time.time() * 1000) - 2 * 86_400_000
    store.append("L", _message(1, ts=old))
    for seq in range(2, 8):
        store.append("L", _message(seq))
    assert [m.seq for m in store.visible("L", "AAAAA", limit=100)] == [5, 6, 7]
    assert store.first_seq("L") == 5
    assert store.last_seq("L") == 7


def test_sqlite_history_survives_reopening(tmp_path):
    store = SQLiteStore(tmp_path / "h.sqlite3")
    store.append("L", _message(1, client_id="x"), "author-a")
    store.close()
    again = SQLiteStore(tmp_path / "h.sqlite3")
    assert again.last_seq("L") == 1
    assert [m.text for m in again.find("L", "x", "author-a")] == ["m1"]


def test_sqlite_history_from_an_older_hub_gains_the_author_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE messages (line TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
            " sender TEXT NOT NULL, recipient TEXT, nickname TEXT, text TEXT NOT NULL,"
            " action INTEGER NOT NULL DEFAULT 0, client_id TEXT, PRIMARY KEY (line, seq));"
            "CREATE TABLE lines (line TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);"
            "INSERT INTO lines VALUES ('L', 1);"
        )
        db.execute("INSERT INTO messages VALUES ('L', 1, ?, 'AAAAA', NULL, NULL, 'kept', 0, 'x')", (int(time.time() * 1000),))
    db.close()
    store = SQLiteStore(path)
    store.append("L", _message(2, client_id="x"), "author-a")
    assert [m.text for m in store.visible("L", "AAAAA", limit=10)] == ["kept", "m2"]
    assert [m.seq for m in store.find("L", "x", "author-a")] == [2]
    store.close()


def test_store_remembers_who_is_present(make_store):
    store = make_store()
    store.keep_member("L", "AAAAA", "hash-a", {"nickname": "A"})
    store.keep_member("L", "BBBBB", "hash-b", {})
    store.keep_member("L", "AAAAA", "hash-a", {"nickname": "A2"})
    store.forget_member("L", "BBBBB")
    assert [tuple(m) for m in store.members()] == [("L", "AAAAA", "hash-a", {"nickname": "A2"})]


def test_a_restored_member_keeps_its_number_unless_it_or_its_nickname_is_taken():
    line = Line("L")
    assert line.restore("AAAAA", {"nickname": "John"})
    assert not line.restore("AAAAA", {"nickname": "Other"})
    assert not line.restore("BBBBB", {"nickname": "john"})
    assert [m.phone_number for m in line.members()] == ["AAAAA"]
