"""The chat screen against a real hub, driven by Pilot, with scripted clients on the line."""

from __future__ import annotations

from ozchat import ChatMessage, ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.hub import Hub
from ozchat.hub.store import MemoryStore
from ozchat.reconnect import ReconnectPolicy
from ozchat.tui.conversations import MAX_DIRECT_TABS, Conversation
from ozchat.tui.messages import ChatReceived, ConnectionChanged, PresenceChanged
from ozchat.tui.widgets import PeopleList, ProfileCard

from .conftest import SIZE, chat_lines, joined, listed, make_app, people_ids, said, until
from relay import Relay


async def test_roster_gains_and_loses_john(chat_app, connect):
    app = chat_app(nickname="Mary")
    async with joined(app) as pilot:
        john, _ = await listed(pilot, app, connect(nickname="John"))
        assert "John is ONLINE" in " ".join(chat_lines(app))
        assert app.query_one(PeopleList).border_title == "People 2"
        await john.disconnect()
        await until(pilot, lambda: john.phone_number not in people_ids(app))
        assert "John is OFFLINE" in " ".join(chat_lines(app))


def received(recorder, predicate=lambda message: True) -> list[ChatMessage]:
    return [event for event in recorder.of_type(ChatMessage) if predicate(event)]


async def test_typed_message_reaches_others_and_their_reply_appears(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press(*"hello Mary", "enter")
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "hello Mary")
        assert heard.sender == app.me.phone_number and heard.nickname == "John"
        await mary.send_message("hi John, welcome")
        await until(pilot, lambda: said(app, "<Mary> hi John, welcome"))
        assert any(line.endswith("<John> hello Mary") for line in chat_lines(app))
        assert app.query_one("#composer").value == ""


async def test_nick_changes_the_name_others_see(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press(*"/nick Johnny", "enter")
        renamed = await mary_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.get("nickname") == "Johnny")
        assert renamed.phone_number == app.me.phone_number
        assert mary.roster.get(app.me.phone_number).nickname == "Johnny"
        await until(pilot, lambda: app.me.display_name == "Johnny")
        assert said(app, "You are now known as Johnny")


async def test_hub_refusal_is_one_line_in_the_pane(chat_app):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        await pilot.press(*("/nick " + "x" * 40), "enter")
        await until(pilot, lambda: said(app, "nickname_too_long"))
        await pilot.press(*"/frobnicate", "enter")
        await until(pilot, lambda: said(app, "unknown command /frobnicate"))
        assert app.me.display_name == "John"


async def test_msg_opens_a_dm_tab_and_only_the_recipient_gets_it(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, mary_events = await connect(nickname="Mary")
        bob, bob_events = await connect(nickname="Bob")
        await until(pilot, lambda: {mary.phone_number, bob.phone_number} <= set(people_ids(app)))
        await pilot.press(*"/msg mary psst, just you", "enter")
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "psst, just you")
        assert heard.to == mary.phone_number
        tab = f"dm-{mary.phone_number}"
        await until(pilot, lambda: app.query_one("#conversations").active == tab)
        await until(pilot, lambda: said(app, "<John> psst, just you", tab))
        assert not said(app, "psst")

        # Plain text typed in the DM tab goes to Mary alone too; her answer lands in the tab.
        await pilot.press(*"and this", "enter")
        await mary_events.wait_for(
            lambda e: isinstance(e, ChatMessage) and e.text == "and this" and e.to == mary.phone_number
        )
        await mary.send_message("got it", to=app.me.phone_number)
        await until(pilot, lambda: said(app, "<Mary> got it", tab))

        # A DM arriving while another tab is shown counts as unread on its tab.
        await pilot.press("f3")
        await until(pilot, lambda: app.query_one("#conversations").active == "line")
        await mary.send_message("still there?", to=app.me.phone_number)
        await until(pilot, lambda: app.query_one(f"#{tab}").unread == 1)
        assert app.query_one("#conversations").get_tab(tab).label.plain == "Mary (1 DM)"

        await bob.send_message("line check")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "line check")
        await bob_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "line check")
        assert received(bob_events, lambda m: m.to is not None) == []


