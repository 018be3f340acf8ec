"""The command line: the chat UI (default), `serve` (the hub) and `events` (headless client)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import platformdirs

from . import __version__
from .client import ConnectionStateChanged, OzWebClient
from .exceptions import OzchatError
from .hub.autostart import READY, LocalHub, StartedHub, is_loopback
from .hub.limits import AddressLimits, RateLimit, WindowLimit
from .hub.origins import normalize_origin
from .protocol import DEFAULT_PORT, ChatMessage, ClientInfo, ClientStatus, ConnectionState, Gap, encode, server_url
from .settings import DEFAULT_SCROLLBACK, ChatSettings, SettingsError, load_settings, settings_path
from .text import printable

if TYPE_CHECKING:
    from .tui.app import OzChatApp


def _property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _origin(text: str) -> str:
    if text == "*":
        return text
    origin = normalize_origin(text)
    if origin is None:
        raise argparse.ArgumentTypeError(f"expected an origin such as https://chat.example.com, got {text!r}")
    return origin


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address or network such as 10.0.0.0/8, got {text!r}") from None


CLIENT_TOKEN_VARIABLE = "OZCHAT_TOKEN"
HUB_TOKEN_VARIABLE = "OZCHAT_HUB_TOKEN"


def _add_token_options(parser: argparse.ArgumentParser, variable: str, what: str, last: str = "") -> None:
    """--token and --token-file, mutually exclusive; the help gives the whole precedence."""
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument(
        "--token",
        help=f"{what}; other users of this machine can read it in the process list, so prefer "
        f"--token-file or ${variable} (precedence: --token, --token-file, ${variable}{last})",
    )
    tokens.add_argument(
        "--token-file", type=Path, metavar="PATH",
        help="read the token from the first line of this file (keep it private: chmod 600)",
    )


def read_token_file(path: Path) -> tuple[str, str | None]:
    """The token on the first line of `path`, and a warning when other users may read the file.

    Raises ValueError when the file cannot be read or holds no token.
    """
    try:
        mode = path.stat().st_mode
        with path.open(encoding="utf-8") as file:
            token = file.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not token:
        raise ValueError(f"the token file {path} holds no token on its first line")
    warning = None
    if mode & 0o077:
        warning = f"warning: other users may read the token file {path} (mode {mode & 0o777:o}); chmod 600 it"
    return token, warning


def resolve_token(args: argparse.Namespace, variable: str, fallback: str | None = None) -> str | None:
    """The token to use: --token, else --token-file, else $`variable`, else `fallback` (settings).

    A token file others may read is used, with a warning on standard error; raises ValueError
    for a token file that cannot be used.
    """
    if args.token is not None:
        return args.token
    if args.token_file is not None:
        token, warning = read_token_file(args.token_file)
        if warning is not None:
            print(f"ozchat: {warning}", file=sys.stderr, flush=True)
        return token
    return os.environ.get(variable) or fallback


def _add_connection_options(parser: argparse.ArgumentParser, *, settings: bool = False) -> None:
    parser.add_argument("--host", default="localhost", help="hub host, host:port or ws(s):// URL (default: localhost)")
    parser.add_argument("--port", type=int, default=None, help=f"hub port (default: {DEFAULT_PORT})")
    parser.add_argument("--line", default="Webphone1", help="the line to join (default: Webphone1)")
    parser.add_argument("--nick", help="your nickname, shared with everyone on the line")
    parser.add_argument(
        "--avatar", metavar="URL|NAME|FILE",
        help="avatar to share: an image URL, a bundled name such as cat, or a local image file to upload (chat only)",
    )
    parser.add_argument(
        "--prop", type=_property, action="append", default=[], metavar="KEY=VALUE", help="share any property (repeatable)"
    )
    _add_token_options(
        parser, CLIENT_TOKEN_VARIABLE, "the hub's security token, if it asks for one",
        ", then token in the settings file" if settings else "",
    )
    parser.add_argument(
        "--cafile", type=Path, metavar="PEM",
        help="also trust the CA certificates in this file (besides the system's) to verify a wss:// hub "
        "and the avatars it serves over https",
    )
    parser.add_argument(
        "--no-autostart", dest="autostart", action="store_false",
        help="do not start a local hub when none listens on a loopback --host (at start, or again "
        "when reconnecting finds it gone)",
    )
    parser.add_argument(
        "--autostart-idle", type=float, default=60.0, metavar="SECONDS",
        help="a hub started here stops after this long with no client (default: 60)",
    )


def client_tls(cafile: Path | None) -> ssl.SSLContext | None:
    """The context that verifies a wss:// hub: the system's CAs, and those in `cafile` too.

    None without `cafile` (the client's default does the same); raises ValueError for a bad file.
    """
    if cafile is None:
        return None
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use the CA file {cafile}: {getattr(exc, 'strerror', None) or exc}") from None
    return context


def hub_tls(certfile: Path, keyfile: Path | None) -> ssl.SSLContext:
    """The hub's server context for wss:// and https; raises ValueError for files it cannot use."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        key = f" with the key {keyfile}" if keyfile is not None else ""
        raise ValueError(f"cannot use the certificate {certfile}{key}: {getattr(exc, 'strerror', None) or exc}") from None
    return context


def _server_address(args: argparse.Namespace) -> str:
    if args.port is None or "://" in args.host:
        return args.host
    return f"{args.host}:{args.port}"


def local_hub_for(args: argparse.Namespace) -> LocalHub | None:
    """The local hub this client may start: with a loopback ws:// --host, unless --no-autostart.

    Raises ValueError for a bad address.
    """
    if not args.autostart:
        return None
    parts = urlsplit(server_url(_server_address(args)))
    if parts.scheme != "ws" or not parts.hostname or not is_loopback(parts.hostname):
        return None
    return LocalHub(parts.hostname, parts.port or DEFAULT_PORT, idle_exit=args.autostart_idle)


def started_hub_line(started: StartedHub, *, again: bool = False) -> str:
    """What `ozchat events` prints on standard error when it started a hub."""
    return f"-- started a local hub {'again ' if again else ''}on {started.host}:{started.port} (pid {started.pid}, log: {started.log_path})"


def _properties(args: argparse.Namespace) -> dict[str, Any]:
    properties: dict[str, Any] = dict(args.prop)
    if args.nick:
        properties["nickname"] = args.nick
    if args.avatar:
        properties["avatar"] = args.avatar
    return properties


def build_parser(settings: ChatSettings | None = None) -> argparse.ArgumentParser:
    """The chat's options; `settings` (by default the user's settings.toml) supplies their defaults."""
    path = settings_path()
    parser = argparse.ArgumentParser(
        prog="ozchat",
        description="Terminal chat with live presence. `ozchat serve` runs a hub, "
        "`ozchat events` prints a line's events; with neither, the chat UI starts.",
        epilog=f"Defaults for the chat's options can be kept in {path} (TOML): host, port, line, nick, "
        "avatar, token, theme, scrollback, and a [properties] table of shared properties. Flags win.",
    )
    parser.add_argument("--version", action="version", version=f"ozchat {__version__}")
    _add_connection_options(parser, settings=True)
    parser.add_argument("--theme", help="a Textual theme, such as nord, gruvbox or textual-light")
    parser.add_argument(
        "--scrollback", type=_at_least_one, default=DEFAULT_SCROLLBACK, metavar="LINES",
        help=f"messages each chat tab keeps in memory (default: {DEFAULT_SCROLLBACK})",
    )
    if settings is None:
        try:
            settings = load_settings(path)
        except SettingsError as exc:
            parser.error(str(exc))
    defaults = settings.option_defaults()
    # The settings file's token comes last, after the flags and the environment: see resolve_token.
    settings_token = defaults.pop("token", None)
    parser.set_defaults(**defaults, settings_token=settings_token, settings_properties=settings.properties)
    return parser


def build_serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ozchat serve", description="Run an ozchat hub.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks one)")
    _add_token_options(parser, HUB_TOKEN_VARIABLE, "require this security token in every hello")
    parser.add_argument(
        "--store", default=None, metavar="PATH|memory",
        help="history file (default: history-PORT.sqlite3 in the user data directory; memory with --port 0), "
        "or 'memory' to keep none",
    )
    parser.add_argument(
        "--uploads", default=None, metavar="DIR", help="where uploaded avatars are kept (default: avatars/ in the user data directory)"
    )
    parser.add_argument("--history", type=int, default=50, help="messages replayed to a newcomer (default: 50)")
    parser.add_argument("--keep-messages", type=int, default=10_000, help="messages kept per line (default: 10000)")
    parser.add_argument("--keep-days", type=float, default=30.0, help="days a message is kept (default: 30)")
    parser.add_argument(
        "--max-store-mb", type=float, default=200.0, metavar="MiB",
        help="bound on all stored history, on disk or in memory; over it the history of the lines that have been "
        "quiet longest goes first; 0 for no bound (default: 200)",
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds a dropped client keeps its number to resume (default: 10)"
    )
    parser.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS", help="stop after this long with no client")
    parser.add_argument("--ping-interval", type=float, default=20.0, help="seconds between keepalive pings")
    parser.add_argument("--ping-timeout", type=float, default=20.0, help="seconds a client may take to answer a ping")
    parser.add_argument(
        "--rate", type=float, default=10.0,
        help="frames a second one connection may send on average, the hello and those before it included; "
        "0 for no limit (default: 10)",
    )
    parser.add_argument("--burst", type=int, default=30, help="frames one connection may send in a burst (default: 30)")
    limits = parser.add_argument_group(
        "limits per client address",
        "Counted for all connections from one address (an IPv6 /64), loopback included; 0 lifts a limit.",
    )
    limits.add_argument(
        "--address-rate", type=float, default=20.0, metavar="FRAMES",
        help="frames a second from one address on average, those before the hello too (default: 20)",
    )
    limits.add_argument(
        "--address-burst", type=int, default=60, metavar="FRAMES", help="frames from one address in a burst (default: 60)"
    )
    limits.add_argument(
        "--connections-per-minute", type=int, default=60, metavar="N",
        help="WebSocket connections one address may open in any minute; more get HTTP 429 (default: 60)",
    )
    limits.add_argument(
        "--joins-per-minute", type=int, default=30, metavar="N", help="hellos one address may send in any minute (default: 30)"
    )
    limits.add_argument(
        "--lines-per-hour", type=int, default=20, metavar="N",
        help="lines never used before that one address may open in any hour (default: 20)",
    )
    limits.add_argument(
        "--no-limits", action="store_true", help="lift every rate limit, per client and per address (for benchmarks)"
    )
    limits.add_argument(
        "--trust-proxy", type=_network, action="append", default=[], metavar="ADDRESS[/BITS]",
        help="a reverse proxy whose X-Forwarded-For names the client (repeatable); "
        "otherwise the connecting address counts",
    )
    parser.add_argument(
        "--allow-origin", type=_origin, action="append", default=[], metavar="ORIGIN",
        help="also admit WebSockets from web pages of this origin, such as https://chat.example.com, or * for any "
        "(repeatable; by default a browser may connect only from the hub's own address; programs send no origin)",
    )
    parser.add_argument(
        "--certfile", type=Path, metavar="PEM",
        help="serve wss:// and https with this certificate (chain), so clients connect to wss://HOST:PORT/",
    )
    parser.add_argument(
        "--keyfile", type=Path, metavar="PEM", help="the certificate's private key (default: in --certfile)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--ready-fd", type=int, default=None, metavar="FD",
        help="write 'ready' to this inherited file descriptor once listening, then close it "
        "(how a client that starts a hub learns that it was this one that got the port)",
    )
    return parser


