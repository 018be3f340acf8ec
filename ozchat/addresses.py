"""Hosts in URLs: the one rule for writing an IPv6 literal. No I/O."""

from __future__ import annotations


def url_host(host: str) -> str:
    """`host` as a URL spells it: an IPv6 literal in brackets (once), a name or IPv4 address as it is."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def bare_host(host: str) -> str:
    """`host` without the brackets a URL puts around an IPv6 literal: the inverse of `url_host`."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host
