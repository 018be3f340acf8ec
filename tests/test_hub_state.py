"""The hub's decisions without sockets: HubState fed frames and a fake clock, judged by the frames it sends to whom."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ozchat.hub.limits import AddressLimiter, AddressLimits, RateLimit, WindowLimit
from ozchat.hub.line import LineRegistry
from ozchat.hub.outputs import Announce, Burst, Close, Deliver, Entry, Output, Pending, Timer, presence_frame
from ozchat.hub.state import HubState
from ozchat.hub.store import MemoryStore, StoreError
from ozchat.protocol import MAX_PRESENCE_BATCH, ClientInfo, ClientStatus, Presence, encode

GRACE = 10.0
SECRET = "s" * 16
START = 1_800_000_000.0  # the wall clock's reading when a test begins: message times and store ages count from it


class Clock:
    """The fake clock of a hub and its store: seconds since START."""

    now = 0.0

    def wall(self) -> float:
        return START + self.now


class Hub:
    """A HubState with a fake clock; connections are names."""

    def __init__(self, store: MemoryStore | None = None, clock: Clock | None = None, **options: Any) -> None:
        self.clock = clock or Clock()
        self.store = store if store is not None else MemoryStore(clock=self.clock.wall)
        options.setdefault("grace", GRACE)
        self.state: HubState[str] = HubState(self.store, wall_clock=self.clock.wall, **options)
        self.outputs: list[Output[str]] = []
        self.opened: set[str] = set()

    @property
    def now(self) -> float:
        return self.clock.now

    @now.setter
    def now(self, seconds: float) -> None:
        self.clock.now = seconds

    def feed(self, conn: str, frame: dict[str, Any] | str) -> list[tuple[str, dict[str, Any]]]:
        """Send a frame on `conn` (opened on first use); the frames the hub sends because of it, by recipient."""
        if conn not in self.opened:
            self.state.connect(conn, "192.0.2.1", self.now)
            self.opened.add(conn)
        raw = frame if isinstance(frame, str) else json.dumps(frame)
        return self.record(self.state.receive(conn, raw, self.now))

    def hello(self, conn: str, nickname: str, **fields: Any) -> dict[str, Any]:
        """Join `conn` to line L; its welcome."""
        frames = self.feed(conn, {"type": "hello", "line": "L", "properties": {"nickname": nickname}, **fields})
        return next(frame for to, frame in frames if to == conn and frame["type"] == "welcome")

    def close(self, conn: str, *, clean: bool) -> list[tuple[str, dict[str, Any]]]:
        self.opened.discard(conn)
        return self.record(self.state.closed(conn, clean=clean, now=self.now))

    def expire(self) -> list[tuple[str, dict[str, Any]]]:
        return self.record(self.state.expire(self.now))

    def record(self, outputs: list[Output[str]]) -> list[tuple[str, dict[str, Any]]]:
        self.outputs = outputs
        return frames_to(outputs, self.state)

    @property
    def closes(self) -> list[tuple[str, int]]:
        return [(output.to, output.code) for output in self.outputs if isinstance(output, Close)]

    @property
    def timers(self) -> list[float]:
        return [output.at for output in self.outputs if isinstance(output, Timer)]


def _burst(output: Burst[str]) -> list[dict[str, Any]]:
    """A join burst as an outbox sends it: the roster in presence frames of at most MAX_PRESENCE_BATCH."""
    pending = Pending()
    pending.extend_burst(output.welcome, output.roster, output.rest)
    frames = []
    while pending:
        frames.append(json.loads(pending.take()))
    return frames


def frames_to(outputs: list[Output[str]], state: HubState[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every frame the outputs send, as (recipient, decoded frame), in order (presence to the line's members now)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    for output in outputs:
        if isinstance(output, Deliver):
            sent += [(to, json.loads(output.item)) for to in output.to if to != output.skip]
        elif isinstance(output, Announce):
            # The entry the server puts in the line's journal, alone in a frame.
            frame = json.loads(presence_frame([state.lines.entry(output.line, output.info)]))
            sent += [(to, frame) for to in state.connections_on(output.line) if to != output.about]
        elif isinstance(output, Burst):
            sent += [(output.to, frame) for frame in _burst(output)]
    return sent


def _types(frames: list[tuple[str, dict[str, Any]]], to: str) -> list[str]:
    return [frame["type"] for recipient, frame in frames if recipient == to]


def _presence(frames: list[tuple[str, dict[str, Any]]], to: str) -> list[tuple[str, str]]:
    return [
        (client["phoneNumber"], client["status"])
        for recipient, frame in frames if recipient == to and frame["type"] == "presence"
        for client in frame["clients"]
    ]


def _error(frames: list[tuple[str, dict[str, Any]]], to: str) -> str:
    return next(frame["code"] for recipient, frame in frames if recipient == to and frame["type"] == "error")


# ---- admit ------------------------------------------------------------------------------


def test_a_newcomer_gets_welcome_roster_and_synced_and_the_others_see_it_online():
    hub = Hub()
    ann = hub.hello("a", "Ann")
    frames = hub.feed("b", {"type": "hello", "line": "L", "properties": {"nickname": "Ben"}})
    ben = next(frame for to, frame in frames if frame["type"] == "welcome")
    assert _types(frames, "b") == ["welcome", "presence", "synced"]
    assert _presence(frames, "b") == [(ann["phoneNumber"], "ONLINE")]
    assert _presence(frames, "a") == [(ben["phoneNumber"], "ONLINE")]
    assert ben["resumed"] is False and ben["lastSeq"] == 0
    assert hub.closes == []


def test_a_frame_before_the_hello_is_answered_and_the_connection_stays_open():
    hub = Hub()
    frames = hub.feed("a", {"type": "send", "text": "hi", "id": "c-1"})
    assert frames == [("a", {"type": "error", "code": "hello_required", "message": "send a hello first", "id": "c-1"})]
    assert hub.closes == []
    assert hub.hello("a", "Ann")["type"] == "welcome"


def _refused(hub: Hub, conn: str, hello: dict[str, Any]) -> tuple[str, list[tuple[str, int]]]:
    frames = hub.feed(conn, {"type": "hello", **hello})
    return _error(frames, conn), hub.closes


def test_refused_hellos_name_the_first_failure_in_the_documented_order():
    hub = Hub(token="sesame")
    everything_wrong = {"version": 2, "token": "wrong", "line": "", "properties": {"nickname": ""}}
    assert _refused(hub, "1", everything_wrong) == ("unsupported_version", [("1", 4003)])
    assert _refused(hub, "2", {**everything_wrong, "version": 1}) == ("bad_token", [("2", 4003)])
    assert _refused(hub, "3", {**everything_wrong, "version": 1, "token": "sesame", "history": "x"}) == (
        "bad_field", [("3", 4003)])
    assert _refused(hub, "4", {**everything_wrong, "version": 1, "token": "sesame"}) == ("bad_line", [("4", 4003)])
    assert _refused(hub, "5", {**everything_wrong, "version": 1, "token": "sesame", "line": "L"}) == (
        "bad_nickname", [("5", 4003)])


def test_a_hello_over_the_joins_of_its_address_is_turned_away_with_4029_before_the_nickname_is_checked():
    hub = Hub(limiter=AddressLimiter(AddressLimits(joins=WindowLimit(1, 60.0))))
    hub.hello("a", "Ann")
    frames = hub.feed("b", {"type": "hello", "line": "L", "properties": {"nickname": "Ann"}})
    assert _error(frames, "b") == "rate_limited" and hub.closes == [("b", 4029)]
    hub.now = 60.0
    assert _refused(hub, "c", {"line": "L", "properties": {"nickname": "Ann"}}) == ("nickname_in_use", [("c", 4003)])


def test_a_frame_over_the_rate_is_refused_with_when_to_try_again_and_a_hello_so_refused_closes():
    hub = Hub(rate_limit=RateLimit(1.0, 1))
    hub.feed("a", {"type": "send", "text": "one"})
    frames = hub.feed("a", {"type": "send", "text": "two", "id": "c-2"})
    assert frames == [("a", {
        "type": "error", "code": "rate_limited", "message": "slow down: at most 1 frames a second (bursts of 1)",
        "id": "c-2", "retryAfter": 1.0,
    })]
    assert hub.closes == []
    hub.now = 0.5
    assert _refused(hub, "a", {"line": "L"}) == ("rate_limited", [("a", 4029)])


class FailingStore(MemoryStore):
    """A memory store whose named reads and writes fail, as a damaged file or a full disk makes them."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def _check(self, what: str) -> None:
        if what in self.failing:
            raise StoreError(f"{what}: disk I/O error")

    def last_seq(self, line: str) -> int:
        self._check("last_seq")
        return super().last_seq(line)

    def last_direct_seq(self, line: str, identity: str) -> int:
        self._check("last_direct_seq")
        return super().last_direct_seq(line, identity)

    def visible(self, *args: Any, **kwargs: Any) -> list[Any]:
        self._check("visible")
        return super().visible(*args, **kwargs)

    def append(self, *args: Any, **kwargs: Any) -> None:
        self._check("append")
        super().append(*args, **kwargs)


