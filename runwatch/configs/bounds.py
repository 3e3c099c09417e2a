"""Upper bounds of an operation's result, computed from its operands before it runs.

``10**10**9``, ``[0] * 10**9``, ``'%*d' % (10**9, 1)`` or ``'{:99999}'.format(x)`` would
take minutes or gigabytes; the interpreter asks these bounds first and answers ``Unknown``
when one is over its budget (``runwatch.configs.budgets``).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from runwatch.configs.budgets import MAX_INT_BITS, MAX_SEQ, MAX_STR, deep_size, int_bits, size_of

WIDE_FORMAT = re.compile(r"\d{5,}")

# Replacement fields of str.format and conversion specs of %: their widths and precisions
# add to the result's length; a nested or '*' width is not evaluated (it comes from an argument).
FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
FORMAT_NESTED = re.compile(r"\{[^{}]*\{(?!\{)")
_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsab%])")
_DIGITS = re.compile(r"\d+")


def binop_too_large(op: ast.operator, left: Any, right: Any) -> str | None:
    """Why ``left op right`` would be over a size budget, computed from both operands before
    the operation runs (no 10**10**9, no (10**9999)**9999, no [0] * 10**9, no '%*d' % (10**9, 1))."""
    t = type(op)
    if t is ast.Pow:
        if isinstance(right, int | float) and abs(right) > 10_000:
            return "exponent too large"
        if isinstance(left, int) and isinstance(right, int) and right > 0 and max(int_bits(left) - 1, 1) * right > MAX_INT_BITS and abs(left) > 1:
            return "power too large"
    elif t is ast.LShift:
        if isinstance(left, int) and isinstance(right, int) and left and int_bits(left) + right > MAX_INT_BITS:
            return "shift too large"
    elif t is ast.Mult:
        if isinstance(left, int) and isinstance(right, int) and int_bits(left) + int_bits(right) > MAX_INT_BITS:
            return "product too large"
        for seq, n in ((left, right), (right, left)):
            if size_of(seq) and isinstance(n, int) and size_of(seq) * n > MAX_SEQ:
                return "sequence too large"
    elif t is ast.Add:
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            limit = MAX_STR if isinstance(left, str | bytes) else MAX_SEQ
            if size_of(left) + size_of(right) > limit:
                return "sequence too large"
    elif t is ast.Mod and isinstance(left, str | bytes):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        if WIDE_FORMAT.search(text):
            return "format width too large"
        if percent_bound(text, right) > MAX_STR:
            return "format result too large (or width from an argument)"
    return None


def percent_bound(fmt: str, args: Any) -> int:
    """An upper bound of the length of ``fmt % args`` (huge when a width comes from an argument)."""
    total = len(fmt)
    for m in _PERCENT_SPEC.finditer(fmt):
        width, precision = m.group(1), m.group(2)
        if width == "*" or precision == "*":
            return MAX_STR + 1
        total += int(width or 0) + int(precision or 0)
    return total + deep_size(args, MAX_STR) * 4  # repr/ascii of an argument: at most 4 chars per char (\x..)


def format_bound(fmt: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    """An upper bound of the length of ``fmt.format(*args, **kwargs)``: widths plus arguments."""
    total = len(fmt)
    for field in FORMAT_FIELD.findall(fmt):
        total += sum(int(d) for d in _DIGITS.findall(field))
    n_fields = fmt.count("{")
    return total + deep_size([args, kwargs], MAX_STR) * 4 * max(n_fields, 1)


def str_method_bound(s: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> int | None:
    """An upper bound of the length of ``s.name(*args)``'s result (None: cannot bound it)."""
    if name == "join":
        if len(args) != 1 or kwargs or not isinstance(args[0], list | tuple) or len(args[0]) > MAX_SEQ:
            return None
        items = args[0]
        if not all(isinstance(x, str) for x in items):
            return 0  # TypeError, raised at once
        return sum(len(x) for x in items) + len(s) * max(len(items) - 1, 0)
    if name == "replace":
        if kwargs or not 2 <= len(args) <= 3 or not isinstance(args[0], str) or not isinstance(args[1], str):
            return 0 if len(args) < 2 else None
        old, new = args[0], args[1]
        n = s.count(old) if old else len(s) + 1
        if len(args) == 3 and isinstance(args[2], int) and args[2] >= 0:
            n = min(n, args[2])
        return len(s) + n * max(len(new) - len(old), 0)
    if name == "zfill":
        return max(len(s), args[0]) if len(args) == 1 and isinstance(args[0], int) else 0
    return 4 * len(s)  # case changes, strips, splits: at most a few times the input
