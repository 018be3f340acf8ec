"""What a joining client is owed from the store: the newest messages, or all it missed, with gaps.

No I/O but the store's.
"""

from __future__ import annotations

import logging

import msgspec

from ..protocol import MAX_REPLAY, ErrorCode, ErrorFrame, Gap, Hello, encode
from .line import Line, missing_runs
from .store import HistoryStore, StoreError

log = logging.getLogger("ozchat.hub")


def replay(
    burst: list[bytes], store: HistoryStore, line: Line, phone_number: str, identity: str, hello: Hello, history: int
) -> None:
    """Add the stored messages owed to this client to its join burst; a store that cannot be read costs the replay only.

    `history` is the hub's cap on what a newcomer gets.
    """
    try:
        _replay_stored(burst, store, line, phone_number, identity, hello, history)
    except StoreError as exc:
        log.warning("could not read the history of line %r: %s", line.name, exc)
        burst.append(encode(ErrorFrame(
            ErrorCode.HISTORY_UNAVAILABLE, "the hub could not read this line's stored messages; live chat goes on"
        )))
        if hello.last_seq is not None:
            after, after_direct = resumed_from(line, hello, identity)
            if after < line.last_seq:
                burst.append(encode(Gap(after, line.last_seq + 1)))
            last_direct_seq = line.last_direct_seq(identity)  # read before the welcome: no store access
            if after_direct < last_direct_seq:
                burst.append(encode(Gap(after_direct, last_direct_seq + 1, direct=True)))


def _replay_stored(
    burst: list[bytes], store: HistoryStore, line: Line, phone_number: str, identity: str, hello: Hello, history: int
) -> None:
    """The newest few stored messages, or all this client missed since last_seq and last_direct_seq."""
    if hello.last_seq is None:
        wanted = history if hello.history is None else max(0, min(hello.history, history))
        messages = store.visible(line.name, phone_number, identity, limit=wanted)
    else:
        after, after_direct = resumed_from(line, hello, identity)
        messages = store.visible(
            line.name, phone_number, identity, after_seq=after, after_direct_seq=after_direct, limit=MAX_REPLAY
        )
        # Whatever is owed but not replayed (no longer kept, or over the replay limit) is a gap.
        owed = missing_runs(after, line.last_seq, [m.seq for m in messages if m.to is None])
        burst += (encode(Gap(after_seq, before_seq)) for after_seq, before_seq in owed)
        direct_seqs = [m.direct_seq for m in messages if m.direct_seq is not None]
        for after_seq, before_seq in missing_runs(after_direct, line.last_direct_seq(identity), direct_seqs):
            burst.append(encode(Gap(after_seq, before_seq, direct=True)))
    # "history" marks what was said before this client joined, not what a resume catches up on
    newcomer = hello.last_seq is None
    burst += (encode(msgspec.structs.replace(message, history=newcomer)) for message in messages)


def resumed_from(line: Line, hello: Hello, identity: str) -> tuple[int, int]:
    """The line number and direct number a resuming client has seen, as this numbering reads them."""
    assert hello.last_seq is not None
    # A last_seq of another numbering, or of one not named, says nothing about this one: replay all that is kept.
    if hello.epoch != line.epoch:
        return 0, 0
    # Capped at the numbers given so far: any integer a client sends must fit the store's.
    last_direct_seq = max(0, min(hello.last_direct_seq or 0, line.last_direct_seq(identity)))
    return max(0, min(hello.last_seq, line.last_seq)), last_direct_seq
