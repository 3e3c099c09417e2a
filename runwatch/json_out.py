"""The one JSON encoder of runwatch's big documents: ``status --json``, ``/api/runs``, the WebSocket snapshot.

orjson writes the 10,000-run document about ten times faster than the standard library
(docs/BENCHMARKS.md). What comes out is the same strict JSON:

- non-finite numbers: a record's NaN and infinities are already strings (``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``: ``progress_info.json_safe``, as before); a non-finite float
  that reaches the encoder anyway is written as ``null`` (the standard library, asked for
  strict JSON with ``allow_nan=False``, raised instead), never as a bare ``NaN`` token;
- ``ascii=True`` (the CLI's output, which may go to a terminal) escapes every non-ASCII
  character as ``\\uXXXX``, as ``json.dumps`` does by default, so no raw C1 control or
  bidirectional override reaches a terminal;
- ``indent=True``: two spaces, as ``json.dumps(indent=2)``; keys that are not strings
  are written as strings, as the standard library does;
- what orjson cannot write (an integer beyond 64 bits) goes to the standard library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c < 0x10000:
        return f"\\u{c:04x}"
    c -= 0x10000
    return f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}"


def dumps_bytes(obj: Any, *, indent: bool = False, default: Callable[[Any], Any] | None = None) -> bytes:
    """``obj`` as UTF-8 JSON bytes (compact, or indented by two spaces)."""
    option = orjson.OPT_NON_STR_KEYS
    if indent:
        option |= orjson.OPT_INDENT_2
    try:
        return orjson.dumps(obj, default=default, option=option)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(obj, indent=2 if indent else None, separators=None if indent else (",", ":"), ensure_ascii=False, allow_nan=False, default=default)
        return text.encode()


def dumps(obj: Any, *, indent: bool = False, ascii: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """``obj`` as a JSON string; ``ascii``: every non-ASCII character escaped (``json.dumps``'s default)."""
    text = dumps_bytes(obj, indent=indent, default=default).decode()
    if ascii and not text.isascii():
        text = _NON_ASCII.sub(_escape, text)
    return text
