"""The client's protocol state machine and its reconnect policy, without sockets, event loop or real time.

Frames go in as the hub would send them; what comes out is checked as the hub would read it
(encoded hellos and requests) or as a program would see it (events).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from typing import Any

import pytest

from ozchat.events import ConnectionStateChanged, RenumberedClient
from ozchat.exceptions import AccessDenied, ConnectionFailed
from ozchat.protocol import (
    Ack,
    ChatMessage,
    ClientInfo,
    ClientStatus,
    ConnectionState,
    ErrorCode,
    ErrorFrame,
    Gap,
    Limits,
    Presence,
    Synced,
    Welcome,
    encode,
)
from ozchat.reconnect import ReconnectPolicy
from ozchat.session import RATE_LIMIT_PAUSES, Answered, ClientSession, ResendDue

SECRET = "s" * 32


def wire(frame: Any) -> dict[str, Any]:
    """A frame as the other side reads it."""
    return json.loads(encode(frame))


def session(**options: Any) -> ClientSession:
    ids = (f"c-{n}" for n in itertools.count(1))
    made = ClientSession(client_secret=SECRET, new_id=lambda: next(ids), **options)
    made.start("Webphone1", {"nickname": "John"})
    return made


def welcome(number: str = "JoHn1", *, epoch: str = "e" * 16, last_seq: int = 0, last_direct_seq: int = 0,
            nickname: str = "John", resumed: bool = False, limits: Limits | None = None, **others: Any) -> Welcome:
    properties = {"nickname": nickname, **others}
    return Welcome(number, "Webphone1", properties, last_seq, resume_token="token-1", resumed=resumed,
                   epoch=epoch, last_direct_seq=last_direct_seq, limits=limits or Limits())


def joined(**welcome_fields: Any) -> ClientSession:
    """A session whose first hello was welcomed and whose presence snapshot is over."""
    john = session()
    john.hello()
    john.granted(welcome(**welcome_fields))
    john.receive(Synced(welcome_fields.get("last_seq", 0)), now=0.0)
    return john


def online(number: str, **properties: Any) -> ClientInfo:
    return ClientInfo(number, ClientStatus.ONLINE, properties)


def message(seq: int, text: str, *, direct_seq: int | None = None, history: bool = False) -> ChatMessage:
    return ChatMessage(seq=seq, ts=1000 + seq, sender="MaRy1", text=text, nickname="Mary",
                       to="JoHn1" if direct_seq is not None else None, direct_seq=direct_seq, history=history)


def texts(events: list[Any]) -> list[str]:
    return [event.text for event in events if isinstance(event, ChatMessage)]


def test_the_session_loads_no_event_loop_and_no_socket_library():
    """In a fresh process: importing the session and the policy brings neither asyncio nor websockets."""
    probe = (
        "import sys, ozchat.session, ozchat.reconnect; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'asyncio', 'websockets', 'httpx', 'textual'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


# ---- the hello and the resume claim ---------------------------------------------------


def test_the_first_hello_asks_for_history_and_claims_nothing():
    john = session(history=20)
    assert wire(john.hello()) == {
        "type": "hello", "line": "Webphone1", "properties": {"nickname": "John"},
        "history": 20, "clientSecret": SECRET,
    }


def test_after_a_drop_the_hello_claims_the_number_and_everything_after_the_last_seen():
    john = joined(last_seq=7, last_direct_seq=2)
    john.receive(message(8, "seen"), now=0.0)
    john.receive(message(8, "to me", direct_seq=3), now=0.0)
    assert wire(john.hello()) == {
        "type": "hello", "line": "Webphone1", "properties": {"nickname": "John"},
        "lastSeq": 8, "epoch": "e" * 16, "lastDirectSeq": 3,
        "resume": {"phoneNumber": "JoHn1", "token": "token-1"}, "clientSecret": SECRET,
    }


def test_a_new_start_forgets_the_number_and_the_numbering():
    john = joined(last_seq=7)
    john.start("Other", {"nickname": "John"})
    hello = wire(john.hello())
    assert hello["line"] == "Other" and "resume" not in hello and "lastSeq" not in hello and "epoch" not in hello
    assert john.phone_number is None and john.roster.find("Mary") == []


# ---- the hub's answer to the hello ----------------------------------------------------


def test_a_taken_nickname_is_retried_as_variants_and_the_taken_one_is_told():
    john = session(pick_free_nickname=True)
    john.hello()
    taken = ErrorFrame(ErrorCode.NICKNAME_IN_USE, "someone has it")
    assert wire(john.answer(taken))["properties"] == {"nickname": "John2"}
    assert wire(john.answer(taken))["properties"] == {"nickname": "John3"}
    granted = john.granted(john.answer(welcome(nickname="John3")))
    assert granted == ConnectionStateChanged(ConnectionState.ACCESS_GRANTED, taken_nickname="John")
    assert john.nickname == "John3"


def test_variants_fit_the_hubs_nickname_limit_and_keep_other_properties():
    john = ClientSession(client_secret=SECRET, pick_free_nickname=True)
    john.start("Webphone1", {"Nickname": "Jonathan", "avatar": "cat"})
    john.hello()
    john.granted(welcome(nickname="Jonathan", avatar="cat", limits=Limits(max_nickname_chars=8)))
    john.hello()  # a reconnect: the name is someone else's by now
    retry = wire(john.answer(ErrorFrame(ErrorCode.NICKNAME_IN_USE, "taken")))
    assert retry["properties"] == {"avatar": "cat", "nickname": "Jonatha2"}
    assert wire(john.answer(ErrorFrame(ErrorCode.NICKNAME_IN_USE, "taken")))["properties"]["nickname"] == "Jonatha3"
    assert retry["resume"] == {"phoneNumber": "JoHn1", "token": "token-1"}


def test_a_taken_nickname_is_a_refusal_unless_asked_to_pick_another():
    john = session()
    john.hello()
    with pytest.raises(AccessDenied) as refused:
        john.answer(ErrorFrame(ErrorCode.NICKNAME_IN_USE, "someone has it"))
    assert refused.value.code == "nickname_in_use"


def test_a_rate_limited_hello_is_a_failure_to_retry_after_the_hubs_wait():
    john = session()
    john.hello()
    with pytest.raises(ConnectionFailed) as later:
        john.answer(ErrorFrame(ErrorCode.RATE_LIMITED, "too many joins", retry_after=4.0))
    assert later.value.retry_after == 4.0


def test_a_hello_the_hub_could_not_store_is_a_failure_to_retry_not_a_refusal():
    john = session()
    john.hello()
    with pytest.raises(ConnectionFailed, match="cannot reach the store") as later:
        john.answer(ErrorFrame(ErrorCode.STORE_FAILED, "the hub cannot reach the store it shares with other hubs"))
    assert later.value.retry_after is None  # the reconnect policy's own wait


def test_a_hello_answered_with_anything_but_a_welcome_fails():
    john = session()
    john.hello()
    with pytest.raises(ConnectionFailed, match="Synced"):
        john.answer(Synced(0))


# ---- replay, dedup and gaps ----------------------------------------------------------


def test_numbering_starts_at_the_first_welcome_and_a_replay_shows_only_what_is_new():
    john = joined(last_seq=5, last_direct_seq=1)
    replay = [message(4, "old"), message(5, "seen"), message(6, "new"), message(6, "direct seen", direct_seq=1),
              message(6, "direct new", direct_seq=2), message(7, "newer")]
    shown = [event for frame in replay for event in john.receive(frame, now=0.0)]
    assert texts(shown) == ["new", "direct new", "newer"]
    assert (john.last_seq, john.last_direct_seq) == (7, 2)


def test_history_for_a_newcomer_is_shown_though_numbered_below_the_welcome():
    john = session()
    john.hello()
    john.granted(welcome(last_seq=3))
    shown = [event for seq in (1, 2, 3) for event in john.receive(message(seq, f"h{seq}", history=True), now=0.0)]
    assert texts(shown) == ["h1", "h2", "h3"]


def test_a_gap_is_told_and_the_messages_after_it_are_shown():
    john = joined(last_seq=3)
    john.hello()
    john.granted(welcome(last_seq=20, resumed=True))
    events = john.receive(Gap(after_seq=3, before_seq=16), now=0.0)
    events += john.receive(message(16, "kept"), now=0.0)
    assert events == [Gap(after_seq=3, before_seq=16), message(16, "kept")]


def test_another_epoch_is_a_history_reset_and_the_new_numbering_counts_from_zero():
    john = joined(last_seq=40, last_direct_seq=4)
    john.hello()
    granted = john.granted(welcome(epoch="f" * 16, last_seq=2))
    assert granted.history_reset
    shown = john.receive(message(1, "first of the new numbering"), now=0.0)
    shown += john.receive(message(1, "direct, new numbering", direct_seq=1), now=0.0)
    assert texts(shown) == ["first of the new numbering", "direct, new numbering"]
    assert wire(john.hello())["epoch"] == "f" * 16


def test_the_same_epoch_again_is_no_reset():
    john = joined(last_seq=4)
    john.hello()
    assert not john.granted(welcome(last_seq=9, resumed=True)).history_reset
    assert john.last_seq == 4  # only what the replay brings moves it


# ---- requests: answers, resends, dedup by client id ---------------------------------


def test_requests_get_their_own_ids_and_an_ack_answers_only_its_own():
    john = joined(last_seq=5)
    first, second = john.send("one"), john.send("two", "MaRy1")
    assert [wire_frame["id"] for wire_frame in map(json.loads, (first.data, second.data))] == ["c-1", "c-2"]
    [answered] = john.receive(Ack("c-2", seq=6, ts=77, direct_seq=1), now=0.0)
    assert isinstance(answered, Answered) and answered.request_id == "c-2"
    sent = john.message_sent(answered)
    assert (sent.seq, sent.text, sent.to, sent.direct_seq, sent.sender) == (6, "two", "MaRy1", 1, "JoHn1")
    assert john.resends() == [first.data]


def test_a_sent_message_carries_the_nickname_whatever_the_case_of_its_property_name():
    john = ClientSession(client_secret=SECRET)
    john.start("Webphone1", {"NickName": "John"})
    john.hello()
    john.granted(Welcome("JoHn1", "Webphone1", {"NickName": "John"}, 0, resume_token="token-1", epoch="e" * 16))
    sent = john.send("hi")
    [answered] = john.receive(Ack(sent.request_id, seq=1, ts=77), now=0.0)
    assert isinstance(answered, Answered) and john.message_sent(answered).nickname == "John"


def test_what_was_not_answered_is_resent_after_a_reconnect_with_the_same_id():
    john = joined()
    answered, waiting, given_up = john.send("answered"), john.send("waiting"), john.update({"away": "lunch"})
    john.receive(Ack(answered.request_id, seq=1, ts=1), now=0.0)
    john.forget(given_up.request_id)
    john.hello()
    john.granted(welcome(resumed=True))
    assert [json.loads(data) for data in john.resends()] == [
        {"type": "send", "text": "waiting", "id": waiting.request_id}
    ]


def test_a_request_answered_twice_after_a_resend_is_answered_once():
    john = joined()
    outgoing = john.send("typed while away")
    first = john.receive(Ack(outgoing.request_id, seq=1, ts=1), now=0.0)
    again = john.receive(Ack(outgoing.request_id, seq=1, ts=1), now=0.0)
    refused_again = john.receive(ErrorFrame(ErrorCode.BAD_FIELD, "late", id=outgoing.request_id), now=0.0)
    assert [type(event) for event in first] == [Answered] and again == [] and refused_again == []
    assert john.resends() == []


def test_an_error_for_no_request_of_ours_is_an_event():
    john = joined()
    error = ErrorFrame(ErrorCode.BAD_FIELD, "not yours", id="someone-else")
    assert john.receive(error, now=0.0) == [error]


def test_a_rate_limited_request_is_due_again_after_the_longer_of_its_pause_and_the_hubs_wait():
    john = joined()
    outgoing = john.send("hi")
    limited = ErrorFrame(ErrorCode.RATE_LIMITED, "slow down", id=outgoing.request_id, retry_after=0.3)
    due = [john.receive(limited, now=100.0)[0] for _ in RATE_LIMIT_PAUSES]
    assert due == [ResendDue(outgoing.request_id, 100.0 + max(pause, 0.3)) for pause in RATE_LIMIT_PAUSES]
    assert john.resends() == [outgoing.data]  # still waiting: a reconnect meanwhile resends it
    [final] = john.receive(limited, now=200.0)
    assert isinstance(final, Answered) and final.answer == limited


def test_an_update_ack_gives_the_hubs_merge_and_a_new_nickname_makes_new_variants():
    john = joined()
    outgoing = john.update({"NICKNAME": "Johnny", "away": "lunch"})
    [answered] = john.receive(Ack(outgoing.request_id, properties={"NICKNAME": "Johnny", "away": "lunch"}), now=0.0)
    me = john.properties_updated(answered)
    assert me == ClientInfo("JoHn1", ClientStatus.ONLINE, {"NICKNAME": "Johnny", "away": "lunch"})
    assert john.nickname == "Johnny"


# ---- presence and reconcile --------------------------------------------------------


def test_the_snapshot_is_told_at_once_when_it_ends_and_live_changes_one_by_one():
    john = session()
    john.hello()
    john.granted(welcome())
    assert john.receive(Presence([online("MaRy1", nickname="Mary"), online("JoHn1", nickname="John")]), now=0.0) == []
    assert john.receive(Synced(0), now=0.0) == [online("MaRy1", nickname="Mary"), Synced(0)]
    left = ClientInfo("MaRy1", ClientStatus.OFFLINE, {"nickname": "Mary"})
    assert john.receive(Presence([left]), now=0.0) == [left]
    assert len(john.roster) == 0


def test_after_a_reconnect_only_real_changes_are_told_in_order():
    john = session()
    john.hello()
    john.granted(welcome())
    before = [online("AnNa1", nickname="Anna"), online("BoB01", nickname="Bob", avatar="cat"),
              online("CaRo1", nickname="Carol"), online("DaVe1", nickname="Dave")]
    john.receive(Presence(before), now=0.0)
    john.receive(Synced(0), now=0.0)
    john.hello()
    john.granted(welcome(resumed=False))
    after = [online("AnNa1", nickname="Anna"), online("BoB02", nickname="Bob", avatar="cat"),
             online("DaVe1", nickname="Dave", away="lunch"), online("EvE01", nickname="Eve")]
    john.receive(Presence(after[:2]), now=0.0)
    john.receive(Presence(after[2:]), now=0.0)
    told = john.receive(Synced(0), now=0.0)
    assert told == [
        ClientInfo("CaRo1", ClientStatus.OFFLINE, {"nickname": "Carol"}),
        RenumberedClient("BoB02", ClientStatus.ONLINE, {"nickname": "Bob", "avatar": "cat"}, "BoB01"),
        online("DaVe1", nickname="Dave", away="lunch"),
        online("EvE01", nickname="Eve"),
        Synced(0),
    ]
    assert [info.phone_number for info in john.roster] == ["AnNa1", "BoB02", "DaVe1", "EvE01"]


def test_two_alike_newcomers_are_no_renumbering():
    john = session()
    john.hello()
    john.granted(welcome())
    john.receive(Presence([online("BoB01", avatar="cat")]), now=0.0)
    john.receive(Synced(0), now=0.0)
    john.hello()
    john.granted(welcome())
    john.receive(Presence([online("BoB02", avatar="cat"), online("BoB03", avatar="cat")]), now=0.0)
    told = john.receive(Synced(0), now=0.0)
    assert not any(isinstance(event, RenumberedClient) for event in told)
    assert [(e.phone_number, e.status) for e in told[:-1]] == [
        ("BoB01", ClientStatus.OFFLINE), ("BoB02", ClientStatus.ONLINE), ("BoB03", ClientStatus.ONLINE)]


def test_the_end_of_a_connection_empties_the_roster_and_drops_what_waited():
    john = joined()
    john.receive(Presence([online("MaRy1", nickname="Mary")]), now=0.0)
    john.send("never answered")
    john.end()
    assert len(john.roster) == 0 and john.resends() == []


# ---- the reconnect policy -----------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_policy_doubles_from_base_to_cap_with_equal_jitter():
    lowest = ReconnectPolicy(0.5, 4.0, random=lambda: 0.0)
    highest = ReconnectPolicy(0.5, 4.0, random=lambda: 1.0)
    assert [lowest.failed() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [highest.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert highest.failures == 6


def test_the_policy_waits_at_least_the_hubs_retry_after():
    policy = ReconnectPolicy(0.5, 30.0, random=lambda: 0.5)
    assert policy.failed(retry_after=7.0) == 7.0
    assert policy.failed(retry_after=0.1) == 0.75  # backoff larger than the hint: the backoff


def test_the_policy_starts_short_again_after_a_success():
    policy = ReconnectPolicy(1.0, 30.0, random=lambda: 1.0)
    for _ in range(5):
        policy.failed()
    policy.reset()
    assert (policy.failed(), policy.failures) == (1.0, 1)


def test_the_time_left_counts_down_on_the_policys_clock():
    clock = FakeClock()
    policy = ReconnectPolicy(2.0, 30.0, random=lambda: 1.0, clock=clock)
    assert policy.failed() == 2.0
    clock.now += 0.5
    assert policy.time_left() == 1.5
    clock.now += 5
    assert policy.time_left() == 0.0


def test_a_long_outage_keeps_the_wait_at_the_cap():
    policy = ReconnectPolicy(0.5, 30.0, random=lambda: 1.0)
    waits = [policy.failed() for _ in range(5000)]  # days of retrying: no overflow
    assert waits[-1] == 30.0 and max(waits) == 30.0
