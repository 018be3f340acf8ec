"""What others send is drawn literally: no markup is obeyed, no control byte reaches the terminal."""

from __future__ import annotations

import re

from ozchat.tui.widgets import ChatLog, PeopleList

from .conftest import joined, said, until

MARKUP_NICK = "[bold red]admin[/]"
HOSTILE_TEXT = "copy \x1b]52;c;aGk=\x07 then \x9b2J clear [link=http://evil.example]click[/link] [/nope]"
CONTROL_BYTES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def rendered_lines(widget) -> list[str]:
    return ["".join(segment.text for segment in widget.render_line(y)) for y in range(widget.size.height)]


async def test_markup_and_control_sequences_are_shown_literally(chat_app, connect):
    app = chat_app(nickname="John")
    async with app.run_test(size=(200, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        admin, _ = await connect(nickname=MARKUP_NICK, motto="[blink]hi[/blink]")
        await admin.send_message(HOSTILE_TEXT)
        await admin.send_message("private [b]bold?[/b]", to=app.me.phone_number)
        tab = f"dm-{admin.phone_number}"
        await until(pilot, lambda: said(app, "click"))
        await until(pilot, lambda: said(app, "bold?", tab))
        await pilot.pause()

        chat = rendered_lines(app.query_one("#line").query_one(ChatLog))
        message = next(line for line in chat if "click" in line)
        shown = "copy ␛]52;c;aGk=␇ then <U+009B>2J clear [link=http://evil.example]click[/link] [/nope]"
        assert f"<{MARKUP_NICK}> {shown}" in message
        assert any(f"{MARKUP_NICK} is ONLINE" in line for line in chat)
        assert any(MARKUP_NICK in line for line in rendered_lines(app.query_one(PeopleList)))
        assert app.query_one("#conversations").get_tab(tab).label.plain == f"{MARKUP_NICK} (1 DM)"

        await pilot.press(*f"/whois {admin.phone_number}", "enter")
        await until(pilot, lambda: said(app, "motto: [blink]hi[/blink]"))

        screenshot = app.export_screenshot()
        assert not CONTROL_BYTES.search(screenshot)
        assert "␛]52;c;aGk=␇" in screenshot and "[/nope]" in screenshot  # shown, not obeyed


async def test_profile_card_shows_properties_literally(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        admin, _ = await connect(nickname=MARKUP_NICK, motto="\x1b[31m[red]x[/red]")
        await until(pilot, lambda: admin.phone_number in [o.id for o in app.query_one(PeopleList).options])
        people = app.query_one(PeopleList)
        people.focus()
        people.highlighted = people.get_option_index(admin.phone_number)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.__class__.__name__ == "ProfileCard")
        await pilot.pause()
        texts = [str(static.render()) for static in app.screen.query("Static, Label")]
        assert any(MARKUP_NICK in text for text in texts)
        assert any("motto: ␛[31m[red]x[/red]" in text for text in texts)
        assert any(admin.phone_number in text for text in texts)
        assert not CONTROL_BYTES.search(app.export_screenshot())
        await pilot.press("enter")  # the focused Message button opens the DM tab
        await until(pilot, lambda: app.query_one("#conversations").active == f"dm-{admin.phone_number}")