def build_events_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ozchat events",
        description="Join a line and print one line per event until interrupted: "
        "`John is ONLINE`, `John is OFFLINE`, `<John> hi`, with messages said before you joined "
        "replayed first and marked `[history] `. Lines typed on standard input are sent to the line.",
    )
    _add_connection_options(parser)
    parser.add_argument(
        "--json", action="store_true",
        help="print JSON lines instead of text: the protocol's frames with an \"event\" key; "
        "connection events carry your own phoneNumber and line",
    )
    return parser


# ---- serve --------------------------------------------------------------------------


def _address_limits(args: argparse.Namespace) -> AddressLimits:
    return AddressLimits(
        frames=RateLimit(args.address_rate, args.address_burst) if args.address_rate > 0 else None,
        connections=WindowLimit(args.connections_per_minute, 60.0) if args.connections_per_minute > 0 else None,
        joins=WindowLimit(args.joins_per_minute, 60.0) if args.joins_per_minute > 0 else None,
        new_lines=WindowLimit(args.lines_per_hour, 3600.0) if args.lines_per_hour > 0 else None,
    )


async def _serve(args: argparse.Namespace) -> int:
    from .hub import Hub
    from .hub.avatars import UploadStore
    from .hub.store import HistoryStore, MemoryStore, SQLiteStore, StoreError

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
    if args.store == "memory" or (args.store is None and args.port == 0):
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
    )
    try:
        await hub.start()
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


