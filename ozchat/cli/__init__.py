"""The command line: the chat UI (default), `serve` (the hub) and `events` (a headless client).

`options` parses, `chat`, `serve` and `events` each run one of them; `main` picks which.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from .options import (
    CLIENT_TOKEN_VARIABLE,
    HUB_TOKEN_VARIABLE,
    build_events_parser,
    build_parser,
    build_serve_parser,
    take_token,
)

__all__ = ["build_chat_app", "build_parser", "main"]


def __getattr__(name: str) -> Any:
    """`build_chat_app`, loaded with the chat UI when first asked for (`ozchat serve` never loads the UI)."""
    if name == "build_chat_app":
        from .chat import build_chat_app

        return build_chat_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        args = build_serve_parser().parse_args(argv[1:])
        if not take_token(args, HUB_TOKEN_VARIABLE, "ozchat serve"):
            return 2
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
        # websockets logs every connection at INFO; the hub's own lines say who joined and left.
        logging.getLogger("ozchat.hub.websockets").setLevel(max(logging.WARNING, logging.getLogger().level))
        from .serve import serve  # each command loads only its own modules: the hub starts without the UI's

        return asyncio.run(serve(args))
    if argv and argv[0] == "events":
        args = build_events_parser().parse_args(argv[1:])
        if not take_token(args, CLIENT_TOKEN_VARIABLE, "ozchat events"):
            return 2
        logging.basicConfig(level=logging.WARNING)
        from .events import run_events

        return asyncio.run(run_events(args))
    args = build_parser().parse_args(argv)
    if not take_token(args, CLIENT_TOKEN_VARIABLE, "ozchat"):
        return 2
    from .chat import chat

    return chat(args)
