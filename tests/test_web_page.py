"""The web chat page the hub serves: its routes and headers over plain HTTP, and the page itself
in a real headless Chromium (tests/browser.py) against a real hub, beside real Python clients."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from PIL import Image

from ozchat import OzWebClient
from ozchat.bundled_avatars import bundled_names
from ozchat.hub import Hub
from ozchat.hub.limits import AddressLimits, WindowLimit
from ozchat.protocol import ChatMessage, ClientInfo
from ozchat.text import printable

from browser import ROSTER_AVATAR, chromium, join_from_page, log_line_with, page_url, started_web_hub
from conftest import Recorder
from relay import Relay
from tui.test_notifications import HOSTILE_TEXTS

pytestmark = pytest.mark.timeout(60)

TYPING_IS = "return document.getElementById('typing').textContent === arguments[0]"
HOSTILE_HTML = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b> & <script>document.title='pwned'</script>"


@pytest.fixture
async def web_hub(tmp_path) -> AsyncIterator[Hub]:
    async with started_web_hub(tmp_path) as running:
        yield running


async def python_client(hub: Hub | Relay, nickname: str, **properties: str) -> tuple[OzWebClient, Recorder]:
    client = OzWebClient(ping_interval=None)
    events = Recorder(client)
    await client.connect(hub.url, "Webphone1", {"nickname": nickname, **properties})
    return client, events


def message_with(text: str) -> Callable[[object], bool]:
    return lambda event: isinstance(event, ChatMessage) and event.text == text


# ---- routes and headers -------------------------------------------------------------------


async def test_the_page_and_its_files_are_served_with_a_policy_that_keeps_them_to_the_hub(web_hub):
    async with httpx.AsyncClient(trust_env=False) as http:
        root = await http.get(page_url(web_hub.port))
        on_line = await http.get(page_url(web_hub.port, "/line/Webphone%201x"))
        named = await http.get(page_url(web_hub.port, "/line/Team-%C3%A9"))
        script = await http.get(page_url(web_hub.port, "/chat.js"))
        style = await http.get(page_url(web_hub.port, "/chat.css"))
        bad_line = await http.get(page_url(web_hub.port, "/line/" + "x" * 65))
    assert root.status_code == 200 and root.headers["content-type"] == "text/html; charset=utf-8"
    assert named.status_code == 200 and named.content == root.content
    assert on_line.status_code == 404 and bad_line.status_code == 404  # no line has such a name
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    for response in (root, named, script, style, on_line):
        policy = dict(
            directive.strip().split(" ", 1) for directive in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == policy["script-src"] == policy["style-src"] == policy["img-src"] == "'self'"
        assert policy["connect-src"] == f"'self' ws://127.0.0.1:{web_hub.port} wss://127.0.0.1:{web_hub.port}"
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
        assert "unsafe" not in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    # Nothing the page loads comes from another host, and it has no inline script or style.
    html = root.text
    assert re.findall(r'(?:src|href)="([^"]*)"', html) and all(
        link.startswith("/") and not link.startswith("//") for link in re.findall(r'(?:src|href)="([^"]*)"', html)
    )
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    # Every bundled avatar, and only those, can be chosen on the page.
    assert re.findall(r'name="avatar" value="([^"]+)"', html) == bundled_names()


async def test_a_host_header_that_names_no_host_is_left_out_of_the_policy(web_hub):
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.get(page_url(web_hub.port), headers={"Host": "a b;script-src *"})
    assert response.status_code == 200
    assert "connect-src 'self';" in response.headers["content-security-policy"]
    assert "script-src *" not in response.headers["content-security-policy"]


async def test_loading_the_page_does_not_count_against_the_connection_limit():
    async with Hub("127.0.0.1", 0, address_limits=AddressLimits(connections=WindowLimit(1, 60.0))) as hub:
        async with httpx.AsyncClient(trust_env=False) as http:
            for path in ("/", "/line/Webphone1", "/chat.js", "/chat.css", "/"):
                assert (await http.get(page_url(hub.port, path))).status_code == 200
        client, _ = await python_client(hub, "First")  # the one connection this address may open
        await client.disconnect()


async def test_a_websocket_to_the_page_address_still_joins(web_hub):
    # "/" is the page for a browser's GET and the hub for a WebSocket upgrade.
    client, _ = await python_client(web_hub, "Plain")
    assert client.phone_number
    await client.disconnect()


# ---- the page in a browser ----------------------------------------------------------------


async def test_the_policy_refuses_inline_script_and_other_origins_in_the_browser(web_hub):
    async with chromium() as page:
        await page.open(page_url(web_hub.port))
        await page.script(
            "window.violations = [];"
            "document.addEventListener('securitypolicyviolation', (e) => window.violations.push(e.effectiveDirective));"
            "const inline = document.createElement('script');"
            "inline.textContent = 'window.inlineRan = true';"
            "document.body.append(inline);"
            "const picture = document.createElement('img');"
            "picture.src = 'http://localhost:' + arguments[0] + '/avatars/cat';"
            "document.body.append(picture);"
            "new WebSocket('ws://localhost:' + arguments[0] + '/');",
            web_hub.port,
        )
        seen = await page.wait_for_script(
            "return window.violations.length >= 3 ? window.violations : null", "three policy violations"
        )
        assert sorted(seen) == ["connect-src", "img-src", "script-src-elem"], seen
        assert await page.script("return window.inlineRan === undefined")


async def test_a_browser_and_a_python_client_see_each_other_and_chat_both_ways(web_hub):
    mary, mary_events = await python_client(web_hub, "Mary", avatar="cat")
    try:
        async with chromium() as page:
            anna = await join_from_page(page, page_url(web_hub.port, "/line/Webphone1"), "Anna", avatar="fox")

            # Each sees the other, the page with Mary's avatar from its own hub.
            src = await page.wait_for_script(ROSTER_AVATAR, "Mary's avatar in the page's list", mary.phone_number)
            assert src == f"http://127.0.0.1:{web_hub.port}/avatars/cat"
            seen = await mary_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == anna)
            assert (seen.status, seen.nickname, seen.avatar) == ("ONLINE", "Anna", "fox")

            # Line messages both ways.
            await page.type_into("text", "hello from the browser")
            await page.click("#composer button")
            got = await mary_events.wait_for(message_with("hello from the browser"))
            assert (got.sender, got.nickname, got.to) == (anna, "Anna", None)
            await mary.send_message("hello from python")
            assert (await log_line_with(page, "hello from python")).endswith("Mary:hello from python")

            # Direct messages both ways.
            await page.script("document.getElementById('to').value = arguments[0]", mary.phone_number)
            await page.type_into("text", "psst, Mary")
            await page.click("#composer button")
            got = await mary_events.wait_for(message_with("psst, Mary"))
            assert (got.sender, got.to) == (anna, mary.phone_number)
            assert await mary.send_typing(anna)
            await page.wait_for_script(TYPING_IS, "Mary typing to Anna", "Mary (to you) is typing\u2026")
            await mary.send_message("psst, Anna", to=anna)
            line = await log_line_with(page, "psst, Anna")
            assert "Mary \u2192 Anna (direct)" in line
            assert await page.script(
                "return [...document.querySelectorAll('#log li.direct')].map((li) => li.textContent)"
                ".filter((t) => t.includes('psst')).length"
            ) == 2

            await page.wait_for_script(TYPING_IS, "her message to end her typing", "")

            # Mary leaves while typing: the page drops her from the list and says so, and her typing ends.
            assert await mary.send_typing()
            await page.wait_for_script(TYPING_IS, "Mary typing on the line", "Mary is typing\u2026")
            await mary.disconnect()
            await log_line_with(page, "Mary is OFFLINE")
            assert await page.script("return document.getElementById('typing').textContent") == ""
            assert not await page.script(
                "return document.querySelector(`#roster li[data-phone-number='${arguments[0]}']`)", mary.phone_number
            )
    finally:
        await mary.disconnect()


async def test_other_peoples_text_is_shown_as_text_and_never_runs(web_hub):
    async with chromium() as page:
        await join_from_page(page, page_url(web_hub.port), "Anna")
        title = await page.script("return document.title")
        mallory, _ = await python_client(web_hub, "<b>Mallory</b>", avatar="javascript:alert(1)")
        try:
            await log_line_with(page, "<b>Mallory</b> is ONLINE")
            texts = [HOSTILE_HTML, *HOSTILE_TEXTS]
            for text in texts:
                await mallory.send_message(text)
            shown = await page.wait_for_script(
                "const lines = [...document.querySelectorAll('#log li.message')];"
                "return lines.length >= arguments[0] ? lines.map((li) => li.textContent) : null",
                "every message in the page's chat",
                len(texts),
            )
            # As the terminal shows them: controls and direction marks as visible stand-ins, markup as typed.
            assert [line.partition("<b>Mallory</b>:")[2] for line in shown] == [printable(text) for text in texts]
            # Nothing of it became markup: the chat holds only the page's own elements.
            tags = await page.script(
                "return [...document.querySelectorAll('#log *, #roster *')].map((e) => e.tagName.toLowerCase())"
            )
            assert set(tags) <= {"li", "span", "img"}
            assert not await page.script("return document.querySelector('#log img, #log b, #log script, #roster b')")
            assert await page.script("return document.title") == title
            # An avatar that names no picture on the hub shows the initial, fetching nothing.
            initial = await page.script(
                "const item = document.querySelector(`#roster li[data-phone-number='${arguments[0]}']`);"
                "return item.querySelector('.avatar').tagName + ' ' + item.querySelector('.avatar').textContent",
                mallory.phone_number,
            )
            assert initial == "SPAN <"
        finally:
            await mallory.disconnect()


async def test_a_dropped_connection_shows_reconnecting_and_comes_back(web_hub):
    async with Relay(web_hub.port) as relay, chromium() as page:
        await join_from_page(page, page_url(relay.port), "Anna")
        await page.wait_for_script("return document.getElementById('connection').className === 'online'", "online")
        relay.cut()
        await log_line_with(page, "connection lost; reconnecting")
        await log_line_with(page, "connected again")
        assert await page.script("return document.getElementById('connection').className") == "online"


async def test_a_picture_chosen_on_the_page_is_uploaded_and_shared_by_name(web_hub, tmp_path):
    picture = tmp_path / "me.png"
    Image.new("RGB", (90, 60), (20, 160, 90)).save(picture)
    mary, mary_events = await python_client(web_hub, "Mary")
    try:
        async with chromium() as page:
            await page.open(page_url(web_hub.port))
            await page.wait_for_script("return !document.getElementById('join-button').disabled", "the page to start")
            await page.type_into("nickname", "Anna")
            await page.type_into("upload", str(picture))
            await page.click("#join-button")
            seen = await mary_events.wait_for(
                lambda e: isinstance(e, ClientInfo) and e.nickname == "Anna" and e.get("avatar") is not None
            )
            assert re.fullmatch(r"[0-9a-f]{32}\.png", seen.avatar)
            # The page shows it too, fetched from its own hub, where Mary's client finds it as well.
            own = await page.wait_for_script(
                "const img = document.querySelector('#roster li.me img.avatar');"
                "return img && img.complete && img.naturalWidth > 0 ? img.getAttribute('src') : null",
                "the page's own uploaded avatar",
            )
            assert own == f"http://127.0.0.1:{web_hub.port}/avatars/{seen.avatar}"

            # Something that is no picture: the hub refuses it, the page says so and stays joined.
            fake = tmp_path / "fake.png"
            fake.write_bytes(b"<html>surely a picture</html>")
            await page.click("#leave")
            left = await mary_events.wait_for(
                lambda e: isinstance(e, ClientInfo) and e.phone_number == seen.phone_number and e.status == "OFFLINE"
            )
            assert left.nickname == "Anna"
            await page.type_into("upload", str(fake))
            await page.click("#join-button")
            refused = await log_line_with(page, "Your picture was not taken")
            assert "image" in refused
            assert await page.script("return document.getElementById('connection').className") == "online"
    finally:
        await mary.disconnect()


async def test_the_page_asks_for_the_hubs_token_and_says_when_it_is_refused():
    async with Hub("127.0.0.1", 0, token="s3cret-token") as hub, chromium() as page:
        await page.open(page_url(hub.port))
        await page.wait_for_script("return !document.getElementById('join-button').disabled", "the page to start")
        await page.type_into("nickname", "Anna")
        await page.type_into("token", "wrong")
        await page.click("#join-button")
        refusal = await page.wait_for_script(
            "return document.getElementById('join-error').textContent", "the refusal on the join form"
        )
        assert refusal.startswith("The hub refused:") and "token" in refusal
        await page.type_into("token", "s3cret-token")
        await page.click("#join-button")
        await page.wait_for_script("return document.getElementById('connection').className === 'online'", "joined")
        assert await page.script("return document.getElementById('join-error').textContent") == ""


async def test_line_name_in_the_address_is_the_line_the_page_joins(web_hub):
    cafe = OzWebClient(ping_interval=None)
    cafe_events = Recorder(cafe)
    await cafe.connect(web_hub.url, "Café", {"nickname": "Barista"})
    try:
        async with chromium() as page:
            anna = await join_from_page(page, page_url(web_hub.port, "/line/Caf%C3%A9"), "Anna")
            line = await page.script("const line = document.getElementById('line'); return [line.value, line.readOnly]")
            assert line == ["Café", True]
            seen = await cafe_events.wait_for(lambda e: isinstance(e, ClientInfo) and e.phone_number == anna)
            assert seen.nickname == "Anna"
            assert await page.script("return document.getElementById('line-title').textContent") == "Café"
            await page.open(page_url(web_hub.port, "/line/Sales/East"))  # a line name may hold a slash
            line = await page.wait_for_script(
                "const line = document.getElementById('line');"
                "return location.pathname === '/line/Sales/East' && line.readOnly && line.value",
                "the new page's join form to take its line from the address",
            )
            assert line == "Sales/East"
    finally:
        await cafe.disconnect()
