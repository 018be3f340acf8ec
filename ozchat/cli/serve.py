"""`ozchat serve`: run a hub with the options given."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path

import platformdirs

from ..hub.autostart import READY
from ..hub.limits import AddressLimits, RateLimit, WindowLimit


def hub_tls(certfile: Path, keyfile: Path | None) -> ssl.SSLContext:
    """The hub's server context for wss:// and https; raises ValueError for files it cannot use."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        key = f" with the key {keyfile}" if keyfile is not None else ""
        why = getattr(exc, "strerror", None) or exc
        raise ValueError(f"cannot use the certificate {certfile}{key}: {why}") from None
    return context


def _address_limits(args: argparse.Namespace) -> AddressLimits:
    return AddressLimits(
        frames=RateLimit(args.address_rate, args.address_burst) if args.address_rate > 0 else None,
        connections=WindowLimit(args.connections_per_minute, 60.0) if args.connections_per_minute > 0 else None,
        joins=WindowLimit(args.joins_per_minute, 60.0) if args.joins_per_minute > 0 else None,
        new_lines=WindowLimit(args.lines_per_hour, 3600.0) if args.lines_per_hour > 0 else None,
    )


async def serve(args: argparse.Namespace) -> int:
    from ..exceptions import BackplaneError
    from ..hub import Hub
    from ..hub.avatars import UploadStore
    from ..hub.store import HistoryStore, MemoryStore, SQLiteStore, StoreError

    if args.keyfile is not None and args.certfile is None:
        print("ozchat serve: --keyfile needs --certfile", file=sys.stderr)
        return 2
    try:
        tls = hub_tls(args.certfile, args.keyfile) if args.certfile is not None else None
    except ValueError as exc:
        print(f"ozchat serve: {exc}", file=sys.stderr)
        return 2
    store: HistoryStore
    max_bytes = int(args.max_store_mb * 1024 * 1024) if args.max_store_mb > 0 else None
    if args.redis is not None:
        store, where = MemoryStore(args.keep_messages, args.keep_days, max_bytes), "shared through Redis"
    elif args.store == "memory" or (args.store is None and args.port == 0):
        store, where = MemoryStore(args.keep_messages, args.keep_days, max_bytes), "memory only"
    else:
        path = Path(args.store or Path(platformdirs.user_data_dir("ozchat")) / f"history-{args.port}.sqlite3")
        try:
            store, where = SQLiteStore(path, args.keep_messages, args.keep_days, max_bytes), str(path)
        except (OSError, StoreError) as exc:
            print(f"ozchat serve: cannot open the history file {path}: {exc}", file=sys.stderr)
            return 1
        try:
            store.check()
        except StoreError as exc:
            store.close()
            print(f"ozchat serve: {exc}; move it aside to start afresh, or use --store memory", file=sys.stderr)
            return 1
    uploads_dir = Path(args.uploads or Path(platformdirs.user_data_dir("ozchat")) / "avatars")
    hub = Hub(
        args.host,
        args.port,
        token=args.token,
        store=store,
        uploads=UploadStore(uploads_dir),
        history=args.history,
        grace=args.grace,
        idle_exit=args.idle_exit,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        rate_limit=RateLimit(args.rate, args.burst) if args.rate > 0 and not args.no_limits else None,
        allowed_origins=args.allow_origin,
        address_limits=None if args.no_limits else _address_limits(args),
        trusted_proxies=args.trust_proxy,
        ssl_context=tls,
        redis_url=args.redis,
        heartbeat_ttl=args.heartbeat_ttl,
    )
    try:
        await hub.start()
    except BackplaneError as exc:
        store.close()
        print(f"ozchat serve: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        store.close()
        print(f"ozchat serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"ozchat hub listening on {hub.url} (history: {where})", flush=True)
    if args.ready_fd is not None:
        os.write(args.ready_fd, READY)
        os.close(args.ready_fd)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(hub.stop()))
    await hub.serve_forever()
    return 0