def test_a_hello_to_a_line_whose_numbering_cannot_be_read_is_the_hubs_failure_1011():
    store = FailingStore()
    hub = Hub(store=store)
    store.failing.add("last_seq")
    assert _refused(hub, "a", {"line": "L", "properties": {"nickname": "Ann"}}) == ("store_failed", [("a", 1011)])
    assert "L" not in hub.state.lines


def test_the_nickname_is_checked_before_the_clients_direct_numbering_is_read():
    store = FailingStore()
    hub = Hub(store=store)
    ann = hub.hello("a", "Ann")
    store.failing.add("last_direct_seq")
    assert _refused(hub, "b", {"line": "L", "properties": {"nickname": "Ann"}}) == ("nickname_in_use", [("b", 4003)])
    frames = hub.feed("c", {"type": "hello", "line": "L", "properties": {"nickname": "Cat"}})
    assert _error(frames, "c") == "store_failed" and hub.closes == [("c", 1011)]
    newcomer = _presence(frames, "a")
    assert [status for _, status in newcomer] == ["ONLINE", "OFFLINE"] and newcomer[0][0] != ann["phoneNumber"]


def test_a_history_that_cannot_be_read_costs_the_replay_only_with_a_gap_for_what_a_resumer_missed():
    store = FailingStore()
    hub = Hub(store=store)
    hub.hello("a", "Ann")
    ben = hub.hello("b", "Ben")
    hub.close("b", clean=False)
    _say(hub, "a", "one")
    store.failing.add("visible")
    frames = hub.feed("b2", {
        "type": "hello", "line": "L", "lastSeq": ben["lastSeq"], "epoch": ben["epoch"],
        "resume": {"phoneNumber": ben["phoneNumber"], "token": ben["resumeToken"]},
    })
    assert _types(frames, "b2") == ["welcome", "presence", "error", "gap", "synced"]
    assert _error(frames, "b2") == "history_unavailable" and hub.closes == []
    gap = next(frame for _, frame in frames if frame["type"] == "gap")
    assert (gap["afterSeq"], gap["beforeSeq"]) == (0, 2)


