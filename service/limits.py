"""The depth and size policy of every inbound edge (docs/decisions.md, "Hostile input").

Every JSON body orderwatch takes (Shopee pushes, Coupang reports, the API's command,
tracking and product bodies) is checked here after decoding and before anything is stored,
applied or read for its fields:

- nested at most :data:`MAX_DEPTH` levels (an object or array is one level; real pushes and
  reports are three or four deep). orjson's reader accepts 1,024 levels but its writer stops
  at 254, so a body stored deeper could never be written again (the journal keeps it as
  JSON): such a push was acknowledged and then failed in the applier;
- no NUL character in any string or key (PostgreSQL's ``jsonb`` and ``text`` cannot hold one).

The walk keeps its own stack instead of recursing, so no body can exhaust Python's
recursion limit (the NUL check did, at ~330 levels), and stops at the first problem. It is
only needed when the raw bytes could hold one: fewer brackets than the limit cannot nest past
it, and a NUL can only be written as ``\\u0000``.

Ids and numbers taken from a path or a query are checked by length before any conversion
(:func:`digits`): ``int()`` refuses more than 4,300 digits with a ValueError.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32  # levels of objects and arrays in any inbound JSON body
MAX_ID = 64  # characters: the widest id column (orders, packages, shops, events)
MAX_QUERY = 256  # characters of a query parameter that is neither an id nor a number
TOO_DEEP = "too_deep"
NUL = "nul"

_NUL_ESCAPE = b"\\u0000"


def problem(raw: bytes, document: Any) -> str | None:
    """What makes a decoded body unacceptable: :data:`TOO_DEEP`, :data:`NUL`, or None.
    ``raw`` is the body ``document`` was decoded from (it lets a plain body skip the walk)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH and _NUL_ESCAPE not in raw:
        return None
    return walk(document)


def walk(document: Any) -> str | None:
    """:func:`problem` without the shortcut: the first problem found, depth first."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return NUL
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return TOO_DEEP
            if isinstance(value, dict):
                if any("\x00" in key for key in value):
                    return NUL
                value = value.values()
            stack.extend((item, depth + 1) for item in value)
    return None


def unreadably_deep(exc: ValueError) -> bool:
    """Whether orjson refused to decode a body for its depth (past 1,024 levels): answered
    as too deep, like one that decodes but nests past :data:`MAX_DEPTH`."""
    return "depth limit exceeded" in str(exc)


def depth_message(what: str) -> str:
    """The answer's message for a body nested too deep."""
    return f"{what} is nested deeper than {MAX_DEPTH} levels of objects and arrays"


def digits(text: str, most: int) -> bool:
    """Whether ``text`` is 1 to ``most`` ASCII digits: safe to give to ``int()``."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def addressable(value: str) -> bool:
    """Whether an id can be one segment of a status API path: ``/`` would split it (and
    ``%2F`` is decoded before routing), and ``.`` and ``..`` are what clients resolve away."""
    return "/" not in value and value not in (".", "..")
