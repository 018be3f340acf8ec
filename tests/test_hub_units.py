"""Line and history stores as plain code: no sockets."""

from __future__ import annotations

import itertools
import time

import pytest

from ozchat import ClientStatus, ProtocolError
from ozchat.hub.line import Line, LineRegistry, missing_runs
from ozchat.hub.store import Direct, MemoryStore, SQLiteStore
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


def _posted(line: Line, sender: str, text: str, to: str | None = None):
    posted = line.post(sender, text, ts=1, to=to)
    line.commit(posted)
    return posted


def test_line_messages_take_line_numbers_and_direct_messages_each_partys_own():
    line = Line("L", last_seq=41)
    a, b, c = (line.join({"nickname": n}) for n in "abc")
    for info in (a, b, c):
        line.set_identity(info.phone_number, f"identity-{info.phone_number}")
    public = _posted(line, a.phone_number, "hi")
    direct = _posted(line, a.phone_number, "psst", to=b.phone_number)
    reply = _posted(line, b.phone_number, "what?", to=a.phone_number)
    to_c = _posted(line, a.phone_number, "and you", to=c.phone_number)
    after = _posted(line, c.phone_number, "back")
    assert (public.message.seq, public.message.nickname, after.message.seq) == (42, "a", 43)
    assert (direct.message.seq, direct.direct.sender_seq, direct.direct.recipient_seq) == (42, 1, 1)
    assert (reply.direct.sender_seq, reply.direct.recipient_seq) == (2, 2)
    assert (to_c.direct.sender_seq, to_c.direct.recipient_seq) == (3, 1)
    everyone = sorted([a.phone_number, b.phone_number, c.phone_number])
    assert sorted(number for number, _ in line.copies(public)) == everyone
    assert {number: copy.direct_seq for number, copy in line.copies(to_c)} == {a.phone_number: 3, c.phone_number: 1}
    with pytest.raises(ProtocolError) as caught:
        line.post(a.phone_number, "x", ts=3, to="ZZZZZ")
    assert caught.value.code == "unknown_recipient"


def test_a_direct_message_to_oneself_takes_one_number_and_goes_once():
    line = Line("L")
    me = line.join({})
    line.set_identity(me.phone_number, "me")
    posted = _posted(line, me.phone_number, "note to self", to=me.phone_number)
    assert [(number, copy.direct_seq) for number, copy in line.copies(posted)] == [(me.phone_number, 1)]
    assert line.last_direct_seq("me") == 1


def test_missing_runs_are_the_numbers_owed_but_not_present():
    assert missing_runs(0, 5, [1, 2, 3, 4, 5]) == []
    assert missing_runs(2, 9, [6, 7]) == [(2, 6), (7, 10)]
    assert missing_runs(3, 3, []) == []
    assert missing_runs(0, 4, [2, 4]) == [(0, 2), (2, 4)]


def test_registry_forgets_empty_lines_but_keeps_numbering():
    store = MemoryStore()
    registry = LineRegistry(store.last_seq)
    line = registry.get("L")
    me = line.join({})
    posted = line.post(me.phone_number, "one", ts=1)
    store.append("L", posted.message)
    line.commit(posted)
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
    store.append("L", _message(1, to="BBBBB", client_id="d1"), "author-a", Direct("author-a", "author-b", 1, 4))
    store.append("L", _message(2, client_id="c2"), "author-a")
    store.append("Other", _message(1))
    texts = lambda found: [(m.seq, m.direct_seq) for m in found]  # noqa: E731
    assert texts(store.visible("L", "CCCCC", "author-c", limit=10)) == [(1, None), (2, None)]
    assert texts(store.visible("L", "BBBBB", "author-b", limit=10)) == [(1, None), (1, 4), (2, None)]
    assert texts(store.visible("L", "AAAAA", "author-a", limit=10)) == [(1, None), (1, 1), (2, None)]
    # The same number under another identity (it went to someone else before) sees nothing of it.
    assert texts(store.visible("L", "BBBBB", "author-x", limit=10)) == [(1, None), (2, None)]
    assert texts(store.visible("L", "BBBBB", "author-b", after_seq=1, limit=10)) == [(1, 4), (2, None)]
    assert texts(store.visible("L", "BBBBB", "author-b", after_seq=1, after_direct_seq=4, limit=10)) == [(2, None)]
    assert texts(store.visible("L", "BBBBB", "author-b", limit=2)) == [(1, 4), (2, None)]
    assert [m.seq for m in store.find("L", "c2", "author-a")] == [2]
    assert [m.direct_seq for m in store.find("L", "d1", "author-a")] == [1]
    assert store.find("L", "c2", "author-b") == [] and store.find("L", "nope", "author-a") == []
    assert store.last_seq("L") == 2 and store.last_seq("Nobody") == 0
    assert (store.last_direct_seq("L", "author-a"), store.last_direct_seq("L", "author-b")) == (1, 4)
    assert store.last_direct_seq("L", "author-c") == 0
    store.append("Private", _message(0, to="BBBBB"), "author-a", Direct("author-a", "author-b", 1, 1))
    assert [store.has_held_messages(name) for name in ("L", "Private", "Nobody")] == [True, True, False]


