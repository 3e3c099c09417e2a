"""Text from disk made safe for a terminal: control characters shown escaped, never interpreted.

Run names are folder and file names, error lines and log tails are whatever a run
printed: any of them can hold an escape sequence that clears the screen, retitles the
terminal or moves the cursor. Every renderer passes such text through ``terminal_safe``
and puts it into rich ``Text`` objects (never markup strings), so ``[bold red]`` in a
name is shown as typed and a stray closing tag cannot break a table.

Standard library only: ``runwatch status --json`` never imports rich, and error
messages printed by click go through here too.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, lone surrogates (undecodable bytes of a file name, which
# would make printing raise), and the invisible characters that reorder or hide text
# (bidi overrides and isolates, zero-width characters, line/paragraph separators).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: object, *, multiline: bool = False) -> str:
    """``text`` with every control or invisible character written as an escape (``\\x1b``).

    ``multiline`` keeps newlines and tabs (a log tail); otherwise they are escaped too,
    so a name or an error line is always one line of a table.
    """
    s = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE_KEEP_LINES if multiline else _UNSAFE
    return pattern.sub(_escape, s) if pattern.search(s) else s