async def test_mention_is_highlighted_and_rings_the_bell_once(chat_app, connect):
    app = chat_app(nickname="John")
    rings: list[None] = []
    app.bell = lambda: rings.append(None)
    async with joined(app) as pilot:
        mary, _ = await connect(nickname="Mary")
        await mary.send_message("john, lunch?")
        await mary.send_message("nobody in particular")
        await until(pilot, lambda: said(app, "nobody in particular"))
        entries = app.query_one("#line").chat.entries
        assert [entry.mention for entry in entries if entry.name == "Mary"] == [True, False]
        assert len(rings) == 1


async def test_away_back_set_who_whois_and_clear(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, mary_events = await listed(pilot, app, connect(nickname="Mary"))
        await pilot.press(*"/away lunch", "enter")
        await mary_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.get("away") == "lunch")
        await pilot.press(*"/set mood sunny", "enter")
        await mary_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.get("mood") == "sunny")
        await pilot.press(*"/back", "enter")
        back = await mary_events.wait_for(
            lambda e: isinstance(e, ClientInfo) and e.get("away") is None and e.get("mood")
        )
        assert back.properties == {"nickname": "John", "mood": "sunny"}

        await mary.update_properties({"away": "meeting"})
        await until(pilot, lambda: said(app, "Mary is away (meeting)"))
        await pilot.press(*"/who", "enter")
        await until(pilot, lambda: said(app, f"Mary  {mary.phone_number}  away"))
        await pilot.press(*"/whois mary", "enter")
        await until(pilot, lambda: said(app, "away: meeting"))
        await pilot.press(*"/whois nobody", "enter")
        await until(pilot, lambda: said(app, "no one called nobody"))
        await pilot.press(*"/clear", "enter")
        await until(pilot, lambda: chat_lines(app) == [])


async def test_tab_completes_and_up_recalls(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        await listed(pilot, app, connect(nickname="Mary"))
        composer = app.query_one("#composer")
        await pilot.press(*"ma", "tab")
        assert composer.value == "Mary: "
        await pilot.press(*"/wh", "tab")
        assert composer.value == "Mary: /wh"  # a slash mid-line is text, not a command
        composer.value = ""
        await pilot.press(*"/wh", "tab", "tab")
        assert composer.value == "/whois "
        composer.value = ""
        await pilot.press(*"first", "enter")
        await until(pilot, lambda: any(line.endswith("<John> first") for line in chat_lines(app)))
        await pilot.press(*"second", "enter")
        await until(pilot, lambda: any(line.endswith("<John> second") for line in chat_lines(app)))
        await pilot.press("up", "up")
        assert composer.value == "first"
        await pilot.press("down", "down")
        assert composer.value == ""


async def test_clicking_someone_in_the_sidebar_opens_their_card(chat_app, connect):
    from ozchat.tui.widgets import ProfileCard

    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await listed(pilot, app, connect(nickname="Mary", mood="sunny"))
        sidebar = app.query_one(PeopleList)
        index = sidebar.get_option_index(mary.phone_number)
        row = sum(len(sidebar.get_option_at_index(i).prompt.plain.splitlines()) for i in range(index))
        await pilot.click(PeopleList, offset=(4, 1 + row + 1))
        await until(pilot, lambda: isinstance(app.screen, ProfileCard))
        texts = " ".join(str(widget.render()) for widget in app.screen.query("Static, Label"))
        assert "Mary" in texts and mary.phone_number in texts and "mood: sunny" in texts


async def test_what_is_typed_while_reconnecting_is_announced_then_sent_once(relay, connect):
    from ozchat import OzWebClient
    from ozchat.tui.app import Join, OzChatApp

    from .conftest import fixed_clock

    client = OzWebClient(ping_interval=None, backoff_base=0.05, backoff_cap=0.3)
    app = OzChatApp(client, join=Join(relay.url, "Webphone1", {"nickname": "John"}), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        mary, mary_events = await connect(nickname="Mary")
        await until(pilot, lambda: mary.phone_number in people_ids(app))
        relay.hold()  # the reconnect waits at the door until the message is typed
        relay.cut()  # the connection drops without a goodbye
        await until(pilot, lambda: app.client.reconnecting)
        await pilot.press(*"typed while away", "enter")
        await until(pilot, lambda: any("goes out as soon as the line is back" in line for line in chat_lines(app)))
        relay.release()
        heard = await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "typed while away")
        assert heard.sender == app.me.phone_number
        # Mary's next message comes after any second copy, to her and to the chat.
        await mary.send_message("sentinel")
        await mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "sentinel")
        await until(pilot, lambda: any(line.endswith("<Mary> sentinel") for line in chat_lines(app)))
        assert sum(line.endswith("<John> typed while away") for line in chat_lines(app)) == 1
        assert [m.text for m in received(mary_events)].count("typed while away") == 1


