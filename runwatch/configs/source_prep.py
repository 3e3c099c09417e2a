"""Config source text before the evaluator sees it: budgets, parsing, elided and deferred blocks.

Everything here works on the file's bytes: the size and token budgets that are checked
before ``ast.parse`` (parsing costs several hundred bytes of memory per token, so a few MB
of simple statements would cost gigabytes), long int-literal lists elided, and dict-literal
blocks cut out to be evaluated only when read. The interpreter is ``evaluator.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

# Source budgets, checked before parsing. A real config is a few KB (the largest in the
# test corpus is 18 KB); 50,000 lines of `config['k'] = v` is about 1.3 MB and 350,000
# tokens. ast.parse takes at most ~900 bytes per token (measured on CPython 3.11: one
# short statement per line is the worst shape), so the token budget caps a parse at about
# 500 MB and 3 s, and the byte budget refuses what is larger still without reading it all.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
MAX_TOKENS = 500_000
_COUNT_TOKENS_ABOVE = 64 * 1024  # smaller files cannot reach MAX_TOKENS worth of memory
_TOKEN = re.compile(rb"[\w.]+|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|#[^\n]*|\S")


class SourceTooLarge(ValueError):
    """The source is over a budget checked before parsing (the message says which)."""


def check_source_budget(source: bytes) -> None:
    """Raise ``SourceTooLarge`` when parsing ``source`` could cost more than the budgets allow."""
    if len(source) > MAX_SOURCE_BYTES:
        raise SourceTooLarge(f"{len(source)} bytes, more than the {MAX_SOURCE_BYTES} a config may have")
    if len(source) > _COUNT_TOKENS_ABOVE:
        for n, _ in enumerate(_TOKEN.finditer(source), 1):
            if n > MAX_TOKENS:
                raise SourceTooLarge(f"more than {MAX_TOKENS} tokens (parsing it would take too much memory)")


_MISSING = object()


def parse(source: bytes, path: str) -> ast.Module:
    """Parse a file; SyntaxError / ValueError propagate for the reader to report with file:line."""
    return ast.parse(source, filename=path)


# Generated configs carry seed lists of 100 ints; parsing them is about half of reading
# such a file, and no tracking fact comes from them. A list of more than ELIDE_MIN plain
# int literals is replaced, before parsing, by a name the evaluator reads as Unknown
# (line numbers kept). The reader re-reads without eliding whenever the facts carry an
# error or a warning, so an elided list can never silently change an answer.
ELIDE_MIN = 16
ELIDED_PREFIX = "__runwatch_elided_"
_LONG_INT_LIST = re.compile(rb"(?<=[=:,(\[])(\s*)\[(?:\s*-?\d+\s*,){%d,}\s*-?\d+\s*,?\s*\](?=\s*[,)\]}\n#])" % ELIDE_MIN)


def _elide_match(m: re.Match[bytes], k: int) -> bytes:
    text = m.group(0)
    n = text.count(b",") + 1
    return m.group(1) + b"%s%d_%d__" % (ELIDED_PREFIX.encode(), n, k) + b"\n" * (text.count(b"\n") - m.group(1).count(b"\n"))


# ``_LONG_INT_LIST`` from each ``[`` on: the same matches as ``_LONG_INT_LIST.sub`` finds (a match starts
# right after one of ``=:,([`` with only whitespace up to its ``[``), without trying every position of
# the file (that scan was a quarter of parsing a generated config).
_LIST_BODY = re.compile(rb"\[(?:\s*-?\d+\s*,){%d,}\s*-?\d+\s*,?\s*\](?=\s*[,)\]}\n#])" % ELIDE_MIN)
_SPACE = frozenset(b" \t\n\r\x0b\x0c")
_BEFORE = frozenset(b"=:,([")


class _ListMatch:
    """The parts of a ``_LONG_INT_LIST`` match that ``_elide_match`` and its caller read."""

    __slots__ = ("_end", "_source", "_space", "_start")

    def __init__(self, source: bytes, start: int, space: int, end: int) -> None:
        self._source, self._start, self._space, self._end = source, start, space, end

    def start(self) -> int:
        return self._start

    def group(self, i: int = 0) -> bytes:
        return self._source[self._start : self._end] if i == 0 else self._source[self._start : self._space]


def _elide_lists(source: bytes, sub: Any) -> bytes:
    out: list[bytes] = []
    pos = 0
    i = source.find(b"[")
    while i >= 0:
        m = _LIST_BODY.match(source, i)
        if m is not None:
            start = i
            while start > pos and source[start - 1] in _SPACE:
                start -= 1
            if start > 0 and source[start - 1] in _BEFORE:  # (at ``pos`` is the ``]`` of the last match)
                out.append(source[pos:start])
                out.append(sub(_ListMatch(source, start, i, m.end())))
                pos = m.end()
                i = source.find(b"[", pos)
                continue
        i = source.find(b"[", i + 1)
    if not out:
        return source
    out.append(source[pos:])
    return b"".join(out)


def parse_elided(source: bytes, path: str) -> tuple[ast.Module, list[bytes]]:
    """``parse`` with long int-literal lists elided; (tree, the literal text of each list elided).

    The k-th elided list becomes the name ``__runwatch_elided_<n>_<k>__`` (n: its length);
    its text is kept so that a reader that does need the values (the changed-config check)
    can take them without parsing the file again. Only where no string could contain the
    list: never in a file with triple quotes, never after an odd number of quotes on the same line.
    """
    if b"[" not in source or b'"""' in source or b"'''" in source or ELIDED_PREFIX.encode() in source:
        return parse(source, path), []  # (a file naming the placeholders itself is never elided)
    texts: list[bytes] = []

    def sub(m: re.Match[bytes]) -> bytes:
        line_start = source.rfind(b"\n", 0, m.start()) + 1
        prefix = source[line_start : m.start()]
        if prefix.count(b"'") % 2 or prefix.count(b'"') % 2 or b"#" in prefix:
            return m.group(0)
        texts.append(m.group(0)[len(m.group(1)) :])
        return _elide_match(m, len(texts) - 1)

    new = _elide_lists(source, sub)
    if not texts:
        return parse(source, path), []
    return parse(new, path), texts


