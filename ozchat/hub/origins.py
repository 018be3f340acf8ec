"""Which browser origins may open a WebSocket to the hub. No I/O.

A browser sends `Origin` with every WebSocket handshake, so a page the user happens to open
could otherwise reach a hub on their machine. Programs that send no Origin are not browsers
and are not concerned.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from ..addresses import url_host

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _scheme_host_port(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[parts.scheme]


def normalize_origin(origin: str) -> str | None:
    """`scheme://host:port` with the port spelled out, or None for anything that is not an origin."""
    found = _scheme_host_port(origin)
    if found is None:
        return None
    scheme, host, port = found
    return f"{scheme}://{url_host(host)}:{port}"


def _names_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_allowed(
    origin: str | None, host_header: str | None, allowed: Collection[str], *, loopback_hub: bool = False
) -> bool:
    """True for no Origin, for the hub's own origin (the request's Host), and for listed origins.

    `allowed` holds origins already normalized by `normalize_origin`, or "*" for any. A hub
    reached on a loopback address counts as its own only a page served from a loopback name:
    any other name there is a foreign site whose DNS now points at this machine (rebinding).
    """
    if origin is None or "*" in allowed:
        return True
    own = _scheme_host_port(origin)
    if own is None:
        return False  # "null" (sandboxed frames, files) and other oddities
    scheme, host, port = own
    if normalize_origin(origin) in allowed:
        return True
    if not host_header:
        return False
    served = _scheme_host_port(f"{scheme}://{host_header.strip()}")
    if loopback_hub and not _names_loopback(host):
        return False
    return served == (scheme, host, port)
