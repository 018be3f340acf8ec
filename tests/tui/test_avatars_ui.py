"""Avatars in the chat screen: real hub, real clients and real local HTTP servers for the images."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from avatars.helpers import AvatarServer, Request, head, quadrants
from avatars.helpers import encode as encode_image
from textual.widgets import Static

from ozchat import ClientInfo, ClientStatus, ConnectionState, ConnectionStateChanged, OzWebClient
from ozchat.avatars import AvatarErrorCode, AvatarFetcher, AvatarService, identicon
from ozchat.bundled_avatars import bundled_avatar
from ozchat.cli import build_chat_app, build_parser
from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.settings import ChatSettings
from ozchat.tui.app import Join, OzChatApp
from ozchat.tui.messages import AvatarLoaded, ConnectionChanged, PresenceChanged
from ozchat.tui.widgets import PeopleList, ProfileCard
from ozchat.tui.widgets.composer import Composer

from .conftest import chat_lines, fixed_clock, until
from .test_snapshots import said, steady_cursor

# ---- helpers ----------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[AvatarServer]:
    """A real HTTP server on 127.0.0.1 for the images, as in the avatar tests."""
    running = AvatarServer()
    await running.start()
    yield running
    await running.stop()


def people(app: OzChatApp) -> PeopleList:
    return app.query_one(PeopleList)


def shows_picture(app: OzChatApp, phone_number: str) -> bool:
    """The row draws something other than the person's identicon (the loaded picture)."""
    drawn = people(app).avatar_of(phone_number)
    return drawn is not None and drawn != identicon(phone_number, drawn.size)


def shows_identicon(app: OzChatApp, phone_number: str) -> bool:
    drawn = people(app).avatar_of(phone_number)
    return drawn is not None and drawn == identicon(phone_number, drawn.size)


async def open_card(pilot, phone_number: str) -> ProfileCard:
    app = pilot.app
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, ProfileCard))
    sidebar = people(app)
    sidebar.focus()
    sidebar.highlighted = sidebar.get_option_index(phone_number)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ProfileCard))
    return app.screen


def card_note(card: ProfileCard) -> str:
    note = card.query_one("#card-avatar-note", Static)
    return str(note.content) if note.display else ""


def service_for(server_host: str, cache: Path, **options: object) -> AvatarService:
    return AvatarService(AvatarFetcher(trusted_hosts=[server_host], cache_dir=cache, **options))


# ---- snapshot --------------------------------------------------------------------------