async def test_a_hub_not_there_yet_is_tried_again_until_it_answers(unused_tcp_port):
    # The client's policy with its jitter fixed: 1 s, then 2 s.
    client = OzWebClient(ping_interval=None, reconnect_policy=ReconnectPolicy(1.0, 30.0, random=lambda: 1.0))
    app = make_app(f"127.0.0.1:{unused_tcp_port}", "Early", client=client)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: said(app, "trying again in 1 s"))
        assert app.me is None
        async with Hub("127.0.0.1", unused_tcp_port):
            await until(pilot, lambda: app.me is not None, timeout=10)
            assert said(app, "You joined #Webphone1 as Early")
            await app.client.disconnect()


async def test_focus_changes_keep_the_wrapped_scrollback_and_a_theme_change_restyles_it(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        # Listed first: her `is ONLINE` line, whose batch may come late, is not laid out after the count is taken.
        mary, _ = await listed(pilot, app, connect(nickname="Mary"))
        for n in range(30):
            await mary.send_message(f"line {n} " + "long words wrap " * 12)
        await until(pilot, lambda: said(app, "<Mary> line 29 "))
        chat = app.line_conversation.chat
        await until(pilot, lambda: chat.entries_laid_out >= len(chat.entries))
        await pilot.pause()
        laid_out = chat.entries_laid_out
        first_line = list(chat.render_line(0))

        for _ in range(3):
            chat.focus()
            await until(pilot, lambda: chat.has_focus)
            await pilot.press("escape")
            await until(pilot, lambda: app.query_one("#composer").has_focus)
        assert chat.entries_laid_out == laid_out  # nothing was wrapped again

        app.theme = "textual-light"
        await until(pilot, lambda: list(chat.render_line(0)) != first_line)
        assert chat.entries_laid_out >= laid_out + len(chat.entries)


async def test_direct_messages_open_at_most_twenty_tabs_then_show_in_the_line_tab(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        for n in range(MAX_DIRECT_TABS + 2):
            stranger, _ = await connect(nickname=f"Stranger{n:02}")
            await stranger.send_message(f"psst number {n}", to=app.me.phone_number)
        last = f"psst number {MAX_DIRECT_TABS + 1}"
        # Twenty tabs opening take as long as the machine needs: the suite's own limit ends a hang.
        await until(pilot, lambda: any(last in line for line in chat_lines(app)), timeout=None)
        tabs = [pane.id for pane in app.query(Conversation) if pane.partner is not None]
        assert len(tabs) == MAX_DIRECT_TABS
        overflow = [line for line in chat_lines(app) if "psst" in line]
        assert [line.split(" ", 1)[1] for line in overflow] == [
            f"[direct] <Stranger{n:02}> psst number {n}" for n in (MAX_DIRECT_TABS, MAX_DIRECT_TABS + 1)
        ]

        # Nor does a direct message from someone no longer on the line open a tab, whatever the count.
        app.tabs.active = tabs[0]
        await app.action_close_tab()
        gone = ChatMessage(
            seq=999, ts=1_715_938_200_000, sender="G0ne0", text="remember me?", nickname="Ghost", to=app.me.phone_number
        )
        app.post_message(ChatReceived(gone))
        await until(pilot, lambda: said(app, "remember me?"))
        assert any(line.endswith("[direct] <Ghost> remember me?") for line in chat_lines(app))
        assert not app.query("#dm-G0ne0")


async def test_a_tab_or_card_of_someone_who_left_says_so_and_points_at_their_new_connection(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        mary, _ = await connect(nickname="Mary")
        bob, _ = await connect(nickname="Bob")
        await mary.send_message("ping me here", to=app.me.phone_number)
        old_tab = f"dm-{mary.phone_number}"
        await until(pilot, lambda: said(app, "<Mary> ping me here", old_tab))

        # Bob leaves while his card is open: Message says so and opens no tab.
        sidebar = app.query_one(PeopleList)
        sidebar.focus()
        sidebar.highlighted = sidebar.get_option_index(bob.phone_number)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ProfileCard))
        await bob.disconnect()
        await until(pilot, lambda: bob.phone_number not in app.roster)
        await pilot.press("enter")
        await until(pilot, lambda: any(line.endswith("Bob has left #Webphone1") for line in chat_lines(app)))
        assert not app.query(f"#dm-{bob.phone_number}")

        # Mary comes back as a new connection: her tab follows her to the new number.
        await mary.disconnect()
        await until(pilot, lambda: mary.phone_number not in app.roster)
        new_mary, new_mary_events = await connect(nickname="Mary")
        await until(pilot, lambda: new_mary.phone_number in app.roster)
        await until(pilot, lambda: said(app, f"Mary is back as {new_mary.phone_number}", old_tab))
        app.tabs.active = old_tab
        app.query_one("#composer").focus()
        await pilot.press(*"hello?", "enter")
        heard = await new_mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "hello?")
        assert heard.to == new_mary.phone_number
        await pilot.press(*"/msg Mary found you", "enter")
        await new_mary_events.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "found you")
        assert [e.text for e in new_mary_events.of_type(ChatMessage)] == ["hello?", "found you"]
        assert [pane.id for pane in app.query(Conversation)] == ["line", old_tab]
        assert not any("unknown_recipient" in line or "has left" in line for line in chat_lines(app, old_tab))


