"""The pure rules of the chat logs: file names, line format and what counts as logged already."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ozchat.chat_logs import LoggedUpTo, event_text, hub_folder, log_line, message_text, name_part


@pytest.mark.parametrize(
    ("name", "part"),
    [("Webphone1", "Webphone1"), ("../etc", ".._etc"), ("..", "_.."), (".", "_."), ("a/b\\c:d", "a_b_c_d"),
     ("bell\x07", "bell␇"), ("Zoë", "Zoë")],
)
def test_a_name_is_one_harmless_file_name(name, part):
    assert name_part(name) == part


@pytest.mark.parametrize(
    ("server", "folder"),
    [("localhost", "localhost_7779"), ("127.0.0.1:8000", "127.0.0.1_8000"), ("[::1]:7779", "__1_7779"),
     ("wss://chat.example.com/", "chat.example.com_443"), ("ws://chat.example.com/", "chat.example.com_80")],
)
def test_hub_folder_is_host_and_port(server, folder):
    assert hub_folder(server) == folder


def test_one_line_per_message_with_controls_made_visible():
    time = datetime(2026, 11, 26, 23, 5, 9, tzinfo=UTC)
    assert log_line(time, message_text("Mary", "hi\nthere\x1b[31m")) == "2026-11-26 23:05:09 <Mary> hi␊there␛[31m\n"
    assert log_line(time, message_text("Mary\x1b]0;x\x07", "waves", action=True)).endswith("* Mary␛]0;x␇ waves\n")
    assert log_line(time, event_text("John is ONLINE")) == "2026-11-26 23:05:09 -- John is ONLINE\n"


def test_a_number_is_logged_once_per_epoch_and_each_numbering_counts_alone():
    logged = LoggedUpTo()
    assert [logged.take("e1", "line", seq) for seq in (1, 2, 3)] == [True, True, True]
    assert logged.take("e1", "line", 2) is False
    assert logged.take("e1", "direct Qdb3W", 1) is True
    again = LoggedUpTo.from_json(logged.to_json())
    assert again.take("e1", "line", 3) is False and again.take("e1", "line", 4) is True
    assert again.take("e2", "line", 1) is True  # a hub that lost its history numbers afresh: all new


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"epoch": 3, "highest": {}}', b'{"epoch": "e", "highest": 1}'])
def test_an_unreadable_record_counts_as_nothing_logged(data):
    assert LoggedUpTo.from_json(data).take("e", "line", 1) is True


def test_a_foreign_count_in_the_record_is_dropped():
    logged = LoggedUpTo.from_json(b'{"epoch": "e", "highest": {"line": true, "other": 5}}')
    assert logged.take("e", "line", 1) is True and logged.take("e", "other", 5) is False