class _ImageHandler(BaseHTTPRequestHandler):
    """Serves the bundled PNGs at /NAME.png, 404 for anything else (a thread, so any loop can use it)."""

    def do_GET(self) -> None:
        data = bundled_avatar(self.path.strip("/"))
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def image_server() -> Iterator[str]:
    """The base URL of a real HTTP server on 127.0.0.1 that serves the bundled avatars."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_main_screen_with_avatars_120x40(snap_compare, image_server, tmp_path):
    base = f"http://{image_server}"
    john = ClientInfo("J0hnn", ClientStatus.ONLINE, {"nickname": "John", "avatar": f"{base}/cat.png"})
    mary = ClientInfo("M4ry0", ClientStatus.ONLINE, {"nickname": "Mary", "avatar": f"{base}/fox.png", "away": "lunch"})
    bob = ClientInfo("B0bby", ClientStatus.ONLINE, {"nickname": "Bob", "avatar": f"{base}/robot.png"})
    eve = ClientInfo("3ve00", ClientStatus.ONLINE, {"nickname": "Eve", "avatar": f"{base}/missing.png"})
    zed = ClientInfo("Z3d00", ClientStatus.ONLINE, {"nickname": "Zed"})
    app = OzChatApp(OzWebClient(), join=None, avatars=service_for(image_server, tmp_path / "cache"), clock=fixed_clock)

    async def feed(pilot) -> None:
        steady_cursor(pilot.app.query_one(Composer))  # the picture does not depend on timing
        for event in (
            ConnectionChanged(ConnectionStateChanged(ConnectionState.ACCESS_GRANTED), me=john, line="Webphone1"),
            PresenceChanged((mary, bob, eve, zed)),
            said(1, mary, "morning all", minutes=1),
            said(2, bob, "the build is green again", minutes=2),
        ):
            pilot.app.post_message(event)
        await until(pilot, lambda: all(shows_picture(app, p.phone_number) for p in (john, mary, bob)))
        assert shows_identicon(app, eve.phone_number) and shows_identicon(app, zed.phone_number)

    assert snap_compare(app, terminal_size=(120, 40), run_before=feed)


# ---- hostile avatars ---------------------------------------------------------------------


async def test_hostile_avatars_keep_identicons_and_say_why_while_typing_works(chat_app, connect, server, tmp_path):
    slow_asked = asyncio.Event()

    async def trickle(request: Request, writer: asyncio.StreamWriter) -> None:
        slow_asked.set()
        writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": "4096"}))
        while True:  # one byte a second, until the fetcher gives up and hangs up
            writer.write(b"\x89")
            await writer.drain()
            await asyncio.sleep(1)

    async def not_an_image(request: Request, writer: asyncio.StreamWriter) -> None:
        body = b"<html>surely an image</html>"
        writer.write(head("200 OK", {"Content-Type": "image/png", "Content-Length": str(len(body))}) + body)

    server.routes["/slow.png"] = trickle
    server.routes["/page.png"] = not_an_image
    hostile = {
        "Nobody": (server.url("/gone.png"), AvatarErrorCode.HTTP_STATUS, "404"),
        "Pager": (server.url("/page.png"), AvatarErrorCode.NOT_AN_IMAGE, "not an image"),
        "Slowpoke": (server.url("/slow.png"), AvatarErrorCode.TIMEOUT, "too slow"),
        "Sneaky": ("http://169.254.169.254/latest/avatar.png", AvatarErrorCode.REFUSED_ADDRESS, "private or local"),
    }
    service = service_for(server.host, tmp_path / "cache", deadline=1.5, allow_private=False)
    app = chat_app(nickname="John", avatars=service)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        numbers = {}
        for name, (url, _, _) in hostile.items():
            client, _ = await connect(nickname=name, avatar=url)
            numbers[name] = client.phone_number
        await until(pilot, lambda: all(n in [o.id for o in people(app).options] for n in numbers.values()))
        await asyncio.wait_for(slow_asked.wait(), 5)
        await pilot.press(*"typing while avatars load")
        await until(pilot, lambda: app.query_one("#composer").value == "typing while avatars load")
        await pilot.press("enter")
        await until(pilot, lambda: any(line.endswith("<John> typing while avatars load") for line in chat_lines(app)))

        await until(pilot, lambda: app.avatars.loading == 0, timeout=10)
        for name, (_, code, words) in hostile.items():
            assert shows_identicon(app, numbers[name]), name
            card = await open_card(pilot, numbers[name])
            note = card_note(card)
            assert "Avatar not shown" in note and words in note and code.value in note, (name, note)
            assert card.query_one("#card-avatar", Static).content == identicon(numbers[name], card.avatar_size)


async def test_an_avatar_value_no_url_can_be_made_of_does_not_break_the_app(chat_app, connect, tmp_path):
    """Relative values are joined to the hub's avatar URL; one that cannot be is just a bad avatar."""
    service = AvatarService(AvatarFetcher(cache_dir=tmp_path / "cache"), base_url="http://127.0.0.1:9/avatars/")
    app = chat_app(nickname="John", avatars=service)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        odd, _ = await connect(nickname="Odd", avatar="//host:port")
        await until(pilot, lambda: odd.phone_number in [o.id for o in people(app).options])
        await pilot.press(*"still here", "enter")
        await until(pilot, lambda: any(line.endswith("<John> still here") for line in chat_lines(app)))
        assert shows_identicon(app, odd.phone_number)
        note = card_note(await open_card(pilot, odd.phone_number))
        assert "Avatar not shown" in note and AvatarErrorCode.BAD_URL.value in note


# ---- one load for many -------------------------------------------------------------------


