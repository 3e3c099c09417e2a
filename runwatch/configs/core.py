"""The state of one module's evaluation: its namespace, budgets spent, warnings, taints.

``ModuleEvaluator`` (``runwatch.configs.evaluator``) is this core plus the statement,
expression, operator and call mixins; each mixin is a subclass of ``EvaluatorCore`` and
reaches the others' methods through ``self`` (the seams are listed at the end).
"""

from __future__ import annotations

import ast
import copy
import os.path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from runwatch.configs.budgets import MAX_SEQ, MAX_STEPS, MAX_STR, MAX_WORK, SCAN, WALK_LIMIT, TooComplex, copy_size, seq_len, size_of, weight
from runwatch.configs.signals import Raised
from runwatch.configs.source_prep import LazyBlock
from runwatch.configs.values import ConfigModule, Unknown


class ImportHook(Protocol):
    def import_config(self, module: str, line: int) -> ConfigModule | Unknown | None:
        """A config module's namespace, an Unknown when it cannot be read, None when not a config module."""


class EvaluatorCore:
    """One module's evaluation state and the bookkeeping every mixin shares."""

    def __init__(
        self,
        path: str,
        module: str,
        is_package: bool = False,
        hook: ImportHook | None = None,
    ) -> None:
        self.path = path
        self.module = module
        self.is_package = is_package
        self.hook = hook
        self.namespace: dict[str, Any] = {"__name__": module, "__file__": path}
        self.star_imports: list[str] = []
        self.warnings: list[str] = []
        # Containers that may hold keys we could not see being set (id -> (obj, reason)).
        self.tainted: dict[int, tuple[Any, str]] = {}
        self.stopped_at: int | None = None
        self.name_lines: dict[str, int] = {}  # module-level name -> line of its last binding
        self._line = 0
        self._steps = 0
        self._work = 0  # see MAX_WORK
        self._in_try = 0  # how many try bodies the statement being run is inside
        self._scopes: list[dict[str, Any]] = []  # class bodies / comprehensions
        # Dict-literal blocks cut out before parsing (split_lazy), by placeholder index.
        self.lazy: list[tuple[LazyBlock, int]] = []
        # The literal text of each long int list elided before parsing (parse_elided), by index.
        self.elided_texts: list[bytes] = []
        self.finished = False

    # ------------------------------------------------------------------ helpers
    def warn(self, node: ast.AST | None, message: str) -> None:
        line = getattr(node, "lineno", 0) if node is not None else 0
        self.warnings.append(f"{self.path}:{line}: {message}")

    def _unknown(self, node: ast.AST, why: str) -> Unknown:
        return Unknown(f"{os.path.basename(self.path)}:{getattr(node, 'lineno', 0)}: {why}")

    def _tick(self) -> None:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise TooComplex(f"more than {MAX_STEPS} evaluation steps")

    def charge(self, units: int) -> None:
        """Count work done or memory taken (see MAX_WORK); over the budget raises TooComplex."""
        self._work += units
        if self._work > MAX_WORK:
            raise TooComplex(f"more than {MAX_WORK} units of work (computed values too large or too many)")

    def _deepcopy(self, value: Any) -> Any:
        """``copy.deepcopy`` charged by the size of what it copies."""
        self.charge(SCAN * copy_size(value, WALK_LIMIT))
        return copy.deepcopy(value)

    def taint(self, container: Any, reason: str) -> None:
        if isinstance(container, dict | list):
            self.tainted[id(container)] = (container, reason)

    def put_key(self, container: dict[Any, Any], key: Any, value: Any, where: str) -> None:
        """``container[key] = value``, or the dict tainted when the key is not known or not hashable.

        ``where``: the end of the taint's reason, e.g. "at line 7" or "is set at line 7".
        """
        if isinstance(key, Unknown):
            self.taint(container, f"a key not known statically {where}")
            return
        try:
            container[key] = value
        except TypeError:
            self.taint(container, f"an unhashable key {where}")

    def taint_reason(self, container: Any) -> str | None:
        entry = self.tainted.get(id(container))
        return entry[1] if entry is not None and entry[0] is container else None

    def _iterate(self, value: Any) -> list[Any] | None:
        """The items a ``for`` or a ``*`` would see (a dict's keys), charged; None when not known or too many."""
        if size_of(value) <= MAX_SEQ or isinstance(value, range):
            self.charge(8 * (seq_len(value) if isinstance(value, range) and seq_len(value) <= MAX_SEQ else size_of(value)))
        if isinstance(value, dict):
            items = list(value.keys())
        elif isinstance(value, list | tuple | str | range | set | frozenset):
            if seq_len(value) > MAX_SEQ:
                return None
            items = list(value)
        else:
            return None
        return items if len(items) <= MAX_SEQ else None

    def _try(self, node: ast.AST, fn: Callable[[], Any]) -> Any:
        """``fn()`` on plain data, charged: its error, or a result over a budget, is an Unknown."""
        try:
            result = fn()
        except (ArithmeticError, TypeError, ValueError, KeyError, IndexError, AttributeError, MemoryError, RecursionError) as e:
            if self._in_try and not isinstance(e, MemoryError | RecursionError):
                raise Raised(e) from None  # Python would raise here: the enclosing try's handlers decide
            return self._unknown(node, f"{type(e).__name__}: {str(e)[:200]}")
        self.charge(weight(result))
        if isinstance(result, str | bytes) and len(result) > MAX_STR:
            return self._unknown(node, "string too large")
        if size_of(result) > MAX_SEQ:
            return self._unknown(node, "sequence too large")
        return result

    if TYPE_CHECKING:  # what one mixin calls on another (statements, expressions, operators, calls)

        def eval(self, node: ast.expr, statement: bool = False) -> Any: ...
        def eval_move(self, node: ast.expr, statement: bool = False) -> Any: ...
        def assign(self, target: ast.expr, value: Any) -> None: ...
        def _setitem(self, node: ast.AST, container: Any, key: Any, value: Any) -> None: ...
        def truth(self, value: Any) -> Any: ...
        def _unary(self, node: ast.UnaryOp) -> Any: ...
        def _binop(self, node: ast.AST, op: ast.operator, left: Any, right: Any) -> Any: ...
        def _boolop(self, node: ast.BoolOp) -> Any: ...
        def _compare(self, node: ast.Compare) -> Any: ...
        def _call(self, node: ast.Call, statement: bool) -> Any: ...