async def test_msg_and_whois_find_me_like_anyone_else_and_msg_refuses_me(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        # The hub keeps nicknames unique ignoring case, so the other person here is Johnny.
        johnny, johnny_events = await connect(nickname="Johnny")
        await until(pilot, lambda: johnny.phone_number in app.roster)
        app.line_conversation.chat.clear()

        await pilot.press(*f"/msg {app.me.phone_number} hi me", "enter")
        await until(pilot, lambda: said(app, "yourself"))
        assert [line.split(" ", 1)[1] for line in chat_lines(app)] == ["! you cannot send a direct message to yourself"]
        assert [pane.id for pane in app.query(Conversation)] == ["line"]

        await johnny.disconnect()
        await until(pilot, lambda: johnny.phone_number not in app.roster)
        await pilot.press(*"/whois john", "enter")
        await until(pilot, lambda: said(app, f"John is {app.me.phone_number}"))
        await pilot.press(*"/msg JOHN hi me", "enter")
        await until(pilot, lambda: len([line for line in chat_lines(app) if "yourself" in line]) == 2)
        assert johnny_events.of_type(ChatMessage) == []


async def test_retrying_a_hub_not_there_shows_one_line_that_updates_and_goes_once_joined(unused_tcp_port):
    client = OzWebClient(ping_interval=None, reconnect_policy=ReconnectPolicy(0.05, 0.1, random=lambda: 1.0))
    app = make_app(f"127.0.0.1:{unused_tcp_port}", "Early", client=client)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: said(app, "attempt 4;"))
        trying = [line for line in chat_lines(app) if "trying again" in line]
        assert len(trying) == 1 and "attempt 4; trying again in 0.1 s" in trying[0]
        async with Hub("127.0.0.1", unused_tcp_port):
            await until(pilot, lambda: app.me is not None, timeout=10)
            joined_line = f"You joined #Webphone1 as Early ({app.me.phone_number})"
            assert [line.split(" ", 1)[1] for line in chat_lines(app)] == [joined_line]
            await app.client.disconnect()


