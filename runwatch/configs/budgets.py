"""What one file's evaluation may cost, and how the cost of a value is measured.

A hostile config must not make the reader loop or allocate without end, so the
interpreter (``runwatch.configs.evaluator``) charges everything it computes to the
budgets below and checks sizes before computing; these are the limits and the measures.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.values import force_values

# Budgets per file (docs/configs.md, "Budgets"). Every operation checks the size of its
# result before computing it (both operands), and everything computed is charged to a work
# budget, so neither one expression nor a loop of cheap-looking ones can take minutes or GBs.
MAX_STEPS = 300_000  # statements and expressions evaluated per file (about 2 s at most; real configs: a few thousand)
MAX_SEQ = 100_000  # elements in any computed sequence / loop iterations
MAX_STR = 1_000_000  # characters in any computed string
MAX_INT_BITS = 65_536  # bits of any computed integer (about 19,700 decimal digits)
# Units of work per file: one per character or byte produced, 8 per container slot
# produced or copied, 32 per element walked in Python, one per 8 bits of integer, and
# about (digits / 30)**2 / 4 per big-integer multiplication, division or decimal
# conversion. At most a few hundred MB allocated and well under a second of work; real
# configs use a few thousand units.
MAX_WORK = 32_000_000
WALK_LIMIT = 1_000_000  # nodes a plainness/size walk visits before giving up
SCAN = 32  # work units per element walked in Python (a plainness check, a membership scan)


class TooComplex(Exception):
    """The file exceeds the evaluation budget; reported as an error, never a hang."""


PLAIN = (int, float, complex, str, bytes, bool, type(None))


def is_plain(value: Any, depth: int = 0, budget: list[int] | None = None, seen: set[int] | None = None) -> bool:
    """True for data made only of Python literals (safe to hand to real builtins).

    A walk of more than ``WALK_LIMIT`` nodes answers False: ``[[s] * 99999] * 99999`` is
    ten billion nodes reached through two small lists. A container already found plain in
    this walk (``seen``, by id) is not walked again, so ``s = [s] * 3`` repeated 99 times
    costs 99 steps, not 3**99; one still being walked is not in ``seen`` (a cycle ends at
    the depth limit, as before).
    """
    if isinstance(value, PLAIN):
        return True
    if depth > 50:
        return False
    if budget is None:
        budget = [WALK_LIMIT]
    if seen is None:
        seen = set()
    if id(value) in seen:
        return True
    if isinstance(value, list | tuple | set | frozenset):
        budget[0] -= len(value)
        ok = budget[0] >= 0 and all(is_plain(v, depth + 1, budget, seen) for v in value)
    elif isinstance(value, dict):
        budget[0] -= 2 * len(value)
        ok = budget[0] >= 0 and all(is_plain(k, depth + 1, budget, seen) and is_plain(v, depth + 1, budget, seen) for k, v in force_values(value).items())
    else:
        return False
    if ok:
        seen.add(id(value))
    return ok


def seq_len(value: Any) -> int:
    """``len(value)``, or a number past every budget when Python cannot say (``len(range(10 ** 30))``)."""
    try:
        return len(value)
    except OverflowError:
        return 1 << 62


def size_of(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) else 0


def weight(value: Any) -> int:
    """Work units of producing ``value`` itself (its own characters, slots or bits; not what it shares)."""
    if isinstance(value, str | bytes):
        return len(value) + 1
    if isinstance(value, int):
        return value.bit_length() // 8 + 1
    if isinstance(value, list | tuple | dict | set | frozenset):
        return 8 * len(value) + 1
    return 1


def deep_size(value: Any, limit: int) -> int:
    """Characters and slots reachable from ``value``, counting shared parts each time (what
    ``str()`` or a walk would produce); stops once over ``limit`` (returns a number > limit)."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v) + 2
        elif isinstance(v, list | tuple | set | frozenset):
            total += 2 * len(v) + 2
            stack.extend(v)
        elif isinstance(v, dict):
            total += 4 * len(v) + 2
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 2
        else:
            total += 24
        if total > limit:
            return total
    return total


def comparison_too_big(items: Any) -> bool:
    """True when ordering ``items`` (``min``, ``max``, ``sorted``) may compare containers element
    by element past the walk limit: ``max([[0] * 99999] * 99999)`` is two small lists but ten
    billion element comparisons. Scalars compare in one step each."""
    if isinstance(items, list | tuple | set | frozenset) and all(isinstance(v, PLAIN) for v in items):
        return False
    return deep_size(items, WALK_LIMIT) > WALK_LIMIT


def copy_size(value: Any, limit: int) -> int:
    """Elements ``copy.deepcopy`` visits: the lengths of the distinct containers reachable
    (a shared one is copied once, its memo hit counted as one); stops once over ``limit``."""
    total = 0
    seen: set[int] = set()
    stack = [value]
    containers = (list, tuple, set, frozenset, dict)
    while stack:
        v = stack.pop()
        if not isinstance(v, containers):
            continue
        if id(v) in seen:
            total += 1
            continue
        seen.add(id(v))
        total += len(v) + 1
        items = [*v.keys(), *v.values()] if isinstance(v, dict) else v
        stack.extend(x for x in items if isinstance(x, containers))
        if total > limit:
            return total
    return total


def int_bits(v: Any) -> int:
    return v.bit_length() if isinstance(v, int) else 0


def int_cost(*values: Any) -> int:
    """Work units of arithmetic on, or a decimal conversion of, big integers: CPython's
    multiplication, division and int<->str are about quadratic in the number of 30-bit
    digits, so a 13,000-bit number costs ~50,000 units to print (~0.3 ms) where its 4,000
    characters would suggest 4,000. Zero for machine-sized numbers."""
    digits = [int_bits(v) // 30 + 1 for v in values if isinstance(v, int) and not isinstance(v, bool) and int_bits(v) > 256]
    if not digits:
        return 0
    if len(digits) == 1:
        return digits[0] * digits[0] // 4
    return digits[0] * digits[1] // 4


def args_int_cost(args: Any) -> int:
    """``int_cost`` of the numbers among a call's or a %-format's arguments (one level deep)."""
    items = args if isinstance(args, list | tuple) else list(args.values()) if isinstance(args, dict) else [args]
    return sum(int_cost(a) for a in items[:MAX_SEQ])