_LEADING_ZERO = re.compile(rb"(?<![\d])0\d")


def elided_values(text: bytes) -> list[int] | None:
    """The ints of an elided list's literal text (as a full parse reads them); None when a full
    parse would refuse the text (a literal with a leading zero)."""
    if _LEADING_ZERO.search(text):
        return None
    return [int(t) for t in text.strip()[1:-1].split(b",") if t.strip()]


# Lazy dict values. A config's sub-dicts that tracking never reads (model, dataset,
# optimizer...) are most of its parsing and evaluation time. A dict-display value written
# as its own block (``'key': {...},`` on one line, or opened at the end of one line and
# closed by ``},`` at the same indentation) is cut out of the source before parsing and
# replaced by a placeholder name (line numbers kept). Each distinct block text is parsed
# once per batch (so a syntax error anywhere still makes the whole file a syntax error:
# the loader then parses the original) and evaluated only when something reads it.
LAZY_PREFIX = "__runwatch_lazy_"
_LAZY_BLOCK = re.compile(
    rb"^([ \t]+)(?:'[\w.\-]*'|\"[\w.\-]*\")[ \t]*:[ \t]*"
    rb"(\{(?:[^\n]*\}|[^\n]*\n(?:\1[ \t][^\n]*\n)*\1\}))[ \t]*,[ \t]*$",
    re.M,
)
_STRIP = re.compile(rb"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|#[^\n]*""")
_IDENT = re.compile(rb"(?<![\w.])([A-Za-z_]\w*)(?=(\s*\.)?)(?!\s*=(?!=))")
_LAZY_REJECT = re.compile(rb":=|\\|[^\x00-\x7f]|(?<![\w.])(?:exit|quit|_exit|update)\b|\.\s*(?:exit|quit|_exit|update)\b")
_NOT_NAMES = {b"None", b"True", b"False", b"and", b"or", b"not", b"in", b"is", b"if", b"else", b"for", b"lambda", b"async", b"await", b"yield", b"from"}


