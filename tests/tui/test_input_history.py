"""Input history that lasts: kept per hub and line in a bounded file, walked with Up/Down, searched with Ctrl+R."""

from __future__ import annotations

import stat

from ozchat.input_history import InputHistory, input_history_path

from .conftest import joined, make_app, until


def test_the_file_is_bounded_private_and_keeps_line_breaks(tmp_path):
    path = tmp_path / "history" / "127.0.0.1_7779" / "Webphone1.jsonl"
    history = InputHistory(path, max_entries=3, root=tmp_path / "history")
    for n in range(10):
        history.add(f"input {n}\nsecond line")
    assert InputHistory(path, max_entries=3).load() == [f"input {n}\nsecond line" for n in (7, 8, 9)]
    assert len(path.read_text().splitlines()) <= 6
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


def test_a_torn_or_missing_file_loses_only_what_cannot_be_read(tmp_path):
    path = tmp_path / "Webphone1.jsonl"
    assert InputHistory(path).load() == []
    path.write_text('"kept"\n{"not": "a string"}\n"also kept"\n"torn')
    assert InputHistory(path).load() == ["kept", "also kept"]


def test_the_file_is_per_hub_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert input_history_path("127.0.0.1:7779", "Sales") == tmp_path / "ozchat/input-history/127.0.0.1_7779/Sales.jsonl"
    assert input_history_path("localhost", "../x").name == ".._x.jsonl"


async def test_what_was_typed_is_recalled_in_the_next_run(hub, tmp_path):
    path = tmp_path / "Webphone1.jsonl"
    first = make_app(hub.url, input_history=InputHistory(path))
    async with joined(first) as pilot:
        await pilot.press(*"first message", "enter", *"/who", "enter")
        await until(pilot, lambda: len(InputHistory(path).load()) == 2)
    second = make_app(hub.url, input_history=InputHistory(path))
    async with joined(second) as pilot:
        composer = second.query_one("#composer")
        await pilot.press("up")
        assert composer.value == "/who"
        await pilot.press("up")
        assert composer.value == "first message"
        await pilot.press("down", "down")
        assert composer.value == ""


async def test_ctrl_r_finds_the_newest_earlier_input_holding_the_typed_text(hub, tmp_path):
    path = tmp_path / "Webphone1.jsonl"
    history = InputHistory(path)
    for text in ["deploy to staging", "lunch?", "DEPLOY to production\nafter lunch", "/who"]:
        history.add(text)
    app = make_app(hub.url, input_history=InputHistory(path))
    async with joined(app) as pilot:
        composer = app.query_one("#composer")
        await pilot.press(*"deploy", "ctrl+r")
        assert composer.value == "DEPLOY to production\nafter lunch"
        assert "earlier input with 'deploy'" in str(composer.border_title)
        await pilot.press("ctrl+r")
        assert composer.value == "deploy to staging"
        await pilot.press("ctrl+r")  # nothing older: the find stays
        assert composer.value == "deploy to staging" and "no earlier input" in str(composer.border_title)
        await pilot.press("x")
        await until(pilot, lambda: composer.border_title is None)