def test_store_retention_by_count_and_age(make_store):
    store = make_store(keep_messages=3, keep_days=1)
    old = int(time.time() * 1000) - 2 * 86_400_000
    store.append("L", _message(1, ts=old))
    for seq in range(2, 8):
        store.append("L", _message(seq))
    assert [m.seq for m in store.visible("L", "AAAAA", limit=100)] == [5, 6, 7]
    assert store.last_seq("L") == 7


def test_store_prunes_by_age_on_the_clock_it_is_given(make_store):
    start = 1_800_000_000.0
    now = [start]
    store = make_store(keep_days=1, clock=lambda: now[0])
    store.append("L", _message(1, ts=int(start * 1000)))
    store.append("L", _message(2, ts=int(start * 1000) + 1000))
    now[0] = start + 86_400.5  # a day and half a second later: only the first is older than a day
    store.append("L", _message(3, ts=int(now[0] * 1000)))
    assert [m.seq for m in store.visible("L", "AAAAA", limit=100)] == [2, 3]


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
        now = int(time.time() * 1000)
        db.execute("INSERT INTO messages VALUES ('L', 1, ?, 'AAAAA', NULL, NULL, 'kept', 0, 'x')", (now,))
        # A direct message numbered among the line's: kept, but with no party's number it is not replayed.
        db.execute("INSERT INTO messages VALUES ('L', 2, ?, 'AAAAA', 'BBBBB', NULL, 'old dm', 0, NULL)", (now,))
        db.execute("UPDATE lines SET last_seq = 2")
    db.close()
    store = SQLiteStore(path)
    assert store.last_seq("L") == 2  # the next line message is 3
    store.append("L", _message(3, client_id="x"), "author-a")
    assert [m.text for m in store.visible("L", "AAAAA", "author-a", limit=10)] == ["kept", "m3"]
    assert [m.text for m in store.visible("L", "BBBBB", "author-b", limit=10)] == ["kept", "m3"]
    assert [m.seq for m in store.find("L", "x", "author-a")] == [3]
    assert store.last_seq("L") == 3
    store.close()


def test_store_remembers_who_is_present(make_store):
    store = make_store()
    store.keep_member("L", "AAAAA", "hash-a", {"nickname": "A"})
    store.keep_member("L", "BBBBB", "hash-b", {})
    store.keep_member("L", "AAAAA", "hash-a", {"nickname": "A2"})
    store.forget_member("L", "BBBBB")
    store.keep_member("L", "CCCCC", "hash-c", {}, "identity-c")
    assert [tuple(m) for m in store.members()] == [
        ("L", "AAAAA", "hash-a", {"nickname": "A2"}, ""), ("L", "CCCCC", "hash-c", {}, "identity-c")]


def test_a_restored_member_keeps_its_number_unless_it_or_its_nickname_is_taken():
    line = Line("L")
    assert line.restore("AAAAA", {"nickname": "John"})
    assert not line.restore("AAAAA", {"nickname": "Other"})
    assert not line.restore("BBBBB", {"nickname": "john"})
    assert [m.phone_number for m in line.members()] == ["AAAAA"]