# ---- events -------------------------------------------------------------------------


HISTORY_MARKER = "[history] "


class _EventPrinter:
    """Prints a line's events as text (`John is ONLINE`, `<John> hi`) or as JSON lines."""

    def __init__(self, client: OzWebClient, as_json: bool) -> None:
        self._client = client
        self._json = as_json
        self._names: dict[str, str] = {}

    def _out(self, text: str) -> None:
        print(text, flush=True)

    def _name(self, phone_number: str | None, fallback: str | None = None) -> str:
        if phone_number == self._client.phone_number and self._client.me is not None:
            return printable(self._client.me.display_name)
        return printable(self._names.get(phone_number or "", fallback or phone_number or "?"))

    def connection(self, change: ConnectionStateChanged) -> None:
        if self._json:
            # Our own number and line, as the hub gave them: others' events name us by that number.
            self._out(json.dumps({
                "event": "connection", "state": change.state.value, "code": change.code,
                "reason": change.reason, "retrying": change.retrying,
                "phoneNumber": self._client.phone_number, "line": self._client.line,
                "nickname": self._client.nickname, "takenNickname": change.taken_nickname,
            }))
            return
        detail = (
            f" as {self._client.phone_number} on {printable(self._client.line or '')}"
            if change.state is ConnectionState.ACCESS_GRANTED
            else ""
        )
        code = f"{printable(str(change.code))}: " if change.code is not None else ""
        why = f" ({code}{printable(change.reason)})" if change.code is not None or change.reason else ""
        retrying = ", reconnecting" if change.retrying else ""
        print(f"-- {change.state.value}{detail}{why}{retrying}", file=sys.stderr, flush=True)
        if change.taken_nickname is not None:
            taken, given = printable(change.taken_nickname), printable(self._client.nickname or "")
            print(f"-- {taken} was taken; you are {given}", file=sys.stderr, flush=True)

    def client(self, info: ClientInfo) -> None:
        if self._json:
            self._out(json.dumps({"event": "client", **json.loads(encode(info))}))
            return
        previous = self._names.get(info.phone_number)
        name = printable(info.display_name)
        if info.status is ClientStatus.OFFLINE:
            self._names.pop(info.phone_number, None)
            self._out(f"{name} is OFFLINE")
            return
        self._names[info.phone_number] = info.display_name
        if previous is None:
            self._out(f"{name} is ONLINE")
        elif previous != info.display_name:
            self._out(f"{printable(previous)} is now {name}")
        else:
            shared = ", ".join(f"{printable(k)}={printable(json.dumps(v, ensure_ascii=False))}" for k, v in info.properties.items())
            self._out(f"{name} shares {shared}")

    def gap(self, gap: Gap) -> None:
        if self._json:
            self._out(json.dumps({"event": "gap", **json.loads(encode(gap))}))
            return
        kind = "your direct messages" if gap.direct else "messages"
        print(f"-- {kind} {gap.after_seq + 1} to {gap.before_seq - 1} could not be replayed", file=sys.stderr, flush=True)

    def message(self, message: ChatMessage) -> None:
        if self._json:
            self._out(json.dumps({"event": "message", **json.loads(encode(message))}))
            return
        sender = self._name(message.sender, message.nickname)
        text = printable(message.text)
        # Said before we joined, replayed from the hub's history: not news.
        marker = HISTORY_MARKER if message.history else ""
        if message.action:
            self._out(f"{marker}* {sender} {text}")
        elif message.to is not None:
            self._out(f"{marker}<{sender} -> {self._name(message.to)}> {text}")
        else:
            self._out(f"{marker}<{sender}> {text}")


