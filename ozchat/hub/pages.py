"""The web chat page the hub serves at `/` and `/line/NAME`: which file a path names, and the
headers that keep the page to its own hub. No I/O but reading the shipped files once.

The page is plain HTML, CSS and scripts from `ozchat/hub/web/`; its Content-Security-Policy
admits scripts, styles, images and WebSockets from the hub's own origin only, no inline script
or style, and no framing, so text other people send can never run as code in it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from urllib.parse import unquote

from ..protocol import ProtocolError
from ..protocol.rules import validate_line

_WEB = files("ozchat") / "hub" / "web"

# Path -> (file in ozchat/hub/web, content type). `/` and `/line/NAME` are the page itself.
_PAGE = ("index.html", "text/html; charset=utf-8")
_ASSETS = {
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
}

# A Host header fit to name the hub in connect-src: a DNS name, IPv4 or bracketed IPv6, and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def page_file(path: str) -> tuple[str, str] | None:
    """The (file, content type) a GET of `path` answers with, or None when it is no page route.

    `/line/NAME` is the page only for a name the hub would take as a line (percent-decoded).
    """
    if path == "/":
        return _PAGE
    if path.startswith("/line/"):
        try:
            validate_line(unquote(path.removeprefix("/line/"), errors="strict"))
        except (ProtocolError, UnicodeDecodeError):
            return None
        return _PAGE
    return _ASSETS.get(path)


def is_page_path(path: str) -> bool:
    """True for every path the page routes own, a bad `/line/` name included (answered 404)."""
    return path == "/" or path.startswith("/line/") or path in _ASSETS


@cache
def web_file(name: str) -> bytes:
    """The bytes of a shipped file of the page (read once; they do not change while the hub runs)."""
    return (_WEB / name).read_bytes()


def security_headers(host_header: str | None) -> dict[str, str]:
    """Headers for every page response: CSP to the hub's own origin, no sniffing, no framing."""
    connect = "'self'"
    if host_header is not None and _HOST.fullmatch(host_header):
        # 'self' covers ws:/wss: to the page's own host only in CSP level 3 browsers; say it outright.
        connect += f" ws://{host_header} wss://{host_header}"
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