def test_a_message_that_cannot_be_stored_is_refused_to_its_sender_and_takes_no_number():
    store = FailingStore()
    hub = Hub(store=store)
    hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    store.failing.add("append")
    frames = hub.feed("a", {"type": "send", "text": "lost", "id": "c-1"})
    assert [(to, frame["type"], frame.get("code"), frame.get("id")) for to, frame in frames] == [
        ("a", "error", "store_failed", "c-1")
    ]
    store.failing.clear()
    assert _say(hub, "a", "kept")["seq"] == 1


# ---- linger and resume ------------------------------------------------------------------


def _resume(hub: Hub, conn: str, welcome: dict[str, Any], nickname: str) -> dict[str, Any]:
    claim = {"phoneNumber": welcome["phoneNumber"], "token": welcome["resumeToken"]}
    return hub.hello(conn, nickname, resume=claim, lastSeq=welcome["lastSeq"], epoch=welcome["epoch"])


def test_a_drop_lingers_unseen_and_a_resume_within_the_grace_period_keeps_the_number():
    hub = Hub()
    ann = hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    assert hub.close("a", clean=False) == [] and hub.timers == [GRACE]
    hub.now = GRACE - 0.1
    again = _resume(hub, "a2", ann, "Ann")
    assert (again["phoneNumber"], again["resumed"]) == (ann["phoneNumber"], True)
    assert [to for to, _ in frames_to(hub.outputs, hub.state)] == ["a2"] * 3  # welcome, Ben, synced: Ben hears nothing
    hub.now = GRACE
    assert hub.expire() == []


