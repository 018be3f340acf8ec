"""The one rule for hosts in URLs."""

from __future__ import annotations

import pytest

from ozchat.addresses import bare_host, url_host


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


@pytest.mark.parametrize(
    ("host", "bare"),
    [
        ("[::1]", "::1"), ("[fe80::1%eth0]", "fe80::1%eth0"), ("::1", "::1"), ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_brackets_come_off_an_ipv6_literal_and_bracketing_it_again_gives_it_back(host: str, bare: str):
    assert bare_host(host) == bare
    assert bare_host(url_host(bare)) == bare
