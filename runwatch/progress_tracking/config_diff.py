"""What differs between a run's config at launch (its ``config.json``) and its config file today.

Two ways to one answer. ``differences(launch, today_value(config))`` converts the whole
evaluated config to plain values and compares it with the launch record. ``live_differences``
walks the launch record and the evaluated config together, converting only what it compares:
a dict-literal block the facts reader left unevaluated (``Lazy``) is evaluated only when the
record has its key, and a long int list the reader did not parse (``ElidedList``) is read
from its literal text only then (when the evaluation never used one as an operand). Any value
the lazy read could not tell where the full read might makes the walk give up (``Unsure``):
the caller then compares the full evaluation. Both are one walk (``_walk``) over two views of
today's value (``_plain``, ``_LiveView``), so they give the same messages in the same order.

Plain values: numbers, strings, lists, nested dicts, and classes as ``("class", name)``;
anything the static reader cannot tell (a call, a function, an ``Unknown``) is ``SKIP`` and
never compared, so no change is claimed that cannot be seen.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.source_prep import elided_values
from runwatch.configs.values import ElidedList, ExecClass, Lazy, LocalClass, ModuleRef, Ref, Unknown
from runwatch.readers.launch_config import SKIP

MAX_DEPTH = 50
_SCALARS = frozenset({type(None), bool, int, float, str})
_NUMERIC = frozenset({type(None), int, float, str})  # no bool: True == 1, yet a bool is no number here


def today_value(value: Any, depth: int = 0) -> Any:
    """A statically evaluated config value as plain values (classes as ("class", name)); SKIP for the unknown."""
    if depth > MAX_DEPTH:
        return SKIP
    if type(value) is Lazy:
        value = value.force()
    if isinstance(value, dict):
        return {k: today_value(v, depth + 1) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list | tuple):
        if depth < MAX_DEPTH and all(type(v) in _SCALARS for v in value):
            return list(value)  # seed lists and the like: plain already
        return [today_value(v, depth + 1) for v in value]
    return _leaf(value)


def _leaf(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Ref | ModuleRef):
        return ("class", value.dotted.rsplit(".", 1)[-1])
    if isinstance(value, LocalClass | ExecClass):
        return ("class", value.name)
    return SKIP


def show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "class":
        return str(v[1])
    text = repr(v)
    return text if len(text) <= 60 else text[:59] + "\u2026"


def _same_plain_list(a: list[Any], b: list[Any] | tuple[Any, ...]) -> bool:
    """Two lists of plain numbers/strings/None that are equal element by element (no difference to report)."""
    return all(type(x) in _NUMERIC for x in a) and all(type(y) in _NUMERIC for y in b) and a == list(b)


def _scalar_difference(launch: Any, today: Any, where: str) -> list[str]:
    if type(launch) is bool or type(today) is bool:
        same = type(launch) is type(today) and launch == today
    else:
        same = launch == today
    return [] if same else [f"{where} {show(launch)} at launch, {show(today)} now"]


# How a walk sees one value of today's config: not comparable (SKIP), a dict, a list, or a leaf.
_SKIP, _DICT, _LIST, _LEAF = range(4)


def _plain(today: Any, depth: int) -> tuple[int, Any]:
    """Today's value already plain (``today_value``'s output)."""
    if today is SKIP:
        return _SKIP, today
    if isinstance(today, dict):
        return _DICT, today
    if isinstance(today, list):
        return _LIST, today
    return _LEAF, today


def differences(launch: Any, today: Any, path: str = "") -> list[str]:
    """What differs between the config at launch and today (plain values), key path by key path."""
    return _walk(launch, today, path, 0, _plain)


def _walk(launch: Any, today: Any, path: str, depth: int, view: Any) -> list[str]:
    """The one comparison: ``view`` says what today's value is (and may raise ``Unsure``)."""
    if launch is SKIP or depth > MAX_DEPTH:
        return []  # not comparable, or too deep: today's value is SKIP
    kind, today = view(today, depth)
    if kind == _SKIP:
        return []
    where = path or "config"
    if kind == _DICT:
        if not isinstance(launch, dict):
            return [f"{where} changed"]
        today_keys = [k for k in today if isinstance(k, str)]
        # Keys on one side only count where the record looks whole (it holds at least half of
        # today's keys): a partial record (another writer's) is compared on the keys it has.
        whole = 2 * len(launch) >= len(today_keys)
        out: list[str] = []
        for k in launch:
            sub = f"{path}.{k}" if path else k
            if k in today:
                out.extend(_walk(launch[k], today[k], sub, depth + 1, view))
            elif whole:
                out.append(f"{sub} removed")
        if whole:
            out.extend(f"{path}.{k} added" if path else f"{k} added" for k in today_keys if k not in launch)
        return out
    if kind == _LIST:
        if not isinstance(launch, list):
            return [f"{where} changed"]
        if len(launch) != len(today):
            return [f"{where}: {len(launch)} items at launch, {len(today)} now"]
        if _same_plain_list(launch, today):
            return []
        out = []
        for i, (a, b) in enumerate(zip(launch, today, strict=True)):
            out.extend(_walk(a, b, f"{where}[{i}]", depth + 1, view))
        return out
    if isinstance(launch, dict | list):
        return [f"{where} changed"]
    return _scalar_difference(launch, today, where)


