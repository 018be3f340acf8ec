"""What importing a part of ozchat loads: the chat starts without httpx, Pillow or rich-pixels,
and the hub's image rules bring in no client library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("httpx", "PIL", "rich_pixels", "textual")


def _loaded_after(module: str) -> set[str]:
    """The libraries of HEAVY that `import module` loads in a fresh interpreter."""
    code = f"import json, sys; import {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(done.stdout))


def test_importing_the_chat_app_loads_no_httpx_pillow_or_rich_pixels() -> None:
    assert _loaded_after("ozchat.tui.app") == {"textual"}


@pytest.mark.parametrize("module", ["ozchat.images", "ozchat.files", "ozchat.hub.avatars", "ozchat.bundled_avatars"])
def test_the_image_rules_the_hub_uses_load_no_client_library(module: str) -> None:
    assert _loaded_after(module) == set()


def test_drawing_identicons_loads_no_pillow_or_rich_pixels() -> None:
    assert _loaded_after("ozchat.avatars; ozchat.avatars.identicon('Qdb3W', 8)") == set()
