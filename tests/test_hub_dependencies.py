"""Dependencies point one way: the hub loads nothing of the UI or of the client's avatar package."""

from __future__ import annotations

import json
import subprocess
import sys

# What only the chat UI and its avatars need.
CLIENT_ONLY = ("httpx", "rich_pixels", "textual", "PIL")
# The client's avatar package: the hub shares only ozchat.images and ozchat.bundled_avatars with it.
AVATAR_PACKAGE = "ozchat.avatars"


def _modules_after(code: str) -> set[str]:
    """The modules, by full name, a fresh interpreter has loaded after running `code`."""
    shown = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    return set(json.loads(shown.stdout.splitlines()[-1]))


def _loaded_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running `code`."""
    return {name.split(".")[0] for name in _modules_after(code)}


def _avatar_package_in(modules: set[str]) -> set[str]:
    return {name for name in modules if name == AVATAR_PACKAGE or name.startswith(AVATAR_PACKAGE + ".")}


def test_importing_the_hub_loads_no_ui_http_client_or_image_library():
    assert _loaded_after("import ozchat.hub.server").isdisjoint(CLIENT_ONLY)


def test_the_hub_and_its_http_routes_load_nothing_of_the_client_avatar_package():
    assert _avatar_package_in(_modules_after("import ozchat.hub.server, ozchat.hub.http, ozchat.hub.avatars")) == set()


def test_a_running_hub_that_served_a_client_has_loaded_no_ui_http_client_or_image_library():
    code = """
import asyncio
from ozchat import OzWebClient
from ozchat.hub import Hub

async def main():
    async with Hub("127.0.0.1", 0) as hub:
        client = OzWebClient(ping_interval=None)
        await client.connect(hub.url, "Webphone1", {"nickname": "John"})
        await client.send_message("hi")
        await client.disconnect()

asyncio.run(main())
"""
    assert _loaded_after(code).isdisjoint(CLIENT_ONLY)


def test_ozchat_serve_loads_no_ui_http_client_or_image_library():
    """The real command, run until it stops by itself: -X importtime lists every module it imported."""
    shown = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ozchat", "serve", "--port", "0", "--store", "memory",
         "--idle-exit", "0.5"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    modules = {line.rsplit("|", 1)[1].strip() for line in shown.stderr.splitlines() if "|" in line}
    imported = {name.split(".")[0] for name in modules}
    assert "websockets" in imported and "ozchat" in imported  # the listing is read right
    assert imported.isdisjoint(CLIENT_ONLY)
    assert _avatar_package_in(modules) == set()


def test_the_command_line_loads_the_chat_ui_only_for_the_chat():
    """`ozchat serve` starts without the UI's modules (their import alone took a tenth of a second)."""
    loaded = _modules_after("import ozchat.cli")
    assert {"ozchat.cli.chat", "ozchat.cli.events", "ozchat.tui", "ozchat.client"}.isdisjoint(loaded)
    assert _loaded_after("import ozchat.cli").isdisjoint(CLIENT_ONLY)
    assert "ozchat.cli.chat" in _modules_after("from ozchat.cli import build_chat_app")