class Unsure(Exception):
    """The live walk cannot promise the full evaluation's answer here: compare the full evaluation."""


def live_differences(launch: dict[str, Any], config: Any, elided: bool, trusted: bool = False) -> list[str] | None:
    """``differences(launch, today_value(config))`` without converting what the launch record does not name.

    ``config`` is the facts reader's evaluated ``config`` (its blocks may be ``Lazy``; forcing one
    gives what eager evaluation gives). ``elided``: long int lists were elided in this evaluation;
    an elided list the record names is read from its literal text when ``trusted`` (no elided list
    was ever an operand: ``evaluator.ElidedUses``), else it raises ``Unsure``, as does any other
    unknown value (it may come from an elided list); an elided list at a key the record does not
    name only counts as a key. None where the full comparison
    makes no comparison (today's config is no dict).
    """
    if type(config) is Lazy:
        config = config.force()
    if not isinstance(config, dict):
        if elided and isinstance(config, Unknown):
            raise Unsure
        return None
    return _walk(launch, config, "", 0, _LiveView(elided, trusted))


class _LiveView:
    """Today's value from the evaluation itself, converted only where the walk compares it."""

    __slots__ = ("elided", "trusted")

    def __init__(self, elided: bool, trusted: bool) -> None:
        self.elided = elided
        self.trusted = trusted

    def __call__(self, raw: Any, depth: int) -> tuple[int, Any]:
        if type(raw) is Lazy:
            raw = raw.force()
        if isinstance(raw, dict):
            if self.elided:
                for v in raw.values():  # today's keys count (added, removed, whole): none may be in doubt
                    if isinstance(v, Unknown) and not isinstance(v, ElidedList):
                        raise Unsure
            return _DICT, raw
        if isinstance(raw, ElidedList):
            # Its literal is its value only where no elided list was ever an operand (an operation on
            # one may give that very object back: len(), a slice, an append): the caller says so.
            values = elided_values(raw.text) if self.trusted and raw.text is not None and depth < MAX_DEPTH else None
            if values is None:
                raise Unsure
            return _LIST, values
        if isinstance(raw, list | tuple):
            return _LIST, raw
        if isinstance(raw, Unknown):
            if self.elided or "too complex to read statically" in raw.reason:
                raise Unsure  # it may stand for a value the full evaluation knows
            return _SKIP, raw
        today = _leaf(raw)
        return (_SKIP, today) if today is SKIP else (_LEAF, today)
