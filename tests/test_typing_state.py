"""Typing without sockets: the hub's relay on a fake clock, and a client's sender and board."""

from __future__ import annotations

from typing import Any

from test_hub_state import Hub

from ozchat.hub.typing_relay import MAX_CONVERSATIONS, TypingGate
from ozchat.protocol import TYPING_INTERVAL, TYPING_REFRESH, ChatMessage, Typing, TypingNotice
from ozchat.session import ClientSession
from ozchat.typing_signals import TypingBoard, TypingSender


def _typing_to(frames: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(to, frame) for to, frame in frames if frame["type"] == "typing"]


def _three() -> tuple[Hub, str, str, str]:
    hub = Hub()
    a = hub.hello("a", "Ann")["phoneNumber"]
    b = hub.hello("b", "Ben")["phoneNumber"]
    c = hub.hello("c", "Cid")["phoneNumber"]
    return hub, a, b, c


def test_the_hub_relays_a_typing_to_the_others_and_at_most_one_a_second_per_conversation():
    hub, a, b, _ = _three()
    relayed = _typing_to(hub.feed("a", {"type": "typing"}))
    assert relayed == [("b", {"type": "typing", "from": a}), ("c", {"type": "typing", "from": a})]
    hub.now += TYPING_INTERVAL - 0.01
    assert hub.feed("a", {"type": "typing"}) == []
    assert [to for to, _ in _typing_to(hub.feed("a", {"type": "typing", "to": b}))] == ["b"]  # another conversation
    hub.now += 0.01
    assert [to for to, _ in _typing_to(hub.feed("a", {"type": "typing"}))] == ["b", "c"]


def test_the_hub_relays_a_stopped_only_to_end_a_relayed_typing():
    hub, a, _, _ = _three()
    assert hub.feed("a", {"type": "typing", "stopped": True}) == []
    hub.feed("a", {"type": "typing"})
    stopped = _typing_to(hub.feed("a", {"type": "typing", "stopped": True}))
    assert stopped == [(to, {"type": "typing", "from": a, "stopped": True}) for to in ("b", "c")]
    assert hub.feed("a", {"type": "typing", "stopped": True}) == []
    # Typing again after a stop waits out the same second.
    assert hub.feed("a", {"type": "typing"}) == []
    hub.now += TYPING_INTERVAL
    assert len(_typing_to(hub.feed("a", {"type": "typing"}))) == 2


def test_the_hub_forgets_the_conversation_typed_in_longest_ago_past_sixty_four():
    gate = TypingGate()
    assert gate.admit(Typing(None), 0.0)
    for n in range(MAX_CONVERSATIONS):
        assert gate.admit(Typing(f"N{n:04}"), 0.0)
    # The line, typed in longest ago, is forgotten: its stopped is dropped, a typing relayed as a first.
    assert not gate.admit(Typing(None, stopped=True), 0.1)
    assert gate.admit(Typing(None), 0.2)
    assert not gate.admit(Typing(f"N{MAX_CONVERSATIONS - 1:04}"), 0.3)  # still remembered: within its second


def test_the_hub_sends_direct_typing_to_the_partner_only_and_none_to_a_lingering_one():
    hub, a, b, c = _three()
    assert _typing_to(hub.feed("a", {"type": "typing", "to": c})) == [("c", {"type": "typing", "from": a, "to": c})]
    hub.close("b", clean=False)  # in its grace period: still on the line, not connected
    assert hub.feed("a", {"type": "typing", "to": b}) == []
    hub.now += 100
    hub.expire()
    assert hub.feed("a", {"type": "typing", "to": b, "id": "t-1"}) == [
        ("a", {"type": "error", "code": "unknown_recipient", "message": f"no client {b!r} on line 'L'", "id": "t-1"})
    ]


def test_the_sender_sends_one_typing_every_refresh_and_a_stopped_only_after_one():
    sender = TypingSender()
    assert sender.frame(None, 0.0, stopped=True) is None
    assert sender.frame(None, 0.0) is not None
    assert sender.frame(None, TYPING_REFRESH - 0.01) is None
    assert sender.frame("Qdb3W", 1.0) is not None  # each conversation on its own
    assert sender.frame(None, TYPING_REFRESH) is not None
    stopped = sender.frame(None, TYPING_REFRESH + 0.1, stopped=True)
    assert stopped is not None and stopped.stopped
    # After a stop, typing again is sent as soon as the hub would relay it.
    assert sender.frame(None, TYPING_REFRESH + TYPING_INTERVAL - 0.01) is None
    assert sender.frame(None, TYPING_REFRESH + TYPING_INTERVAL) is not None


def _message(sender: str, to: str | None = None) -> ChatMessage:
    return ChatMessage(seq=1, ts=0, sender=sender, text="hi", to=to)


def test_the_board_shows_a_typist_until_the_timeout_their_message_their_stop_or_their_leaving():
    board = TypingBoard(shown=6.0)
    board.heard(TypingNotice("Mary1"), 0.0)
    board.heard(TypingNotice("John1"), 1.0)
    board.heard(TypingNotice("Anna1", to="MeMe1"), 1.0)
    assert board.typists(None, 1.0) == ["Mary1", "John1"]
    assert board.typists("Anna1", 1.0) == ["Anna1"] and board.typists("John1", 1.0) == []
    assert board.expire(5.0) == 6.0
    assert board.expire(6.0) == 7.0 and board.typists(None, 6.0) == ["John1"]
    board.message(_message("John1"), me="MeMe1")
    assert board.typists(None, 6.0) == []
    board.message(_message("MeMe1", to="Anna1"), me="MeMe1")  # my own message stops nobody
    assert board.typists("Anna1", 6.0) == ["Anna1"]
    board.gone("Anna1")
    assert board.expire(6.0) is None
    board.heard(TypingNotice("Mary1"), 7.0)
    board.heard(TypingNotice("Mary1", stopped=True), 7.5)
    assert board.typists(None, 7.5) == []


def test_the_session_tells_of_others_typing_not_its_own():
    session = ClientSession()
    session.phone_number = "MeMe1"
    assert session.receive(TypingNotice("MeMe1"), 0.0) == []
    assert session.receive(TypingNotice("Mary1"), 0.0) == [TypingNotice("Mary1")]
