"""Fetch avatar images over HTTP(S): bounded in size, time, redirects, concurrency and targets.

Avatar URLs come from other users, so by default only the hub's own host and public addresses
are contacted; a URL aiming at loopback, the LAN or a metadata service is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import socket
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
import httpx

from ..images import AvatarError, AvatarErrorCode
from .disk_cache import CachedBody, DiskCache, default_cache_dir
from .singleflight import SingleFlight

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# Name lookups get threads of their own: a resolver that never answers must not hold up decoding.
_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ozchat-avatar-dns")
_USER_AGENT = "ozchat-avatars/0.1"


# ---- which addresses may be contacted -----------------------------------------------


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address, judging IPv4 embedded in IPv6 by its IPv4.

    Other IPv6 must be global unicast (2000::/3) outside local NAT64: IPv4-compatible and
    IPv4-translated forms (::a.b.c.d, ::ffff:0:a.b.c.d) can reach private IPv4 through a tunnel.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
        elif ip not in _GLOBAL_UNICAST_V6 or ip in _LOCAL_NAT64:
            return False
    return ip.is_global and not ip.is_multicast


NameLookup = Callable[[str, int], list[str]]


def system_lookup(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives `host` for a TCP connection (blocking: runs in the resolver pool)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _host_port(entry: str) -> tuple[str, int | None]:
    parts = urlsplit(entry if "://" in entry else f"//{entry}")
    if not parts.hostname:
        raise ValueError(f"not a host or host:port: {entry!r}")
    return parts.hostname.lower(), parts.port


class _AddressGuard:
    """Resolves a host and approves its addresses: all public, or the host trusted, or private allowed."""

    def __init__(self, trusted_hosts: Iterable[str], allow_private: bool, lookup: NameLookup) -> None:
        self._trusted = frozenset(_host_port(entry) for entry in trusted_hosts)
        self._allow_private = allow_private
        self._lookup = lookup

    def trusts(self, host: str, port: int) -> bool:
        host = host.lower()
        return (host, port) in self._trusted or (host, None) in self._trusted

    async def resolve(self, host: str, port: int) -> list[str]:
        try:
            found = await asyncio.get_running_loop().run_in_executor(_RESOLVER, self._lookup, host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(found))
        if not (self._allow_private or self.trusts(host, port)):
            for address in addresses:
                if not is_public_address(address):
                    where = host if address == host else f"{host} resolves to {address}, which"
                    raise AvatarError(AvatarErrorCode.REFUSED_ADDRESS, f"{where} is not a public address")
        return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses the guard approved, never to a fresh lookup of the name.

    Checking then connecting by name would let DNS answer differently the second time
    (rebinding); here the socket goes to the checked IP while httpcore still verifies the
    TLS certificate and sends SNI for the URL's host name, as it does for any connection.
    """

    def __init__(self, guard: _AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self, guard: _AddressGuard, limits: httpx.Limits, cafile: str | os.PathLike[str] | None = None
    ) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        if cafile is not None:
            ssl_context.load_verify_locations(cafile)  # a hub whose certificate a private CA signed
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx 0.28 takes no network backend (encode/httpx#3749), so the pool it just built is
        # replaced by the same pool over the guarded backend; no proxy is used, by construction.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(guard),
        )


# ---- the fetcher --------------------------------------------------------------------


