"""Operators: the tables of what Python computes, and their application to evaluated values.

Arithmetic and comparisons run only on plain data, after their result's size is bounded
(``runwatch.configs.bounds``) and charged; truthiness that cannot be decided is ``UNDECIDED``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from runwatch.configs.bounds import binop_too_large
from runwatch.configs.budgets import MAX_INT_BITS, PLAIN, SCAN, args_int_cost, int_bits, int_cost, is_plain, size_of
from runwatch.configs.core import EvaluatorCore
from runwatch.configs.signals import UNDECIDED
from runwatch.configs.values import Call, ConfigModule, LocalClass, ModuleRef, Opaque, Ref, Unknown

BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
    ast.BitXor: operator.xor,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
UNARYOPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}


class Operators(EvaluatorCore):
    """Unary, binary, boolean and comparison operators, and truthiness."""

    def truth(self, value: Any) -> Any:
        if isinstance(value, PLAIN + (list, tuple, dict, set, frozenset, range)):
            return bool(value)
        if isinstance(value, Ref | ModuleRef):
            if value.dotted in ("typing.TYPE_CHECKING", "TYPE_CHECKING"):
                return False
            return UNDECIDED
        if isinstance(value, LocalClass | ConfigModule | Opaque):
            return True
        return UNDECIDED

    def _unary(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            t = self.truth(value)
            return self._unknown(node, "'not' of a value not known statically") if t is UNDECIDED else not t
        if not isinstance(value, int | float | complex):
            return value if isinstance(value, Unknown) else self._unknown(node, "unary operator on a non-number")
        return self._try(node, lambda: UNARYOPS[type(node.op)](value))

    def _binop(self, node: ast.AST, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        self.charge(SCAN * (size_of(left) + size_of(right)))  # the plainness walk
        if not (is_plain(left) or isinstance(left, list | tuple | dict)) or not (is_plain(right) or isinstance(right, list | tuple | dict)):
            return self._unknown(node, "operator on symbolic values")
        fn = BINOPS.get(type(op))
        if fn is None:
            return self._unknown(node, f"operator {type(op).__name__}")
        too_large = binop_too_large(op, left, right)
        if too_large is not None:
            return self._unknown(node, too_large)
        if isinstance(left, int) and isinstance(right, int):
            if isinstance(op, ast.Pow) and right > 1:
                self.charge(int_cost(1 << min(int_bits(left) * right, MAX_INT_BITS)))
            elif not isinstance(op, ast.Add | ast.Sub | ast.LShift | ast.RShift | ast.BitOr | ast.BitAnd | ast.BitXor):
                self.charge(int_cost(left, right))
        elif isinstance(op, ast.Mod) and isinstance(left, str):
            self.charge(args_int_cost(right))
        return self._try(node, lambda: fn(left, right))

    def _boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for v in node.values:
            value = self.eval(v)
            t = self.truth(value)
            if t is UNDECIDED:
                return self._unknown(node, "boolean operator on a value not known statically")
            if isinstance(node.op, ast.And) and not t:
                return value
            if isinstance(node.op, ast.Or) and t:
                return value
        return value

    def _compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comp)
            if isinstance(op, ast.Is | ast.IsNot):
                if isinstance(left, Unknown | Call) or isinstance(right, Unknown | Call):
                    return self._unknown(node, "'is' on a value not known statically")
                result = left is right if (left is None or right is None or isinstance(left, bool)) else left == right
                result = result if isinstance(op, ast.Is) else not result
            else:
                self.charge(SCAN * (size_of(left) + size_of(right)))  # the plainness walk and the scan
                if not (is_plain(left) or isinstance(left, list | tuple | dict)) or not (is_plain(right) or isinstance(right, list | tuple | dict)):
                    return self._unknown(node, "comparison of symbolic values")
                cmp, lhs, rhs = CMPOPS[type(op)], left, right
                result = self._try(node, lambda: cmp(lhs, rhs))  # noqa: B023 - called at once
                if isinstance(result, Unknown):
                    return result
            if not result:
                return False
            left = right
        return True