def test_when_the_grace_period_ends_the_others_see_offline_and_a_late_resume_gets_a_new_number():
    hub = Hub()
    ann = hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    hub.close("a", clean=False)
    hub.now = GRACE - 0.001
    assert hub.expire() == []
    hub.now = GRACE
    assert _presence(hub.expire(), "b") == [(ann["phoneNumber"], "OFFLINE")]
    again = _resume(hub, "a2", ann, "Ann")
    assert again["resumed"] is False and again["phoneNumber"] != ann["phoneNumber"]
    assert _presence(frames_to(hub.outputs, hub.state), "b") == [(again["phoneNumber"], "ONLINE")]


def test_a_clean_close_is_offline_at_once_without_a_grace_period():
    hub = Hub()
    ann = hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    assert _presence(hub.close("a", clean=True), "b") == [(ann["phoneNumber"], "OFFLINE")]
    assert hub.timers == []


def test_a_resume_on_a_new_connection_closes_the_old_one_with_4009_and_the_old_one_speaks_for_nobody():
    hub = Hub()
    ann = hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    _resume(hub, "a2", ann, "Ann")
    assert hub.closes == [("a", 4009)]
    assert hub.feed("a", {"type": "send", "text": "ghost"}) == []
    assert hub.close("a", clean=False) == [] and hub.timers == []
    assert _types(hub.feed("a2", {"type": "send", "text": "me"}), "b") == ["message"]


def test_a_resume_with_changed_properties_tells_the_others_once():
    hub = Hub()
    ann = hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    hub.close("a", clean=False)
    _resume(hub, "a2", ann, "Annie")
    assert [(to, frame["clients"][0]["properties"]) for to, frame in frames_to(hub.outputs, hub.state)
            if frame["type"] == "presence" and to == "b"] == [("b", {"nickname": "Annie"})]


def test_a_restarted_hub_keeps_who_was_present_for_a_grace_period_from_its_start():
    clock = Clock()
    store = MemoryStore(clock=clock.wall)
    before = Hub(store, clock)
    ann = before.hello("a", "Ann")
    after = Hub(store, clock)
    assert after.state.restore(after.now) == [Timer(GRACE)]
    after.now = 5.0
    assert _resume(after, "a2", ann, "Ann")["resumed"] is True


# ---- numbering, replay and gaps ---------------------------------------------------------


def _say(hub: Hub, conn: str, text: str, **fields: Any) -> dict[str, Any]:
    frames = hub.feed(conn, {"type": "send", "text": text, "id": f"id-{text}", **fields})
    return next(frame for to, frame in frames if to == conn and frame["type"] == "ack")


def test_a_roster_holds_everyone_else_as_they_are_now_for_a_resumer_in_the_middle_and_a_later_newcomer():
    hub = Hub()
    ann, ben, cat = hub.hello("a", "Ann"), hub.hello("b", "Ben"), hub.hello("c", "Cat")
    hub.close("b", clean=False)
    _resume(hub, "b2", ben, "Benny")  # joined between Ann and Cat: its own entry is left out of the middle
    roster = _roster(frames_to(hub.outputs, hub.state), "b2")
    assert roster == [(ann["phoneNumber"], "Ann"), (cat["phoneNumber"], "Cat")]
    hub.feed("c", {"type": "update", "properties": {"nickname": "Kat"}})
    hub.close("a", clean=True)
    frames = hub.feed("d", {"type": "hello", "line": "L", "properties": {"nickname": "Dan"}})
    assert _roster(frames, "d") == [(ben["phoneNumber"], "Benny"), (cat["phoneNumber"], "Kat")]


def _roster(frames: list[tuple[str, dict[str, Any]]], to: str) -> list[tuple[str, str]]:
    return [
        (client["phoneNumber"], client["properties"]["nickname"])
        for recipient, frame in frames if recipient == to and frame["type"] == "presence"
        for client in frame["clients"]
    ]


def test_line_messages_take_the_next_line_number_and_reach_everyone_with_the_sender_acknowledged():
    hub = Hub()
    hub.hello("a", "Ann")
    hub.hello("b", "Ben")
    frames = hub.feed("a", {"type": "send", "text": "hi", "id": "c-1"})
    assert [(to, frame["type"], frame.get("seq")) for to, frame in frames] == [
        ("a", "message", 1), ("b", "message", 1), ("a", "ack", 1)
    ]
    assert _say(hub, "b", "two")["seq"] == 2


