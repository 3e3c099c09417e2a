"""The config source scans that skip positions (``source_prep._elide_lists`` / ``_lazy_blocks``) find
exactly what their regexes find at every position, on the real-shaped corpora and on random sources."""

from __future__ import annotations

import random
from pathlib import Path

from runwatch.configs.source_prep import _LAZY_BLOCK, _LONG_INT_LIST, _elide_lists, _lazy_blocks

HERE = Path(__file__).parent


def _corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted((HERE / "config_corpus").rglob("*.py"))]


def _marked(m) -> bytes:
    return b"<" + m.group(1) + b"|" + m.group(0) + b"|" + str(m.start()).encode() + b">"


def _spans(matches) -> list[tuple[int, int, bytes, bytes]]:
    return [(m.start(), m.end(), m.group(1), m.group(2)) for m in matches]


def test_long_int_lists_are_found_as_the_regex_finds_them() -> None:
    rnd = random.Random(1)
    toks = [b"[", b"]", b"1", b"-2", b"33", b",", b" ", b"\n", b":", b"=", b"(", b")", b"#", b"'", b"x", b"{", b"}", b"0"]
    sources = _corpus()
    for _ in range(5000):
        src = b"".join(rnd.choice(toks) for _ in range(rnd.randint(1, 60)))
        body = b"[" + b", ".join(str(rnd.randint(-9, 99)).encode() for _ in range(rnd.randint(14, 20))) + rnd.choice([b"]", b",]", b"\n]"])
        cut = rnd.randint(0, len(src))
        sources.append(src[:cut] + rnd.choice([b"", b" ", b"\n "]) + body + rnd.choice([b"", b",", b")", b"\n", b" #", b"]"]) + src[cut:])
    found = 0
    for src in sources:
        assert _elide_lists(src, _marked) == _LONG_INT_LIST.sub(_marked, src), src
        found += _LONG_INT_LIST.search(src) is not None
    assert found > 500


def test_lazy_blocks_are_found_as_the_regex_finds_them() -> None:
    rnd = random.Random(2)
    lines = [b"config = {", b"    'a': {'b': 1},", b"    'a': {", b"        'c': 2,", b"    },", b"    }", b"\t'd': {'x': [1, 2]},"]
    lines += [b"  \"e.f\": { 'g': None } ,", b"}", b"x = 1", b"    'h': 3,", b"    'i': {  # c", b"      'j': {", b"      },", b"", b"    'm': {}"]
    sources = _corpus()
    for _ in range(5000):
        sources.append(b"\n".join(rnd.choice(lines) for _ in range(rnd.randint(1, 14))) + rnd.choice([b"", b"\n"]))
    found = 0
    for src in sources:
        assert _spans(_lazy_blocks(src)) == _spans(_LAZY_BLOCK.finditer(src)), src
        found += bool(_spans(_LAZY_BLOCK.finditer(src)))
    assert found > 1000
