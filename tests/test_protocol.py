"""The wire protocol and the roster as plain code: no sockets, no event loop."""

from __future__ import annotations

import json
import re
import string
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ozchat import ClientInfo, ClientStatus, ProtocolError, Roster
from ozchat.protocol import (
    PROTOCOL_VERSION,
    Ack,
    ChatMessage,
    ErrorCode,
    ErrorFrame,
    Hello,
    Presence,
    Send,
    Update,
    Welcome,
    decode_client_frame,
    decode_hub_frame,
    encode,
    merge_properties,
    new_phone_number,
    server_url,
    validate_line,
    validate_nickname,
)
from ozchat.text import has_unprintable, is_unprintable, printable


def test_hello_round_trip_keeps_property_names():
    frame = decode_client_frame(b'{"type":"hello","line":"Webphone1","properties":{"Nickname":"John"},"token":"t"}')
    assert frame == Hello("Webphone1", properties={"Nickname": "John"}, token="t")


def test_send_and_update_decode():
    assert decode_client_frame('{"type":"send","text":"hi","to":"Qdb3W","id":"c1"}') == Send("hi", to="Qdb3W", id="c1")
    assert decode_client_frame('{"type":"update","properties":{"away":null}}') == Update({"away": None})


def test_hub_frames_use_ozeki_names_on_the_wire():
    info = ClientInfo("Qdb3W", ClientStatus.ONLINE, {"nickname": "John"})
    assert json.loads(encode(Presence([info]))) == {
        "type": "presence",
        "clients": [{"phoneNumber": "Qdb3W", "status": "ONLINE", "properties": {"nickname": "John"}}],
    }
    message = ChatMessage(seq=3, ts=1700000000000, sender="Qdb3W", text="hi", nickname="John")
    assert json.loads(encode(message)) == {
        "type": "message", "seq": 3, "ts": 1700000000000, "from": "Qdb3W", "text": "hi", "nickname": "John",
    }
    welcome = json.loads(encode(Welcome("Qdb3W", "Webphone1", {}, 0)))
    assert welcome["state"] == "ACCESS_GRANTED" and welcome["version"] == 1 and welcome["lastSeq"] == 0


@pytest.mark.parametrize(
    "frame",
    [
        Welcome("Qdb3W", "Webphone1", {"nickname": "J"}, 4),
        Presence([ClientInfo("Qdb3W", ClientStatus.OFFLINE, {"a": [1, {"b": None}]})]),
        ChatMessage(seq=1, ts=2, sender="AAAAA", text="t", to="BBBBB", action=True, id="x", history=True),
        Ack("x", 1, 2),
        ErrorFrame("bad_json", "nope", "x"),
    ],
)
def test_hub_frames_round_trip(frame):
    assert decode_hub_frame(encode(frame)) == frame


def test_client_info_reads_like_ozeki():
    info = ClientInfo("Qdb3W", ClientStatus.ONLINE, {"Nickname": "John", "avatar": "http://x/1.png"})
    assert info.nickname == info.NICKNAME == info["nickname"] == "John"
    assert info.Avatar == "http://x/1.png"
    assert info.display_name == "John"
    with pytest.raises(AttributeError):
        _ = info.missing
    with pytest.raises(KeyError):
        info["missing"]
    assert ClientInfo("Qdb3W", ClientStatus.ONLINE).display_name == "Qdb3W"


def test_merge_properties_ignores_case_and_null_removes():
    merged = merge_properties({"Nickname": "John", "away": "lunch"}, {"nickname": "Johnny", "away": None})
    assert merged == {"nickname": "Johnny"}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe", "bad_json"),
        (b"{", "bad_json"),
        (b"[]", "not_object"),
        (b'{"type":"nope"}', "unknown_type"),
        (b'{"type":"send","text":1}', "bad_field"),
        (b'{"type":"hello","line":"a b"}', "bad_line"),
        (b'{"type":"send","text":"x","deep":' + b"[" * 100000 + b"]" * 100000 + b"}", "too_deep"),
    ],
)
def test_decode_errors_have_stable_codes(raw, code):
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(raw)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"type":"send","text":"x","to":"abc","id":"k3"}', "bad_field"),
        (b'{"type":"sned","text":"x","id":"k3"}', "unknown_type"),
        (b'{"id":"k3","text":"x"}', "unknown_type"),
        (
            b'{"type":"send","text":"x","deep":' + b"[" * 100000 + b"]" * 100000 + b',"i\\"d":"no","id" : "k3"}',
            "too_deep",
        ),
        (b'{"type":"update","properties":{"a":' + b"[" * 20 + b"]" * 20 + b'},"id":"k3"}', "too_deep"),
    ],
    ids=["bad-recipient", "misspelt-type", "no-type", "nested-json", "nested-properties"],
)
def test_decode_errors_carry_the_id_they_could_read(raw, code):
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(raw)
    assert (caught.value.code, caught.value.request_id) == (code, "k3")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"send","text":1,"id":7}',
        b'{"type":"send","text":1,"id":""}',
        b'{"type":"x","nested":{"id":"inner"}}',
        b"[]",
    ],
)
def test_decode_errors_carry_no_id_that_is_not_a_valid_top_level_one(raw):
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(raw)
    assert caught.value.request_id is None


@given(st.binary(max_size=200))
def test_decoder_never_raises_anything_but_protocol_error(raw):
    try:
        decode_client_frame(raw)
    except ProtocolError:
        pass


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
    max_leaves=30,
)


@given(_JSON_VALUES)
def test_any_json_value_decodes_or_gets_a_code(value):
    try:
        decode_client_frame(json.dumps(value))
    except ProtocolError as exc:
        assert exc.code in {"not_object", "unknown_type", "bad_field"}


