"""Nicknames as people see them: look-alike keys and blank names. No I/O.

Two nicknames are the same to a reader when they draw alike: `Alice`, `alice`, Cyrillic `\u0410lice`,
`Alice` with a trailing Hangul filler, `AIice` with a capital I. The keys here come from the
Unicode TR39 confusable skeleton (disarm's `skeleton_key`, which also drops invisible and
format characters and folds case), taken twice: after NFKC and case folding (so `ALICE` meets
`alice`), and on the text as cased (so a capital `I` standing for `l` is caught before folding
turns it into an `i`). Nicknames that share any key look alike.
"""

from __future__ import annotations

import unicodedata

from disarm import skeleton_key

# TR39's own classes: 1 and l, 0 and O look alike in a nickname too.
_DIGITS = "tr39"


def nickname_keys(nickname: str) -> frozenset[str]:
    """The look-alike keys of a nickname: two nicknames sharing one are confusable."""
    normal = unicodedata.normalize("NFKC", nickname)
    return frozenset(
        (skeleton_key(normal.casefold(), digit_policy=_DIGITS), skeleton_key(normal, digit_policy=_DIGITS))
    )


def looks_alike(first: str, second: str) -> bool:
    """True when the two nicknames would be read as one."""
    return not nickname_keys(first).isdisjoint(nickname_keys(second))


def is_blank(nickname: str) -> bool:
    """True when nothing of the nickname shows: only white space, fillers (U+3164, U+2800),
    invisible, format or private-use characters."""
    return not skeleton_key(nickname)
