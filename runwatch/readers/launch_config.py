"""``config.json``: the config as Pylon saw it at launch, for a cheap "changed since?" check.

Pylon writes it as a Python repr, not JSON (class objects print as ``<class '...'>``,
partials as ``functools.partial(<class ...>, ...)``), so it is read as a Python
expression with every ``<...>`` repr replaced by a string, never executed (one decoder,
``decode_launch_config``). ``parse_launch_config`` takes only the keys tracking uses (epochs,
early stopping, the metric's class name); ``launch_value`` the whole record as plain values,
for the whole-config comparison. Anything that does not parse gives no facts, and then no
warning: the check is conservative.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from runwatch.readers.safe_open import read_regular

CONFIG_JSON = "config.json"
_MAX_BYTES = 4 * 1024 * 1024
_ANGLE = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class LaunchFacts:
    epochs: int | None = None
    early_stopping: tuple[bool, int | None] | None = None  # (enabled, patience)
    metric: str | None = None  # the metric class's name, e.g. "SemanticSegmentationMetric"


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _dict_items(node: ast.AST | None) -> dict[str, ast.AST]:
    if not isinstance(node, ast.Dict):
        return {}
    out: dict[str, ast.AST] = {}
    for k, v in zip(node.keys, node.values, strict=False):
        if isinstance(k, ast.Constant) and isinstance(k.value, str):
            out[k.value] = v
    return out


def _count(node: ast.AST | None) -> int | None:
    v = _literal(node) if node is not None else None
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def decode_launch_config(text: str) -> ast.expr | None:
    """A ``config.json`` text as a Python expression tree (every ``<...>`` repr a string), None when it
    does not parse. Never evaluated: callers take literals from it."""
    source = text
    for _ in range(8):  # nested reprs: <class '<locals>.X'> and the like
        # innermost first; the string has no brackets or quotes left, so it nests safely
        replaced = _ANGLE.sub(lambda m: repr(m.group(0)[1:-1].replace("'", "").replace('"', "")), source)
        if replaced == source:
            break
        source = replaced
    try:
        return ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def read_launch_text(path: str) -> str | None:
    """The text of a ``config.json`` (at most 4 MiB of it); None when unreadable."""
    try:
        data = read_regular(path, _MAX_BYTES)  # non-blocking, regular files inside the project only
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


def parse_launch_config(text: str) -> list[LaunchFacts] | None:
    """Facts per stage (one for a dict) of a ``config.json`` text; None when it does not parse."""
    tree = decode_launch_config(text)
    if tree is None:
        return None
    stages = tree.elts if isinstance(tree, ast.List | ast.Tuple) else [tree]
    out: list[LaunchFacts] = []
    for node in stages:
        items = _dict_items(node)
        if not items:
            return None
        es = None
        es_items = _dict_items(items.get("early_stopping"))
        if es_items:
            args = _dict_items(es_items.get("args"))
            enabled = _literal(args["enabled"]) if "enabled" in args else True
            es = (enabled is True, _count(args.get("epochs")))
        elif "early_stopping" in items and _literal(items["early_stopping"]) is None:
            es = (False, None)
        metric = None
        m_items = _dict_items(items.get("metric"))
        cls = _literal(m_items["class"]) if "class" in m_items else None
        if isinstance(cls, str):
            # "<class 'metrics.x.SemanticSegmentationMetric'>" -> "SemanticSegmentationMetric"
            name = cls.removeprefix("class ").strip().rsplit(".", 1)[-1]
            metric = name if name.isidentifier() and len(name) <= 200 else None  # a class name, or nothing
        out.append(LaunchFacts(epochs=_count(items.get("epochs")), early_stopping=es, metric=metric))
    return out


def read_launch_config(path: str) -> list[LaunchFacts] | None:
    """``parse_launch_config`` of a file (at most 4 MiB of it); None when unreadable."""
    text = read_launch_text(path)
    return None if text is None else parse_launch_config(text)


def launch_differences(launch: LaunchFacts, epochs: int | None, early_stopping: tuple[bool, int | None] | None, metric: str | None) -> list[str]:
    """What differs between the config at launch and the config file today (only keys both sides know)."""
    out: list[str] = []
    if launch.epochs is not None and epochs is not None and launch.epochs != epochs:
        out.append(f"epochs {launch.epochs} at launch, {epochs} now")
    if launch.early_stopping is not None and early_stopping is not None:
        (le, lp), (ne, np_) = launch.early_stopping, early_stopping
        if le != ne:
            out.append(f"early stopping {'on' if le else 'off'} at launch, {'on' if ne else 'off'} now")
        elif le and lp is not None and np_ is not None and lp != np_:
            out.append(f"early-stopping patience {lp} at launch, {np_} now")
    if launch.metric and metric and launch.metric != metric:
        out.append(f"metric {launch.metric} at launch, {metric} now")
    return out


# ---- the whole record as plain values (the changed-config comparison, progress_tracking.config_changed)

SKIP = object()  # a value that is not compared: a call, a function, anything that is no plain value
_NUMBERS = frozenset({int, float, bool, type(None)})  # constants _plain keeps as they are


def _class_name(text: str) -> str | None:
    """``class a.b.C`` (a repr with its angle brackets removed, quoted or not) -> ``C``."""
    text = text.strip("'\"")
    if not text.startswith("class "):
        return None
    name = text[6:].strip().strip("'\"").rsplit(".", 1)[-1]
    return name if name.isidentifier() else None


def launch_value(text: str) -> Any:
    """The config.json text as plain values (class reprs as ("class", name)); SKIP when it does not parse."""
    fast = _launch_value_elided(text)
    if fast is not _REDO:
        return fast
    tree = decode_launch_config(text)
    return SKIP if tree is None else _plain(tree, 0, None)


# Pylon's records carry lists of 100 seeds: most of the parsing. A long list of int literals
# is taken out before parsing (a name in its place) and read with int(); the answer is the
# full parse's, or the full parse is done (a literal Python refuses, a list inside a string).
_ELIDE_PREFIX = "__runwatch_ints_"
_LONG_INTS = re.compile(r"(?<=[:,(\[])(\s*)\[((?:\s*-?\d+\s*,){16,}\s*-?\d+\s*,?\s*)\]")
_LEADING_ZERO = re.compile(r"(?<!\d)0\d")
_REDO = object()


class _Redo(Exception):
    pass


def _launch_value_elided(text: str) -> Any:
    lists: list[str] = []

    def sub(m: re.Match[str]) -> str:
        lists.append(m.group(2))
        return f"{m.group(1)}{_ELIDE_PREFIX}{len(lists) - 1}__"

    if _ELIDE_PREFIX in text:
        return _REDO
    elided = _LONG_INTS.sub(sub, text)
    if not lists or any(_LEADING_ZERO.search(t) for t in lists):
        return _REDO  # nothing to gain, or Python refuses the literal: the full parse says so
    tree = decode_launch_config(elided)
    if tree is None:
        return _REDO
    try:
        return _plain(tree, 0, lists)
    except _Redo:
        return _REDO


def _plain(node: ast.AST, depth: int, lists: list[str] | None) -> Any:
    if depth > 50:
        return SKIP
    if isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for k, v in zip(node.keys, node.values, strict=False):
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                if lists is not None and _ELIDE_PREFIX in k.value:
                    raise _Redo  # an elided "list" was inside a string
                out[k.value] = _plain(v, depth + 1, lists)
        return out
    if isinstance(node, ast.List | ast.Tuple):
        elts = node.elts
        if depth < 50 and all(type(e) is ast.Constant and type(e.value) in _NUMBERS for e in elts):
            return [e.value for e in elts]  # type: ignore[attr-defined]  # seed lists and the like: the constants as they are
        return [_plain(e, depth + 1, lists) for e in elts]
    if lists is not None and type(node) is ast.Name and node.id.startswith(_ELIDE_PREFIX):
        tokens = [t for t in lists[int(node.id[len(_ELIDE_PREFIX) : -2])].split(",") if t.strip()]
        if depth >= 50:
            return [SKIP] * len(tokens)  # its items are too deep, as in the full parse
        try:
            return [int(t) for t in tokens]
        except ValueError:  # past int's digit limit: as the full parse would
            raise _Redo from None
    value: Any
    if type(node) is ast.Constant:
        value = node.value  # what literal_eval gives for a constant, without its dispatch
    else:
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return SKIP
    if isinstance(value, str):
        if lists is not None and _ELIDE_PREFIX in value:
            raise _Redo  # an elided "list" was inside a string
        name = _class_name(value)
        if name is not None:
            return ("class", name)
        if value.startswith(("function ", "bound method ", "built-in ")) or " object at 0x" in value:
            return SKIP
    if isinstance(value, set | frozenset | bytes | complex):
        return SKIP
    return value