def test_hub_frames_with_malformed_phone_numbers_are_refused():
    for frame in (
        b'{"type":"presence","clients":[{"phoneNumber":"\\u001b[2J","status":"ONLINE"}]}',
        b'{"type":"message","seq":1,"ts":1,"from":"#bad!","text":"hi"}',
        b'{"type":"welcome","phoneNumber":"toolong","line":"L","properties":{},"lastSeq":0}',
    ):
        with pytest.raises(ProtocolError) as caught:
            decode_hub_frame(frame)
        assert caught.value.code == "bad_field"


def test_avatar_property_must_be_a_plain_address():
    from ozchat.protocol import validate_properties

    assert validate_properties({"avatar": "http://x/1.png"}) == {"avatar": "http://x/1.png"}
    for bad in ("a\x00b", "has space", "x" * 2049, 7):
        with pytest.raises(ProtocolError) as caught:
            validate_properties({"avatar": bad})
        assert caught.value.code == "bad_property"


def test_phone_numbers_are_five_alphanumerics_drawn_from_all_62():
    numbers = [new_phone_number() for _ in range(2000)]
    assert all(len(number) == 5 and number.isascii() and number.isalnum() for number in numbers)
    # 10,000 draws of 62 characters: about 161 of each; one never drawn would mean a part of the alphabet is lost.
    assert set("".join(numbers)) == set(string.ascii_letters + string.digits)


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("localhost", "ws://localhost:7779/"),
        ("localhost:8000", "ws://localhost:8000/"),
        ("127.0.0.1", "ws://127.0.0.1:7779/"),
        ("[::1]:9000", "ws://[::1]:9000/"),
        ("::1", "ws://[::1]:7779/"),
        ("fe80::1%eth0", "ws://[fe80::1%eth0]:7779/"),
        ("wss://chat.example.org/ozchat", "wss://chat.example.org/ozchat"),
    ],
)
def test_server_address_forms(address, url):
    assert server_url(address) == url


@pytest.mark.parametrize("address", ["", "http://x", "host:notaport", "ws://"])
def test_bad_server_addresses(address):
    with pytest.raises(ValueError):
        server_url(address)


def test_roster_built_from_events_sorted_by_nickname():
    roster = Roster()
    roster.apply(ClientInfo("BBBBB", ClientStatus.ONLINE, {"nickname": "zed"}))
    roster.apply(ClientInfo("AAAAA", ClientStatus.ONLINE, {"nickname": "Amy"}))
    roster.apply(ClientInfo("CCCCC", ClientStatus.ONLINE, {}))
    assert [i.display_name for i in roster] == ["Amy", "CCCCC", "zed"]
    previous = roster.apply(ClientInfo("BBBBB", ClientStatus.ONLINE, {"nickname": "Bea"}))
    assert previous.nickname == "zed"
    assert [i.display_name for i in roster.find("bea")] == ["Bea"]
    assert roster.find("AAAAA")[0].nickname == "Amy"
    roster.apply(ClientInfo("AAAAA", ClientStatus.OFFLINE, {"nickname": "Amy"}))
    assert "AAAAA" not in roster and len(roster) == 2


def test_printable_defuses_terminal_sequences():
    shown = printable("a\x1b]52;c;SGVsbG8=\x07b\x9b2J\u202eevil\r\n")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u202e" not in shown
    assert shown.startswith("a␛]52;c;SGVsbG8=␇b")


def test_printable_shows_invisible_format_characters_but_keeps_emoji_joiners():
    assert printable("a\u200bb\u061cc\U000e0041d\u2028e") == "a<U+200B>b<U+061C>c<U+E0041>d<U+2028>e"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert printable(family) == family


@given(st.text())
def test_printable_output_never_has_controls(text):
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in printable(text))


def test_the_quick_unprintable_check_agrees_with_the_character_rule_on_every_code_point():
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert has_unprintable(f"a {char}") is is_unprintable(char), hex(code)
        assert has_unprintable(char, or_space=True) is (is_unprintable(char) or char.isspace()), hex(code)


@given(st.characters())
def test_the_hub_refuses_in_names_exactly_the_characters_a_terminal_is_shown_escaped(char):
    escaped = printable(char) != char
    with pytest.raises(ProtocolError) if escaped else _no_error():
        validate_nickname(f"a{char}b")
    if not char.isspace():
        with pytest.raises(ProtocolError) if escaped else _no_error():
            validate_line(f"a{char}b")


class _no_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


def test_every_error_code_in_the_protocol_document_is_an_error_code_and_back():
    document = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text("utf-8")
    table = document.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in table.splitlines() if row.startswith("| `")]
    documented = {code for row in rows for code in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == {code.value for code in ErrorCode}


def test_the_protocol_document_names_the_version_the_code_speaks():
    document = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text("utf-8")
    assert document.splitlines()[0] == f"# The ozchat wire protocol, version {PROTOCOL_VERSION}"


def test_property_names_are_read_ignoring_case_in_one_place():
    from ozchat.protocol import ClientInfo, ClientStatus, nickname_of, property_value

    assert property_value({"NickName": "Ann", "mood": "ok"}, "nickname") == "Ann"
    assert property_value({"mood": "ok"}, "MOOD") == "ok" and property_value({}, "mood", "none") == "none"
    assert nickname_of({"NICKNAME": "Ann"}) == "Ann" and nickname_of({"nickname": 7}) is None
    info = ClientInfo("AAAAA", ClientStatus.ONLINE, {"NickName": "Ann"})
    assert (info.nickname, info["NICKNAME"], info.get("avatar", "-")) == ("Ann", "Ann", "-")