def _checked_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise AvatarError(AvatarErrorCode.BAD_URL, f"not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise AvatarError(AvatarErrorCode.BAD_URL, f"only http and https URLs are fetched, not {url[:200]!r}")
    return parsed


def _kib(size: int) -> str:
    return f"{size / 1024:g} KiB"


class AvatarFetcher:
    """Downloads avatar images for the UI, with every limit a hostile URL could abuse.

    One fetch per URL runs at a time (others await its result), `max_concurrency` at most in
    all, each within `deadline` seconds overall besides httpx's per-operation `timeout`. A body
    is cut at `max_bytes`, redirects are followed by hand (`max_redirects`, each one checked
    again), and targets must be public addresses unless the host is in `trusted_hosts`
    ("host" or "host:port", e.g. the hub's) or `allow_private` is set. Bodies are kept in
    `cache_dir` and revalidated with ETag/Last-Modified, at most once per `fresh_for` seconds
    per fetcher; failures are remembered for `failure_ttl` seconds. https is verified against
    the usual CAs and, with `cafile`, the CA certificates in that PEM file too. Host names are
    resolved by `lookup` (the system resolver unless given), in a thread pool of their own.
    """

    def __init__(
        self,
        *,
        trusted_hosts: Iterable[str] = (),
        allow_private: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        deadline: float = 10.0,
        timeout: float = 5.0,
        max_redirects: int = 3,
        max_concurrency: int = 4,
        failure_ttl: float = 300.0,
        fresh_for: float = 300.0,
        max_cache_bytes: int = 64 * 1024 * 1024,
        cafile: str | os.PathLike[str] | None = None,
        lookup: NameLookup = system_lookup,
    ) -> None:
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._max_redirects = max_redirects
        self._failure_ttl = failure_ttl
        self._fresh_for = fresh_for
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._cache = DiskCache(Path(cache_dir) if cache_dir is not None else default_cache_dir(), max_cache_bytes)
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(_AddressGuard(trusted_hosts, allow_private, lookup), limits, cafile),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={
                "User-Agent": _USER_AGENT,
                "Accept": "image/png, image/jpeg, image/gif, image/webp",
                # Images are compressed already; a compressed body could also inflate past the cap.
                "Accept-Encoding": "identity",
            },
        )
        self._inflight: SingleFlight[str, bytes] = SingleFlight()
        self._failures: dict[str, tuple[float, AvatarError]] = {}
        self._validated: dict[str, float] = {}

    @property
    def cache_dir(self) -> Path:
        return self._cache.directory

    async def __aenter__(self) -> AvatarFetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel fetches in flight and close the connections."""
        await self._inflight.cancel_all()
        await self._client.aclose()

    async def fetch(self, url: str) -> bytes:
        """Return the image bytes at `url`, or raise AvatarError with the reason."""
        failure = self._failures.get(url)
        if failure is not None:
            until, error = failure
            if time.monotonic() < until:
                raise error.copy()
            del self._failures[url]
        return await self._inflight.run(url, lambda: self._fetch(url))

    def _remember_failure(self, url: str, error: AvatarError) -> None:
        now = time.monotonic()
        self._failures = {key: value for key, value in self._failures.items() if value[0] > now}
        self._failures[url] = (now + self._failure_ttl, error)

    async def _fetch(self, url: str) -> bytes:
        try:
            return await self._fetch_validated(url)
        except AvatarError as error:
            self._remember_failure(url, error)
            raise

    async def _fetch_validated(self, url: str) -> bytes:
        _checked_url(url)
        cached = await asyncio.to_thread(self._cache.load, url)
        if cached is not None and time.monotonic() - self._validated.get(url, -math.inf) < self._fresh_for:
            return cached.body
        try:
            async with self._semaphore:
                entry, store = await self._download_in_time(url, cached)
        except AvatarError as error:
            # An avatar seen before stays on screen while its server is unreachable.
            if cached is not None and error.code in (AvatarErrorCode.TIMEOUT, AvatarErrorCode.CONNECTION_FAILED):
                return cached.body
            raise
        self._validated[url] = time.monotonic()
        if store:
            await asyncio.to_thread(self._cache.store, entry)
        return entry.body

    async def _download_in_time(self, url: str, cached: CachedBody | None) -> tuple[CachedBody, bool]:
        """`_download` within the overall deadline, its httpx errors told as AvatarError."""
        try:
            async with asyncio.timeout(self._deadline):
                return await self._download(url, cached)
        except TimeoutError:
            raise AvatarError(AvatarErrorCode.TIMEOUT, f"no complete answer within {self._deadline:g} s") from None
        except httpx.TimeoutException as exc:
            raise AvatarError(AvatarErrorCode.TIMEOUT, f"the server did not answer in time ({exc})") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise AvatarError(AvatarErrorCode.BAD_URL, str(exc)) from None
        except httpx.HTTPError as exc:
            raise AvatarError(AvatarErrorCode.CONNECTION_FAILED, str(exc) or type(exc).__name__) from None

    async def _download(self, url: str, cached: CachedBody | None) -> tuple[CachedBody, bool]:
        """GET `url` following redirects by hand; return the entry and whether to store it.

        A 304 answer returns `cached` itself, not to be stored again.
        """
        current = str(_checked_url(url))
        seen = {current}
        for _ in range(self._max_redirects + 1):
            headers = cached.conditional_headers() if cached is not None and current == cached.final_url else {}
            async with self._client.stream("GET", _checked_url(current), headers=headers) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_STATUSES and location:
                    current = str(response.url.join(location))
                    if current in seen:
                        raise AvatarError(AvatarErrorCode.REDIRECT_LOOP, f"redirected back to {current[:200]}")
                    seen.add(current)
                    continue
                if response.status_code == 304 and cached is not None and headers:
                    return cached, False
                if response.status_code != 200:
                    raise AvatarError(
                        AvatarErrorCode.HTTP_STATUS,
                        f"the server answered {response.status_code} {response.reason_phrase}".rstrip(),
                        status=response.status_code,
                    )
                entry = CachedBody(
                    url,
                    current,
                    response.headers.get("etag"),
                    response.headers.get("last-modified"),
                    await self._read_capped(response),
                )
                return entry, "no-store" not in response.headers.get("cache-control", "").lower()
        raise AvatarError(AvatarErrorCode.TOO_MANY_REDIRECTS, f"more than {self._max_redirects} redirects")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise AvatarError(
                AvatarErrorCode.TOO_LARGE, f"{_kib(int(declared))} announced; the limit is {_kib(self._max_bytes)}"
            )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise AvatarError(AvatarErrorCode.NOT_AN_IMAGE, f"the body came {encoding}-encoded, not as an image")
        chunks: list[bytes] = []
        received = 0
        # Counted as it arrives, whatever Content-Length said: the cap holds for lying servers too.
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > self._max_bytes:
                raise AvatarError(AvatarErrorCode.TOO_LARGE, f"more than {_kib(self._max_bytes)}")
            chunks.append(chunk)
        return b"".join(chunks)