class LazyBlock:
    """One distinct dict-literal block text: its free names and its parsed tree per line."""

    __slots__ = ("names", "text", "trees")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.trees: dict[int, ast.expr] = {}
        # (name, used with an attribute access); None: never deferred (side effects possible).
        self.names: tuple[tuple[str, bool], ...] | None = None
        residue = _STRIP.sub(lambda m: b" " if m.group(0)[:1] == b"#" else b"0", text)
        if _LAZY_REJECT.search(residue) is None:
            found: dict[str, bool] = {}
            for m in _IDENT.finditer(residue):
                word = m.group(1)
                if word in _NOT_NAMES:
                    continue
                name = word.decode()
                found[name] = found.get(name, False) or m.group(2) is not None
            self.names = tuple(found.items())

    def tree(self, line: int) -> ast.expr:
        t = self.trees.get(line)
        if t is None:
            t = self.trees[line] = ast.parse(b"\n" * (line - 1) + self.text, mode="eval").body
        return t


# Where a ``_LAZY_BLOCK`` can start (a line start, but the file's first): a literal ``\n`` first, which
# the regex engine finds without trying every position (``finditer`` of ``_LAZY_BLOCK`` did).
_LAZY_START = re.compile(rb"\n[ \t]+(?:'[\w.\-]*'|\"[\w.\-]*\")[ \t]*:[ \t]*\{")


def _lazy_blocks(source: bytes) -> Iterator[re.Match[bytes]]:
    """``_LAZY_BLOCK.finditer(source)``: the same matches, tried only at the line starts that can hold one."""
    pos = 0
    m = _LAZY_BLOCK.match(source, 0)
    if m is not None:
        yield m
        pos = m.end()
    while True:
        c = _LAZY_START.search(source, pos)
        if c is None:
            return
        m = _LAZY_BLOCK.match(source, c.start() + 1)
        if m is None:
            pos = c.start() + 1
            continue
        yield m
        pos = m.end()


def split_lazy(source: bytes, blocks: dict[bytes, LazyBlock | None]) -> tuple[bytes, list[tuple[LazyBlock, int]]] | None:
    """(source with dict-literal blocks replaced by placeholders, [(block, first line)]), or None.

    ``blocks`` caches each distinct block text (None: it does not parse alone as a dict,
    and then the file is parsed whole). Only where every string is on one line (no triple
    quotes, no backslash-newline), so a line start is never inside a string.
    """
    if b"{" not in source or b'"""' in source or b"'''" in source or b"\\\n" in source or LAZY_PREFIX.encode() in source:
        return None
    head = source[:200].split(b"\n", 2)
    if any(b"coding" in h for h in head[:2]):
        return None
    out: list[bytes] = []
    found: list[tuple[LazyBlock, int]] = []
    pos = 0
    line = 1
    for m in _lazy_blocks(source):
        text = m.group(2)
        start = m.start(2)
        at = line + source.count(b"\n", pos, start)
        block = blocks.get(text, _MISSING)
        if block is _MISSING:
            # Checked where it stands: the tree an evaluation reads (this line's) is the one parsed.
            block = blocks[text] = _check_block(text, at)
        if block is None:
            continue  # left in place: parsed with the rest
        line = at
        out.append(source[pos:start])
        out.append(b"%s%d__" % (LAZY_PREFIX.encode(), len(found)))
        n = text.count(b"\n")
        out.append(b"\n" * n)
        found.append((block, line))  # type: ignore[arg-type]
        line += n
        pos = m.end(2)
    if not found:
        return None
    out.append(source[pos:])
    return b"".join(out), found


def _check_block(text: bytes, line: int = 1) -> LazyBlock | None:
    block = LazyBlock(text)
    try:
        tree = block.tree(line)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    return block if type(tree) is ast.Dict else None
