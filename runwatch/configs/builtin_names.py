"""The builtins, constants and str methods the interpreter computes itself, and its callables.

A name in ``BUILTIN_NAMES`` evaluates to a ``Builtin`` whose calls are computed
(``runwatch.configs.calls``) when their arguments are plain data; ``obj.name`` evaluates
to a ``BoundMethod`` so that ``config.update(x)`` mutates the real dict.
"""

from __future__ import annotations

from typing import Any

BUILTIN_NAMES = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "str",
    "bool",
    "len",
    "range",
    "sum",
    "min",
    "max",
    "sorted",
    "reversed",
    "abs",
    "round",
    "zip",
    "enumerate",
    "any",
    "all",
    "print",
}
CONSTANT_NAMES = {"True": True, "False": False, "None": None, "Ellipsis": ...}


class Builtin:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Builtin({self.name})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Builtin:
        return self


STR_METHODS = {
    "join",
    "replace",
    "lower",
    "upper",
    "strip",
    "lstrip",
    "rstrip",
    "split",
    "rsplit",
    "startswith",
    "endswith",
    "title",
    "capitalize",
    "removeprefix",
    "removesuffix",
    "zfill",
}


class BoundMethod:
    """``obj.name`` before the call: lets ``config.update(x)`` mutate the real dict."""

    __slots__ = ("name", "obj")

    def __init__(self, obj: Any, name: str) -> None:
        self.obj = obj
        self.name = name

    def __deepcopy__(self, memo: dict[int, Any]) -> BoundMethod:
        return self
