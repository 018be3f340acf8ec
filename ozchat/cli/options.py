"""The command line's options: the chat's (over the settings file), `serve`'s and `events`'s,
and what the shared ones mean (the hub's address, the token, the CA file, a local hub to start)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..addresses import url_host
from ..exceptions import ProtocolError
from ..hub.autostart import LocalHub, is_loopback
from ..hub.origins import normalize_origin
from ..protocol import DEFAULT_PORT, server_url, validate_line
from ..settings import DEFAULT_SCROLLBACK, NOTIFY_CHOICES, ChatSettings, SettingsError, load_settings, settings_path

DEFAULT_LINE = "Webphone1"


def _property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _line_name(text: str) -> str:
    """A --line value the hub would take (the protocol's rule), else a usage error naming it."""
    try:
        return validate_line(text)
    except ProtocolError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a line name ({exc.message})") from None


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
        expected = f"expected an IP address or network such as 10.0.0.0/8, got {text!r}"
        raise argparse.ArgumentTypeError(expected) from None


CLIENT_TOKEN_VARIABLE = "OZCHAT_TOKEN"
HUB_TOKEN_VARIABLE = "OZCHAT_HUB_TOKEN"
REDIS_URL_VARIABLE = "OZCHAT_REDIS_URL"


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
    parser.add_argument(
        "--host", default="localhost",
        help="hub host, host:port, IPv6 address, [v6]:port or ws(s):// URL (default: localhost)",
    )
    parser.add_argument("--port", type=int, default=None, help=f"hub port (default: {DEFAULT_PORT})")
    if settings:  # the chat: several lines, each in its own tab with its own connection
        parser.add_argument(
            "--line", action="append", metavar="LINE", type=_line_name,
            help=f"a line to join, in its own tab (repeatable; default: {DEFAULT_LINE}; /join adds more)",
        )
    else:
        parser.add_argument(
            "--line", default=DEFAULT_LINE, type=_line_name, help=f"the line to join (default: {DEFAULT_LINE})"
        )
    parser.add_argument("--nick", help="your nickname, shared with everyone on the line")
    parser.add_argument(
        "--avatar", metavar="URL|NAME|FILE",
        help="avatar to share: an image URL, a bundled name such as cat, or a local image file to upload (chat only)",
    )
    parser.add_argument(
        "--prop", type=_property, action="append", default=[], metavar="KEY=VALUE",
        help="share any property (repeatable)",
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


def chat_lines(args: argparse.Namespace) -> list[str]:
    """The lines the chat joins: the --line flags, else the settings' `lines` (or `line`), once each in order."""
    lines: list[str] = args.line or args.settings_lines or [DEFAULT_LINE]
    return list(dict.fromkeys(lines))


def server_address(args: argparse.Namespace) -> str:
    """The hub's address from --host and --port, an IPv6 literal bracketed before the port."""
    if args.port is None or "://" in args.host:
        return args.host
    return f"{url_host(args.host)}:{args.port}"


def local_hub_for(args: argparse.Namespace) -> LocalHub | None:
    """The local hub this client may start: with a loopback ws:// --host, unless --no-autostart.

    Raises ValueError for a bad address.
    """
    if not args.autostart:
        return None
    parts = urlsplit(server_url(server_address(args)))
    if parts.scheme != "ws" or not parts.hostname or not is_loopback(parts.hostname):
        return None
    return LocalHub(parts.hostname, parts.port or DEFAULT_PORT, idle_exit=args.autostart_idle)


def shared_properties(args: argparse.Namespace) -> dict[str, Any]:
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
        epilog=f"Defaults for the chat's options can be kept in {path} (TOML): host, port, line (or lines, a list), "
        "nick, avatar, token, theme, scrollback, log (true or false), notify, typing (true or false), and a "
        "[properties] table of shared properties. Flags win.",
    )
    parser.add_argument("--version", action="version", version=f"ozchat {__version__}")
    _add_connection_options(parser, settings=True)
    parser.add_argument("--theme", help="a Textual theme, such as nord, gruvbox or textual-light")
    parser.add_argument(
        "--scrollback", type=_at_least_one, default=DEFAULT_SCROLLBACK, metavar="LINES",
        help=f"messages each chat tab keeps in memory (default: {DEFAULT_SCROLLBACK})",
    )
    parser.add_argument(
        "--log", action=argparse.BooleanOptionalAction, default=True,
        help="log every conversation to a file a day under logs/ in the user data directory "
        "(default: on; /log in the chat shows the file)",
    )
    parser.add_argument(
        "--typing", action=argparse.BooleanOptionalAction, default=True,
        help="tell the others when I am typing a message (default: on; theirs is shown either way)",
    )
    parser.add_argument(
        "--notify", choices=NOTIFY_CHOICES, default="bell",
        help="how a direct message or a mention is told while the terminal is not focused: a desktop notification "
        "(osc777: foot, Ghostty, WezTerm, kitty; osc9: iTerm2, Windows Terminal, kitty) besides the bell, "
        "the bell only, or off (no bell either) (default: bell)",
    )
    if settings is None:
        try:
            settings = load_settings(path)
        except SettingsError as exc:
            parser.error(str(exc))
    defaults = settings.option_defaults()
    # The settings file's token comes last, after the flags and the environment: see resolve_token.
    settings_token = defaults.pop("token", None)
    line = defaults.pop("line", None)
    settings_lines = defaults.pop("lines", None) or ([line] if line is not None else [])
    parser.set_defaults(**defaults, settings_token=settings_token, settings_lines=settings_lines)
    parser.set_defaults(settings_properties=settings.properties)
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
        "--uploads", default=None, metavar="DIR",
        help="where uploaded avatars are kept (default: avatars/ in the user data directory)",
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
    parser.add_argument(
        "--idle-exit", type=float, default=None, metavar="SECONDS", help="stop after this long with no client"
    )
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
        "--address-burst", type=int, default=60, metavar="FRAMES",
        help="frames from one address in a burst (default: 60)",
    )
    limits.add_argument(
        "--connections-per-minute", type=int, default=60, metavar="N",
        help="WebSocket connections one address may open in any minute; more get HTTP 429 (default: 60)",
    )
    limits.add_argument(
        "--joins-per-minute", type=int, default=30, metavar="N",
        help="hellos one address may send in any minute (default: 30)",
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
    parser.add_argument(
        "--redis", default=os.environ.get(REDIS_URL_VARIABLE) or None, metavar="URL",
        help="share lines with every hub using this Redis server, such as redis://HOST:6379/0 "
        f"(default: ${REDIS_URL_VARIABLE}; none: this hub alone)",
    )
    parser.add_argument(
        "--heartbeat-ttl", type=float, default=15.0, metavar="SECONDS",
        help="with --redis: when a hub dies without a goodbye, the other hubs announce its clients OFFLINE "
        "within this time (default: 15)",
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
        "replayed first and marked `[history] `. Lines typed on standard input are sent to the line. "
        "A hub not up yet, or restarting, is tried again (the first wait 0.25-0.5 s, doubling up to 15-30 s), "
        "each failed attempt told as a CONNECTION_FAILED line on standard error (with --json, as a connection "
        "event on standard output); a failure trying again cannot mend (a certificate that cannot be verified, "
        "the wrong transport, a server that is not a hub) is told once and exits with status 1.",
    )
    _add_connection_options(parser)
    parser.add_argument(
        "--json", action="store_true",
        help="print JSON lines instead of text: the protocol's frames with an \"event\" key; "
        "connection events carry your own phoneNumber and line",
    )
    return parser


def take_token(args: argparse.Namespace, variable: str, prog: str) -> bool:
    """Settle args.token (see resolve_token); False, after saying why, when it cannot be."""
    try:
        args.token = resolve_token(args, variable, getattr(args, "settings_token", None))
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return False
    return True
