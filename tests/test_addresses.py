"""The one rule for hosts in URLs."""

from __future__ import annotations

import pytest

from ozchat.addresses import url_host


@pytest.mark.parametrize(
    ("host", "spelled"),
    [
        ("::1", "[::1]"),
        ("fe80::1%eth0", "[fe80::1%eth0]"),
        ("[::1]", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("chat.example", "chat.example"),
    ],
)
def test_an_ipv6_literal_is_bracketed_once_and_anything_else_is_left_as_it_is(host: str, spelled: str):
    assert url_host(host) == spelled