def test_a_resume_gets_what_it_missed_after_a_gap_for_what_is_no_longer_kept():
    clock = Clock()
    hub = Hub(MemoryStore(keep_messages=3, clock=clock.wall), clock)
    hub.hello("a", "Ann")
    ben = hub.hello("b", "Ben")
    hub.close("b", clean=False)
    for text in "12345":
        _say(hub, "a", text)
    frames = hub.feed("b2", {
        "type": "hello", "line": "L", "lastSeq": ben["lastSeq"], "epoch": ben["epoch"],
        "resume": {"phoneNumber": ben["phoneNumber"], "token": ben["resumeToken"]},
    })
    replayed = [frame for _, frame in frames if frame["type"] in ("gap", "message")]
    assert [(f["type"], f.get("afterSeq"), f.get("beforeSeq"), f.get("seq"), f.get("history")) for f in replayed] == [
        ("gap", 0, 3, None, None), ("message", None, None, 3, None), ("message", None, None, 4, None),
        ("message", None, None, 5, None),
    ]


def test_a_newcomer_gets_the_newest_messages_marked_history_up_to_what_it_asks():
    hub = Hub()
    hub.hello("a", "Ann")
    for text in "123":
        _say(hub, "a", text)
    frames = hub.feed("b", {"type": "hello", "line": "L", "history": 2})
    assert [(f["seq"], f["history"]) for _, f in frames if f["type"] == "message"] == [(2, True), (3, True)]


def test_a_last_seq_of_another_epoch_replays_everything_kept():
    hub = Hub()
    hub.hello("a", "Ann")
    for text in "12":
        _say(hub, "a", text)
    frames = hub.feed("b", {"type": "hello", "line": "L", "lastSeq": 2, "epoch": "another"})
    assert [f["seq"] for _, f in frames if f["type"] == "message"] == [1, 2]


def test_direct_messages_take_each_partys_own_numbers_and_a_resume_gets_a_direct_gap():
    clock = Clock()
    hub = Hub(MemoryStore(keep_messages=1, clock=clock.wall), clock)
    ann = hub.hello("a", "Ann", clientSecret=SECRET)
    ben = hub.hello("b", "Ben")
    first = hub.feed("a", {"type": "send", "text": "psst", "to": ben["phoneNumber"], "id": "d-1"})
    assert [(to, f["type"], f.get("directSeq")) for to, f in first] == [
        ("a", "message", 1), ("b", "message", 1), ("a", "ack", 1)
    ]
    _say(hub, "a", "to all")  # keeps only this one: the direct message is gone
    hub.close("a", clean=False)
    frames = hub.feed("a2", {
        "type": "hello", "line": "L", "lastSeq": 0, "lastDirectSeq": 0, "epoch": ann["epoch"], "clientSecret": SECRET,
        "resume": {"phoneNumber": ann["phoneNumber"], "token": ann["resumeToken"]},
    })
    gaps = [(f["afterSeq"], f["beforeSeq"], f.get("direct", False)) for _, f in frames if f["type"] == "gap"]
    assert gaps == [(0, 2, True)]  # direct number 1 is gone; the line message (seq 1) is replayed
    assert [(f["seq"], f.get("to")) for _, f in frames if f["type"] == "message"] == [(1, None)]


# ---- dedup ------------------------------------------------------------------------------


def test_a_resent_id_is_acknowledged_again_and_relayed_to_nobody():
    hub = Hub()
    hub.hello("a", "Ann", clientSecret=SECRET)
    hub.hello("b", "Ben")
    first = _say(hub, "a", "hi")
    frames = hub.feed("a", {"type": "send", "text": "hi", "id": "id-hi"})
    assert frames == [("a", first)]


def test_a_resend_under_a_new_number_is_recognised_by_the_client_secret_and_another_text_is_a_new_message():
    hub = Hub()
    hub.hello("a", "Ann", clientSecret=SECRET)
    hub.hello("b", "Ben")
    first = _say(hub, "a", "hi")
    hub.close("a", clean=True)
    hub.hello("a2", "Ann", clientSecret=SECRET)
    assert hub.feed("a2", {"type": "send", "text": "hi", "id": "id-hi"}) == [("a2", first)]
    frames = hub.feed("a2", {"type": "send", "text": "other", "id": "id-hi"})
    assert _types(frames, "b") == ["message"]


def test_another_clients_id_is_never_matched():
    hub = Hub()
    hub.hello("a", "Ann", clientSecret=SECRET)
    hub.hello("b", "Ben", clientSecret="t" * 16)
    _say(hub, "a", "hi")
    assert _say(hub, "b", "hi")["seq"] == 2


