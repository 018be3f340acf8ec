"""The chat pane follows the newest line unless the reader scrolled up, and scrolls from the keyboard."""

from __future__ import annotations

from .conftest import chat_lines, joined, said, until, visible


async def test_the_pane_follows_forty_new_messages_and_my_own(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await connect(nickname="Mary")
        for n in range(40):
            await mary.send_message(f"message {n:02}")
        await until(pilot, lambda: said(app, "message 39"))
        chat = app.line_conversation.chat
        await until(pilot, lambda: "message 39" in visible(chat))
        await pilot.press(*"my own line", "enter")
        await until(pilot, lambda: "<John> my own line" in visible(chat))
        assert "message 00" not in visible(chat)


async def test_scrolled_up_the_pane_stays_put_counts_new_messages_and_ctrl_end_returns(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await connect(nickname="Mary")
        for n in range(60):
            await mary.send_message(f"message {n:02}")
        chat = app.line_conversation.chat
        await until(pilot, lambda: "message 59" in visible(chat))
        composer = app.query_one("#composer")
        assert composer.has_focus

        # PgUp while typing scrolls the chat, not the input; new lines then wait below.
        await pilot.press(*"half a thought", "pageup")
        await until(pilot, lambda: "message 59" not in visible(chat))
        shown = visible(chat)
        await mary.send_message("while you were reading")
        await mary.send_message("and another")
        notice = app.line_conversation.unseen_notice
        await until(pilot, lambda: notice.display and "2 new messages" in str(notice.render()))
        assert shown.startswith(visible(chat))  # the notice takes the bottom row; nothing moved

        await pilot.press("ctrl+home")
        await until(pilot, lambda: "You joined #Webphone1" in visible(chat))
        await pilot.press("pagedown")
        await until(pilot, lambda: "You joined #Webphone1" not in visible(chat))
        await pilot.press("ctrl+end")
        await until(pilot, lambda: "and another" in visible(chat) and not notice.display)
        assert composer.value == "half a thought" and composer.has_focus

        # Following again: the next message shows without a key.
        await mary.send_message("back in view")
        await until(pilot, lambda: "back in view" in visible(chat))

        # End at the end of what is typed goes to the newest line as well.
        await pilot.press("pageup")
        await until(pilot, lambda: "back in view" not in visible(chat))
        await pilot.press("end")
        await until(pilot, lambda: "back in view" in visible(chat) and chat.following)
        assert composer.value == "half a thought"


async def test_a_newcomer_sees_the_newest_replayed_messages_and_clear_keeps_following(hub, chat_app, connect):
    mary, _ = await connect(nickname="Mary")
    for n in range(50):
        await mary.send_message(f"before you came {n:02}")
    app = chat_app(nickname="John")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: said(app, "before you came 49"))
        chat = app.line_conversation.chat
        await until(pilot, lambda: "You joined #Webphone1" in visible(chat))
        assert "before you came 00" not in visible(chat)
        await pilot.press(*"/clear", "enter")
        await until(pilot, lambda: chat_lines(app) == [])
        for n in range(45):
            await mary.send_message(f"after the clear {n:02}")
        await until(pilot, lambda: "after the clear 44" in visible(chat))


async def test_help_and_the_footer_say_how_to_scroll(chat_app):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        await pilot.press(*"/help", "enter")
        await until(pilot, lambda: said(app, "PgUp/PgDn scroll the chat"))
        assert said(app, "Ctrl+Home/Ctrl+End")
        footer = " ".join(str(key.render()) for key in app.query("FooterKey, FooterLabel"))
        assert "PgUp" in footer and "PgDn" in footer and "Scroll" in footer