async def test_tab_completes_a_name_with_spaces_in_quotes_and_msg_reaches_them(chat_app, connect):
    app = chat_app(nickname="John")
    async with joined(app) as pilot:
        dave, dave_events = await listed(pilot, app, connect(nickname="Dave the Great"))
        await pilot.press(*"/msg Dav", "tab")
        assert app.query_one("#composer").value == '/msg "Dave the Great" '
        await pilot.press(*"hello", "enter")
        heard = await dave_events.wait_for(lambda e: isinstance(e, ChatMessage))
        assert heard.text == "hello" and heard.to == dave.phone_number
        await pilot.press(*"/whois Dav", "tab", "enter")
        await until(pilot, lambda: said(app, f"Dave the Great is {dave.phone_number}", f"dm-{dave.phone_number}"))


async def test_after_a_hub_restart_that_lost_the_numbers_the_people_list_has_everyone_once(unused_tcp_port):
    """Bob comes back under a new number: listed once, and nobody is said to have left."""
    fast = {"ping_interval": None, "backoff_base": 0.05, "backoff_cap": 0.3}
    async with Relay(unused_tcp_port) as relay:
        app = make_app(relay.url, client=OzWebClient(**fast))
        bob = OzWebClient(**fast)
        async with app.run_test(size=SIZE) as pilot:
            async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), ping_interval=None) as first:
                await until(pilot, lambda: app.me is not None)
                await bob.connect(first.url, "Webphone1", {"nickname": "Bob"})
                await until(pilot, lambda: len(people_ids(app)) == 2)
                old_bob = bob.phone_number
                relay.hold()  # John comes back only once Bob is back
            async with Hub("127.0.0.1", unused_tcp_port, store=MemoryStore(), ping_interval=None):
                await until(pilot, lambda: bob.connected and bob.phone_number != old_bob, timeout=10)
                relay.release()
                await until(pilot, lambda: sum("are back on" in line for line in chat_lines(app)) == 1, timeout=10)
                await until(pilot, lambda: bob.phone_number in people_ids(app), timeout=10)
                assert sorted(people_ids(app)) == sorted([app.me.phone_number, bob.phone_number])
                assert not said(app, "OFFLINE")
                await bob.disconnect()


async def test_no_two_tabs_look_alike_when_a_name_is_on_two_numbers():
    me = ClientInfo("J0hnn", ClientStatus.ONLINE, {"nickname": "John"})
    old_mary = ClientInfo("M4ry0", ClientStatus.ONLINE, {"nickname": "Mary"})
    new_mary = ClientInfo("M4ry1", ClientStatus.ONLINE, {"nickname": "Mary"})  # a hub restarted; the old one not gone

    def direct(seq: int, sender: ClientInfo, text: str) -> ChatReceived:
        message = ChatMessage(
            seq=seq, ts=1_715_938_200_000, sender=sender.phone_number, text=text, nickname="Mary", to="J0hnn"
        )
        return ChatReceived(message)

    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        granted = ConnectionStateChanged(ConnectionState.ACCESS_GRANTED)
        app.post_message(ConnectionChanged(granted, me=me, line="Webphone1"))
        app.post_message(PresenceChanged((old_mary, new_mary)))
        app.post_message(direct(1, old_mary, "from the old one"))
        app.post_message(direct(2, new_mary, "from the new one"))
        await until(pilot, lambda: len([pane for pane in app.query(Conversation) if pane.partner]) == 2)
        await pilot.pause()
        labels = [app.tabs.get_tab(pane).label.plain.split(" (")[0] for pane in app.query(Conversation)]
        assert labels == ["#Webphone1", "Mary", "Mary M4ry1"]