# ---- presence batching -------------------------------------------------------------------


def _info(n: int) -> ClientInfo:
    return ClientInfo(f"P{n:04d}", ClientStatus.ONLINE, {})


def _frames(pending: Pending) -> list[tuple[str, int]]:
    """Each frame taken: its type, and how many presence entries it carries (1 for other frames)."""
    frames = []
    while pending:
        frame = json.loads(pending.take())
        frames.append((frame["type"], len(frame["clients"]) if frame["type"] == "presence" else 1))
    return frames


_SYNCED = b'{"type":"synced","lastSeq":0}'


def _entry(n: int) -> Entry:
    return Entry(encode(_info(n)))


def test_consecutive_presence_entries_leave_as_one_frame_and_a_frame_between_them_splits_them():
    pending = Pending()
    pending.extend([_entry(1), _entry(2), _SYNCED, _entry(3)])
    assert _frames(pending) == [("presence", 2), ("synced", 1), ("presence", 1)]


def test_a_presence_frame_carries_at_most_the_batch_limit():
    pending = Pending()
    pending.extend([_entry(n) for n in range(2 * MAX_PRESENCE_BATCH + 1)])
    full = ("presence", MAX_PRESENCE_BATCH)
    assert _frames(pending) == [full, full, ("presence", 1)]


@given(st.lists(st.one_of(st.just(_SYNCED), st.integers(0, 999).map(_entry)), max_size=400), st.data())
def test_items_queued_in_any_number_of_steps_leave_in_the_same_frames_as_queued_at_once(items, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=8)))
    at_once, in_steps, entries_apart = Pending(), Pending(), Pending()
    at_once.extend(items)
    for start, end in itertools.pairwise([0, *cuts, len(items)]):
        in_steps.extend(items[start:end])
        if all(type(item) is Entry for item in items[start:end]):  # as a line's journal queues them
            entries_apart.extend_entries(items[start:end])
        else:
            entries_apart.extend(items[start:end])
    expected = []
    for item in items:  # every run of consecutive entries, in frames of at most the batch limit
        if type(item) is bytes:
            expected.append(("synced", 1))
        elif expected and expected[-1][0] == "presence" and expected[-1][1] < MAX_PRESENCE_BATCH:
            expected[-1] = ("presence", expected[-1][1] + 1)
        else:
            expected.append(("presence", 1))
    assert entries_apart.counted == in_steps.counted == at_once.counted == len(items)
    assert _frames(entries_apart) == _frames(in_steps) == _frames(at_once) == expected


def test_entries_arriving_after_a_frame_left_make_a_new_frame():
    pending = Pending()
    pending.extend([_entry(1)])
    pending.take()
    pending.extend([_entry(2), _entry(3)])
    assert _frames(pending) == [("presence", 2)]


def test_the_join_burst_does_not_count_toward_the_slow_reader_limit_but_what_queues_behind_it_does():
    pending = Pending()
    pending.extend_burst(b'{"type":"welcome"}', [_entry(n) for n in range(150)], [_SYNCED])
    assert pending.counted == 0
    pending.extend([_entry(200), b'{"type":"message"}'])
    assert pending.counted == 2
    pending.take()  # the welcome
    pending.take()  # 100 roster entries
    assert pending.counted == 2
    while pending:
        pending.take()
    assert pending.counted == 0


def test_a_presence_frame_of_the_lines_entries_is_the_frame_encoded_whole():
    lines = LineRegistry()
    line = lines.get("L")
    infos = [line.join({"nickname": f"Zoë {n}", "away": None}) for n in range(3)]
    pending = Pending()
    pending.extend([lines.entry("L", info) for info in infos])
    assert pending.take() == encode(Presence(infos))


def test_a_change_is_announced_with_the_entry_the_line_keeps_and_a_past_state_is_encoded_anew():
    lines = LineRegistry()
    line = lines.get("L")
    joined = line.join({"nickname": "Ann"})
    assert lines.entry("L", joined) is lines.entry("L", joined) == encode(joined)
    changed = line.update(joined.phone_number, {"away": True})
    assert lines.entry("L", joined) == encode(joined)  # no longer the member's state: not the line's entry
    assert lines.entry("L", changed) is lines.entry("L", changed) == encode(changed)
    gone = line.leave(joined.phone_number)
    assert gone is not None
    lines.discard_if_empty(line)
    assert lines.entry("L", gone) == encode(gone)  # the line is forgotten once empty