def _read_stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _send_typed_lines(client: OzWebClient, queue: asyncio.Queue[str | None]) -> None:
    while (text := await queue.get()) is not None:
        if not text.strip():
            continue
        try:
            await client.send_message(text)
        except OzchatError as exc:
            print(f"-- not sent: {printable(str(exc))}", file=sys.stderr, flush=True)


async def _events(args: argparse.Namespace) -> int:
    try:
        local_hub = local_hub_for(args)
        tls = client_tls(args.cafile)
    except ValueError as exc:
        print(f"ozchat events: {printable(str(exc))}", file=sys.stderr)
        return 2

    async def start_hub_again() -> None:
        assert local_hub is not None
        started = await local_hub.ensure()
        if started is not None:
            print(started_hub_line(started, again=True), file=sys.stderr, flush=True)

    client = OzWebClient(
        pick_free_nickname=True, before_reconnect=start_hub_again if local_hub is not None else None, ssl_context=tls
    )
    printer = _EventPrinter(client, args.json)
    client.on_connection_state_changed(printer.connection)
    client.on_client_state_changed(printer.client)
    client.on_message_received(printer.message)
    client.on_gap(printer.gap)
    closed = asyncio.Event()
    client.on_connection_state_changed(
        lambda change: closed.set() if change.state is not ConnectionState.ACCESS_GRANTED and not change.retrying else None
    )
    try:
        started = await local_hub.ensure() if local_hub is not None else None
        if started is not None:
            print(started_hub_line(started), file=sys.stderr, flush=True)
        await client.connect(_server_address(args), args.line, _properties(args), token=args.token)
    except ValueError as exc:
        print(f"ozchat events: {printable(str(exc))}", file=sys.stderr)
        return 2
    except OzchatError as exc:
        print(f"ozchat events: {printable(str(exc))}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    typed: asyncio.Queue[str | None] = asyncio.Queue()
    if sys.stdin is not None and not sys.stdin.closed:
        threading.Thread(target=_read_stdin_lines, args=(loop, typed), daemon=True).start()
    sender = asyncio.create_task(_send_typed_lines(client, typed))
    waits = [asyncio.create_task(closed.wait()), asyncio.create_task(interrupted.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in (*waits, sender):
        task.cancel()
    await client.disconnect()
    return 0 if interrupted.is_set() else 1


# ---- chat ---------------------------------------------------------------------------


def _ask_nickname() -> str | None:
    if not sys.stdin.isatty():
        return None
    try:
        return input("Nickname: ").strip() or None
    except EOFError:
        return None


def build_chat_app(args: argparse.Namespace, nickname: str, local_hub: LocalHub | None = None) -> OzChatApp:
    """The chat app for these options, with an avatar service that trusts the hub's host.

    With `local_hub`, the client starts that hub again whenever it reconnects to nothing, and
    the status bar tells whether the hub it is connected to was started here.

    `--avatar` may name a bundled avatar (shared by name) or a local file
    (uploaded once connected); raises ValueError for a bad address or a missing file.
    """
    from .avatars import AvatarService
    from .tui.app import Join, OzChatApp  # Textual loads only for the chat
    from .tui.avatar_choice import avatar_base_url, choose_avatar
    from .tui.messages import SystemNotice

    server = _server_address(args)
    base_url = avatar_base_url(server)
    properties = {**args.settings_properties, **dict(args.prop), "nickname": nickname}
    avatar_file = None
    if args.avatar:
        choice = choose_avatar(args.avatar)
        if isinstance(choice, Path):
            if not choice.is_file():
                raise ValueError(f"no avatar file {choice}")
            avatar_file = choice
            properties.pop("avatar", None)  # the upload's name is shared once connected
        else:
            properties["avatar"] = choice

    async def start_hub_again() -> None:
        assert local_hub is not None
        started = await local_hub.ensure()
        if started is not None:
            app.post_message(SystemNotice(local_hub_notice(started, args.autostart_idle, again=True)))

    app = OzChatApp(
        OzWebClient(
            pick_free_nickname=True,
            before_reconnect=start_hub_again if local_hub is not None else None,
            ssl_context=client_tls(args.cafile),
        ),
        join=Join(server, args.line, properties, args.token),
        avatars=AvatarService(base_url=base_url, cafile=args.cafile),
        avatar_file=avatar_file,
        theme=args.theme,
        max_chat_lines=args.scrollback,
        settings_file=settings_path(),
    )
    if local_hub is not None:
        app.hub_started_here = lambda: local_hub.started_here is not None
    return app


def local_hub_notice(started: StartedHub, idle: float, *, again: bool = False) -> str:
    return (
        f"Started a local hub {'again ' if again else ''}on {started.host}:{started.port}; it stops by itself "
        f"{idle:g} s after the last client leaves. Its log: {started.log_path}"
    )


def _chat(args: argparse.Namespace) -> int:
    nickname = args.nick or _ask_nickname()
    if nickname is None:
        print("ozchat: a nickname is needed: --nick NAME, or nick in the settings file", file=sys.stderr)
        return 2
    try:
        local_hub = local_hub_for(args)
        app = build_chat_app(args, nickname, local_hub)
    except ValueError as exc:
        print(f"ozchat: {exc}", file=sys.stderr)
        return 2
    if args.theme and args.theme not in app.available_themes:
        print(f"ozchat: no theme {args.theme!r}; try one of: {', '.join(sorted(app.available_themes))}", file=sys.stderr)
        return 2
    try:
        started = asyncio.run(local_hub.ensure()) if local_hub is not None else None
    except OzchatError as exc:
        print(f"ozchat: {exc}", file=sys.stderr)
        return 2
    if started is not None:
        app.startup_notice = local_hub_notice(started, args.autostart_idle)
    app.run()
    return 0


def _take_token(args: argparse.Namespace, variable: str, prog: str) -> bool:
    """Settle args.token (see resolve_token); False, after saying why, when it cannot be."""
    try:
        args.token = resolve_token(args, variable, getattr(args, "settings_token", None))
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        args = build_serve_parser().parse_args(argv[1:])
        if not _take_token(args, HUB_TOKEN_VARIABLE, "ozchat serve"):
            return 2
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
        # websockets logs every connection at INFO; the hub's own lines say who joined and left.
        logging.getLogger("ozchat.hub.websockets").setLevel(max(logging.WARNING, logging.getLogger().level))
        return asyncio.run(_serve(args))
    if argv and argv[0] == "events":
        args = build_events_parser().parse_args(argv[1:])
        if not _take_token(args, CLIENT_TOKEN_VARIABLE, "ozchat events"):
            return 2
        logging.basicConfig(level=logging.WARNING)
        return asyncio.run(_events(args))
    args = build_parser().parse_args(argv)
    if not _take_token(args, CLIENT_TOKEN_VARIABLE, "ozchat"):
        return 2
    return _chat(args)
