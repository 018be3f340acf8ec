"""The command palette: ozchat's commands and people, and a theme picked there is kept for the next start."""

from __future__ import annotations

from textual.command import CommandPalette

from ozchat.settings import load_settings
from ozchat.tui.widgets import Composer, ProfileCard

from .conftest import joined, make_app, until


def listed_in_palette(app) -> int:
    """How many entries the open palette lists (0 with no palette open)."""
    return app.screen.query_one("CommandList").option_count if isinstance(app.screen, CommandPalette) else 0


def first_match(app) -> str:
    """The palette's first entry as shown."""
    return str(app.screen.query_one("CommandList").get_option_at_index(0).prompt)


async def pick(pilot, typed: str) -> None:
    """Open the palette, type, and take the first match once the list shows it."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*typed)
    await until(pilot, lambda: app.screen.query("CommandList") and app.screen.query_one("CommandList").option_count > 0)
    await until(pilot, lambda: typed.casefold() in first_match(app).casefold())
    await pilot.press("enter")


async def test_a_theme_picked_in_the_palette_is_kept_in_the_settings_file(hub, tmp_path):
    settings = tmp_path / "config" / "settings.toml"
    settings.parent.mkdir()
    settings.write_text('nick = "John"\n\n[properties]\nmood = "sunny"\n')
    app = make_app(hub.url, settings_file=settings)
    async with joined(app) as pilot:
        await pick(pilot, "theme")
        await until(pilot, lambda: listed_in_palette(app) > 1)
        await pilot.press(*"nord")
        await until(pilot, lambda: "nord" in first_match(app))
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "nord")
    kept = load_settings(settings)
    assert (kept.theme, kept.nick, kept.properties) == ("nord", "John", {"mood": "sunny"})


async def test_the_palette_lists_slash_commands_and_people(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await connect(nickname="Mary")
        await until(pilot, lambda: mary.phone_number in app.roster)
        await pick(pilot, "/whois")
        await until(pilot, lambda: app.query_one(Composer).value == "/whois ")

        await pick(pilot, "Message Mary")
        await until(pilot, lambda: app.tabs.active == f"dm-{mary.phone_number}")

        await pick(pilot, "Profile of Mary")
        await until(pilot, lambda: isinstance(app.screen, ProfileCard))
        texts = " ".join(str(widget.render()) for widget in app.screen.query("Static, Label"))
        assert "Mary" in texts and mary.phone_number in texts
