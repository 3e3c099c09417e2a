"""Deep object sizes, for the memory-per-run figures of the tests and the server benchmark."""

from __future__ import annotations

import sys
import types
from typing import Any

_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def deep_size(obj: Any, seen: set[int]) -> int:
    """Bytes reachable from ``obj`` not already counted in ``seen`` (classes, modules and functions excluded).

    ``seen`` is shared between calls so that an object reachable from two parts is
    counted once, for the first part measured.
    """
    total, stack = 0, [obj]
    while stack:
        x = stack.pop()
        if x is None or x is True or x is False or id(x) in seen or isinstance(x, _SKIP):
            continue
        seen.add(id(x))
        total += sys.getsizeof(x)
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list | tuple | set | frozenset):
            stack.extend(x)
        elif not isinstance(x, str | bytes | int | float):
            d = getattr(x, "__dict__", None)
            if d is not None:
                stack.append(d)
            for cls in type(x).__mro__:
                for slot in cls.__dict__.get("__slots__", ()) or ():
                    if hasattr(x, slot):
                        stack.append(getattr(x, slot))
    return total
