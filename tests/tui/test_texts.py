"""The chat's wording, built from plain data without an app: what each notice says."""

from __future__ import annotations

from collections.abc import Callable

from ozchat import ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged
from ozchat.protocol import Gap
from ozchat.tui.bridge import PresenceBatcher
from ozchat.tui.messages import PresenceChanged
from ozchat.tui.texts import (
    KEYS_HELP,
    announcements,
    away_text,
    describe_state,
    gap_text,
    help_text,
    left_text,
    not_found_text,
    who_text,
    whois_text,
)


def person(number: str, name: str, **properties: object) -> ClientInfo:
    return ClientInfo(number, ClientStatus.ONLINE, {"nickname": name, **properties})


def test_the_connection_state_is_worded_as_the_header_shows_it():
    failed = ConnectionStateChanged(ConnectionState.CONNECTION_FAILED, reason="refused (attempt 2)", retrying=True)
    assert describe_state(failed) == "connecting: refused (attempt 2)"
    dropped = ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED, code=1006, retrying=True)
    assert describe_state(dropped) == "reconnecting: 1006"
    denied = ConnectionStateChanged(ConnectionState.ACCESS_DENIED, code="bad_token", reason="wrong token")
    assert describe_state(denied) == "closed: ACCESS_DENIED bad_token wrong token"
    assert describe_state(ConnectionStateChanged(ConnectionState.CONNECTION_CLOSED)) == "closed: CONNECTION_CLOSED"


def test_four_joins_are_named_one_by_one_and_more_are_summed_up():
    crowd = [person(f"N{n:04}", f"guest{n}") for n in range(5)]
    assert [line.plain for line in announcements(crowd[:4], "ONLINE")] == [f"guest{n} is ONLINE" for n in range(4)]
    assert [line.plain for line in announcements(crowd, "OFFLINE")] == [
        "guest0, guest1, guest2 and 2 others are OFFLINE"
    ]
    assert announcements([], "ONLINE") == []


def test_who_whois_and_away_say_what_is_shared_and_nothing_unprintable():
    mary = person("M4ry0", "Mary", away="lunch\x1b[2J", mood="sunny")
    john = person("J0hnn", "John")
    assert who_text([john, mary], "Webphone1").plain.splitlines() == [
        "2 on #Webphone1:",
        "  John  J0hnn",
        "  Mary  M4ry0  away",
    ]
    whois = whois_text(mary).plain
    assert whois.splitlines()[0] == "Mary is M4ry0"
    assert "  mood: sunny" in whois.splitlines() and "\x1b" not in whois
    assert whois_text(ClientInfo("X0000", ClientStatus.ONLINE, {})).plain.endswith("shares no properties")
    assert away_text(mary).plain.startswith("Mary is away (lunch") and "\x1b" not in away_text(mary).plain
    assert away_text(john).plain == "John is back"


def test_not_found_left_and_gap_notices():
    assert not_found_text("nobody", "Webphone1", []) == "no one called nobody is on #Webphone1"
    twins = [person("M4ry0", "Mary"), person("M4ry1", "mary")]
    assert not_found_text("mary", "Webphone1", twins) == "2 people are called mary; use a number: M4ry0, M4ry1"
    assert left_text("Mary", "Webphone1", reachable=False).plain == "Mary has left #Webphone1"
    assert left_text("Mary Ann", "Webphone1", reachable=True).plain == (
        'Mary Ann has left #Webphone1; /msg "Mary Ann" to reach their new connection'
    )
    assert gap_text(Gap(after_seq=3, before_seq=10)) == "6 earlier messages could not be replayed"
    assert gap_text(Gap(after_seq=0, before_seq=3, direct=True)) == "2 earlier direct messages could not be replayed"


def test_help_lists_every_command_and_the_keys_or_explains_one():
    everything = help_text(None).plain.splitlines()
    assert everything[0].startswith("Commands")
    assert everything[-1] == "Keys: " + KEYS_HELP
    assert " ".join(help_text("who").plain.split()) == "/who list everyone on the line with their numbers"


class FakeTimers:
    """The scheduler the batcher is given: timers fire when the test says, not by the clock."""

    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[[], None], FakeTimer]] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer()
        self.armed.append((delay, callback, timer))
        return timer

    def fire(self) -> None:
        """Run every armed timer not cancelled, as the loop would when they are due."""
        armed, self.armed = self.armed, []
        for _, callback, timer in armed:
            if not timer.cancelled:
                callback()


class FakeTimer:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_presence_is_posted_once_per_tick_in_arrival_order():
    posted: list[PresenceChanged] = []
    timers = FakeTimers()

    def post(message: object) -> None:
        assert isinstance(message, PresenceChanged)
        posted.append(message)

    batcher = PresenceBatcher(post, interval=0.05, schedule=timers.call_later)
    people = [person(f"N{n:04}", f"guest{n}") for n in range(3)]
    for info in people:
        batcher.add(info)
    assert posted == [] and [delay for delay, _, _ in timers.armed] == [0.05]  # one timer for the tick
    timers.fire()
    assert [message.clients for message in posted] == [tuple(people)]
    batcher.add(people[0])
    batcher.flush()  # what follows presence is never drawn before it
    assert [message.clients for message in posted] == [tuple(people), (people[0],)]
    timers.fire()  # the tick's timer was cancelled by the flush
    batcher.flush()
    assert len(posted) == 2
    batcher.add(people[1])
    batcher.close()  # the worker stopped: what waited is dropped with its timer
    timers.fire()
    batcher.flush()
    assert len(posted) == 2