async def test_fifty_people_sharing_an_avatar_cost_one_request(chat_app, connect, server, tmp_path):
    server.image("/shared.png", encode_image(quadrants(), "PNG"))
    app = chat_app(nickname="John", avatars=service_for(server.host, tmp_path / "cache"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        shared = server.url("/shared.png")
        crowd = await asyncio.gather(*(connect(nickname=f"Twin{i:02}", avatar=shared) for i in range(50)))
        numbers = [client.phone_number for client, _ in crowd]
        await until(pilot, lambda: all(shows_picture(app, number) for number in numbers), timeout=15)
        card = await open_card(pilot, numbers[0])
        await until(pilot, lambda: card_note(card) == "" and app.avatars.loading == 0)
        assert server.count("/shared.png") == 1


# ---- choosing one's own avatar -----------------------------------------------------------


@pytest.fixture
async def upload_hub(tmp_path) -> AsyncIterator[Hub]:
    async with Hub("127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads"), grace=1.0) as running:
        yield running


async def test_avatar_file_is_uploaded_and_others_see_its_name(upload_hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    Path("me.png").write_bytes(encode_image(quadrants(40), "PNG"))
    Path("other.png").write_bytes(bundled_avatar("owl") or b"")
    Path("notes.png").write_bytes(b"these are my notes, not a picture")
    uploaded_name = re.compile(r"[0-9a-f]{32}\.png")

    mary = OzWebClient(ping_interval=None)
    await mary.connect(f"127.0.0.1:{upload_hub.port}", "Webphone1", {"nickname": "Mary"})

    def mary_sees(app: OzChatApp) -> str | None:
        info = mary.roster.get(app.me.phone_number) if app.me is not None else None
        return info.get("avatar") if info is not None else None

    args = build_parser(ChatSettings()).parse_args(
        ["--host", "127.0.0.1", "--port", str(upload_hub.port), "--nick", "John", "--avatar", "./me.png"]
    )
    app = build_chat_app(args, "John")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: uploaded_name.fullmatch(mary_sees(app) or "") is not None)
            first = mary_sees(app)
            await until(pilot, lambda: shows_picture(app, app.me.phone_number))
            assert any("Your avatar is now me.png" in line for line in chat_lines(app))

            await pilot.press(*"/avatar ./other.png", "enter")
            await until(pilot, lambda: mary_sees(app) not in (first, None))
            assert uploaded_name.fullmatch(mary_sees(app))

            stored = sorted(path.name for path in (tmp_path / "uploads").iterdir())
            await pilot.press(*"/avatar ./notes.png", "enter")
            await until(pilot, lambda: any("avatar not changed" in line for line in chat_lines(app)))
            refused = [line for line in chat_lines(app) if "avatar not changed" in line]
            assert refused[0].endswith("notes.png is not an image (PNG, JPEG, GIF, WebP); nothing was sent")
            Path("notes.txt").write_text("plain words")
            await pilot.press(*"/avatar notes.txt", "enter")
            await until(pilot, lambda: any("notes.txt is not an image" in line for line in chat_lines(app)))
            await pilot.press(*"/avatar nosuchbundle", "enter")
            await until(pilot, lambda: any("no bundled avatar called nosuchbundle" in line for line in chat_lines(app)))
            assert any("bundled: alien, bear, bunny, cat," in line for line in chat_lines(app))
            assert not any("Your avatar is now nosuchbundle" in line for line in chat_lines(app))
            assert sorted(path.name for path in (tmp_path / "uploads").iterdir()) == stored  # nothing reached the hub

            await pilot.press(*"/avatar ./nowhere.png", "enter")
            await until(pilot, lambda: any("cannot read nowhere.png" in line for line in chat_lines(app)))

            await pilot.press(*"/avatar cat", "enter")
            await until(pilot, lambda: mary_sees(app) == "cat")
    finally:
        await mary.disconnect()


async def test_a_missing_avatar_file_stops_the_chat_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser(ChatSettings()).parse_args(["--nick", "John", "--avatar", "./missing.png"])
    with pytest.raises(ValueError, match=r"no avatar file missing\.png"):
        build_chat_app(args, "John")


async def test_a_bundled_name_or_a_url_is_shared_as_given(hub, connect, tmp_path, monkeypatch):
    """Others on the line see `--avatar cat` as "cat" (each resolves it against its own hub address), a URL as is."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mary, _ = await connect(nickname="Mary")
    parser = build_parser(ChatSettings())

    async def shared_as(value: str) -> tuple[str, str]:
        app = build_chat_app(parser.parse_args(["--host", hub.url, "--nick", "J", "--avatar", value]), "J")
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.me is not None and app.me.phone_number in mary.roster)
            seen = mary.roster.get(app.me.phone_number)
            await until(pilot, lambda: shows_picture(app, app.me.phone_number))  # its load is over
        return seen.nickname, seen.get("avatar")

    assert await shared_as("cat") == ("J", "cat")
    url = f"http://127.0.0.1:{hub.port}/avatars/cat.png"
    assert await shared_as(url) == ("J", url)


def test_names_that_are_no_url_resolve_against_the_hub_as_the_chat_reaches_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = build_parser(ChatSettings()).parse_args(["--host", "wss://chat.example.org/", "--nick", "J"])
    linked = build_chat_app(args, "J")
    assert linked.avatars.service is not None
    assert linked.avatars.service.resolve("fox.png") == "https://chat.example.org/avatars/fox.png"


# ---- the profile card and loads ----------------------------------------------------------


class _LoadsHeldApp(OzChatApp):
    """The app, except that finished avatar loads wait in `held` while `holding` is set."""

    holding = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.held: list[AvatarLoaded] = []

    def on_avatar_loaded(self, message: AvatarLoaded) -> None:
        if self.holding:
            self.held.append(message)
        else:
            super().on_avatar_loaded(message)


async def test_an_avatar_loaded_before_a_pushed_card_is_composed_shows_on_the_card(hub, connect, server, tmp_path):
    server.image("/mary.png", encode_image(quadrants(), "PNG"))
    app = _LoadsHeldApp(
        OzWebClient(ping_interval=None), join=Join(hub.url, "Webphone1", {"nickname": "John"}),
        avatars=service_for(server.host, tmp_path / "cache"), clock=fixed_clock,
    )
    held = app.held  # the test delivers Mary's load itself, at the worst moment
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        mary, _ = await connect(nickname="Mary", avatar=server.url("/mary.png"))
        await until(pilot, lambda: any(message.result.ok for message in held))
        app.holding = False
        card = ProfileCard(app.roster.get(mary.phone_number), app.avatars, is_me=False)
        app.push_screen(card)
        assert not card.is_mounted
        for message in held:
            app.on_avatar_loaded(message)
        await until(pilot, lambda: card.is_mounted and card_note(card) == "")
        assert card.query_one("#card-avatar", Static).content != identicon(mary.phone_number, card.avatar_size)
        await until(pilot, lambda: shows_picture(app, mary.phone_number))


# ---- identicons in the sidebar -----------------------------------------------------------


async def test_a_presence_change_builds_no_identicon_again_and_leaving_drops_it(chat_app, connect, monkeypatch):
    built: list[str] = []

    def counting(seed: str, size: int):
        built.append(seed)
        return identicon(seed, size)

    monkeypatch.setattr("ozchat.tui.avatar_board.identicon", counting)
    app = chat_app(nickname="John")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        mary, _ = await connect(nickname="Mary")
        bob, _ = await connect(nickname="Bob")
        await until(pilot, lambda: {mary.phone_number, bob.phone_number} <= {o.id for o in people(app).options})
        assert sorted(built) == sorted([app.me.phone_number, mary.phone_number, bob.phone_number])

        built.clear()
        await bob.update_properties({"away": "lunch"})
        await until(pilot, lambda: "away" in str(people(app).get_option(bob.phone_number).prompt))
        await mary.disconnect()
        await until(pilot, lambda: mary.phone_number not in {o.id for o in people(app).options})
        assert built == []
        assert app.avatars.identicons_kept == {app.me.phone_number, bob.phone_number}
        assert shows_identicon(app, bob.phone_number)


# ---- failed loads are tried again --------------------------------------------------------


async def test_a_failed_avatar_is_loaded_again_after_the_retry_interval(hub, connect, server, tmp_path):
    service = service_for(server.host, tmp_path / "cache", failure_ttl=0.05)
    app = OzChatApp(
        OzWebClient(ping_interval=None), join=Join(hub.url, "Webphone1", {"nickname": "John"}),
        avatars=service, clock=fixed_clock, avatar_retry=0.2,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        mary, _ = await connect(nickname="Mary", avatar=server.url("/late.png"))
        await until(pilot, lambda: server.count("/late.png") == 1 and app.avatars.loading == 0)
        await pilot.pause()
        assert shows_identicon(app, mary.phone_number)

        server.image("/late.png", encode_image(quadrants(), "PNG"))  # the server has it now
        await pilot.pause(0.3)
        await connect(nickname="Bob")  # the sidebar is drawn again
        await until(pilot, lambda: shows_picture(app, mary.phone_number))
        assert server.count("/late.png") == 2


async def test_an_avatar_others_cannot_load_is_reported_to_its_owner(chat_app, hub, tmp_path):
    # Everyone's client fetches from the hub's own address and public ones only; localhost is neither here.
    service = service_for(f"127.0.0.1:{hub.port}", tmp_path / "cache")
    app = chat_app(nickname="John", avatars=service)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        await pilot.press(*"/avatar http://localhost:9/me.png", "enter")
        await until(pilot, lambda: any("others cannot load your avatar" in line for line in chat_lines(app)))
        [told] = [line for line in chat_lines(app) if "others cannot load your avatar" in line]
        assert "refused_address" in told and "localhost" in told


async def test_taking_an_avatar_that_already_failed_for_someone_else_is_reported_too(chat_app, connect, hub, tmp_path):
    service = service_for(f"127.0.0.1:{hub.port}", tmp_path / "cache")
    app = chat_app(nickname="John", avatars=service)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.me is not None)
        await connect(nickname="Mary", avatar="http://localhost:9/shared.png")
        await until(pilot, lambda: app.avatars.failure("http://localhost:9/shared.png") is not None)
        await pilot.press(*"/avatar http://localhost:9/shared.png", "enter")
        await until(pilot, lambda: any("others cannot load your avatar" in line for line in chat_lines(app)))
