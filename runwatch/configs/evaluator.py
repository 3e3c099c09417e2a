"""Evaluate a module's top-level statements over its syntax tree, without running it.

Config files are Python, but importing one needs the whole framework and GPU stack and
runs arbitrary code. Real configs are almost all literals, imported names and a few
mutations, so a small evaluator recovers them exactly. The rules:

- literals, containers, arithmetic and comparisons on known values are computed;
- imported names stay symbolic (``Ref``/``ModuleRef``); calls are kept opaque (``Call``),
  except a short list of pure helpers (``copy.deepcopy``, ``dict(...)``, ``os.path.join``...);
- mutations (``config['a']['b'] = v``, ``config.update(x)``, ``append``...) are applied;
- ``for`` loops over known, small iterables are unrolled; a branch whose condition is not
  known poisons what it assigns (those targets become ``Unknown``) instead of guessing;
- every size is bounded so a hostile file cannot make the reader allocate or loop forever.
"""

from __future__ import annotations

import ast
import copy
import operator
import os.path
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from runwatch.configs.values import (
    Call,
    ClassAttr,
    ConfigModule,
    Lazy,
    LocalClass,
    ModuleRef,
    Opaque,
    Ref,
    Unknown,
    dotted_name,
    force_slot,
    force_values,
)
from runwatch.configs.source_prep import ELIDED_PREFIX, LAZY_PREFIX, LazyBlock
from runwatch.configs.source_prep import parse, parse_elided, split_lazy  # noqa: F401  (re-exported)

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
_WALK_LIMIT = 1_000_000  # nodes a plainness/size walk visits before giving up
_SCAN = 32  # work units per element walked in Python (a plainness check, a membership scan)


class TooComplex(Exception):
    """The file exceeds the evaluation budget; reported as an error, never a hang."""


class ImportHook(Protocol):
    def import_config(self, module: str, line: int) -> ConfigModule | Unknown | None:
        """A config module's namespace, an Unknown when it cannot be read, None when not a config module."""


class _Missing:
    pass


MISSING = _Missing()
_UNDECIDED = object()  # truthiness / comparison that cannot be decided


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Stop(Exception):
    """A statement that would end the module (``raise``, ``sys.exit``) was reached."""


class _Indeterminate(Exception):
    """Control flow inside a loop depends on an unknown; the loop is poisoned as a whole."""


_BUILTIN_NAMES = {
    "dict", "list", "tuple", "set", "frozenset", "int", "float", "str", "bool", "len", "range", "sum",
    "min", "max", "sorted", "reversed", "abs", "round", "zip", "enumerate", "any", "all", "print",
}
_CONSTANT_NAMES = {"True": True, "False": False, "None": None, "Ellipsis": ...}


class Builtin:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Builtin({self.name})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Builtin:
        return self


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_PLAIN = (int, float, complex, str, bytes, bool, type(None))
_WIDE_FORMAT = re.compile(r"\d{5,}")
_SYMBOLIC = (Ref, ModuleRef, LocalClass, Opaque, Builtin, ConfigModule)


def is_plain(value: Any, depth: int = 0, budget: list[int] | None = None) -> bool:
    """True for data made only of Python literals (safe to hand to real builtins).

    A walk of more than ``_WALK_LIMIT`` nodes answers False: ``[[s] * 99999] * 99999`` is
    ten billion nodes reached through two small lists.
    """
    if isinstance(value, _PLAIN):
        return True
    if depth > 50:
        return False
    if budget is None:
        budget = [_WALK_LIMIT]
    if isinstance(value, list | tuple | set | frozenset):
        budget[0] -= len(value)
        return budget[0] >= 0 and all(is_plain(v, depth + 1, budget) for v in value)
    if isinstance(value, dict):
        budget[0] -= 2 * len(value)
        return budget[0] >= 0 and all(is_plain(k, depth + 1, budget) and is_plain(v, depth + 1, budget) for k, v in force_values(value).items())
    return False


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) else 0


def _weight(value: Any) -> int:
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


def _int_bits(v: Any) -> int:
    return v.bit_length() if isinstance(v, int) else 0


def int_cost(*values: Any) -> int:
    """Work units of arithmetic on, or a decimal conversion of, big integers: CPython's
    multiplication, division and int<->str are about quadratic in the number of 30-bit
    digits, so a 13,000-bit number costs ~50,000 units to print (~0.3 ms) where its 4,000
    characters would suggest 4,000. Zero for machine-sized numbers."""
    digits = [_int_bits(v) // 30 + 1 for v in values if isinstance(v, int) and not isinstance(v, bool) and _int_bits(v) > 256]
    if not digits:
        return 0
    if len(digits) == 1:
        return digits[0] * digits[0] // 4
    return digits[0] * digits[1] // 4


def _args_int_cost(args: Any) -> int:
    """``int_cost`` of the numbers among a call's or a %-format's arguments (one level deep)."""
    items = args if isinstance(args, list | tuple) else list(args.values()) if isinstance(args, dict) else [args]
    return sum(int_cost(a) for a in items[:MAX_SEQ])


# Replacement fields of str.format and conversion specs of %: their widths and precisions
# add to the result's length; a nested or '*' width is not evaluated (it comes from an argument).
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_FORMAT_NESTED = re.compile(r"\{[^{}]*\{(?!\{)")
_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsab%])")
_DIGITS = re.compile(r"\d+")


class ModuleEvaluator:
    """Evaluates one module (a config or a project source) into a namespace dict."""

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
        self._scopes: list[dict[str, Any]] = []  # class bodies / comprehensions
        # Dict-literal blocks cut out before parsing (split_lazy), by placeholder index.
        self.lazy: list[tuple[LazyBlock, int]] = []
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
        self.charge(_SCAN * copy_size(value, _WALK_LIMIT))
        return copy.deepcopy(value)

    def taint(self, container: Any, reason: str) -> None:
        if isinstance(container, dict | list):
            self.tainted[id(container)] = (container, reason)

    def taint_reason(self, container: Any) -> str | None:
        entry = self.tainted.get(id(container))
        return entry[1] if entry is not None and entry[0] is container else None

    # ------------------------------------------------------------------ statements
    def run_bounded(self, tree: ast.Module) -> dict[str, Any]:
        """``run``, but a file over its budget keeps what it set before the statement that
        went over: that statement and every later one are not read (what they assign is
        unknown), with a warning naming the file and line."""
        body = tree.body
        i = 0
        try:
            for i, stmt in enumerate(body):  # noqa: B007 - i is read after the loop
                self._stmt(stmt)
        except (_Stop, _Break, _Continue, _Indeterminate):
            pass
        except TooComplex as e:
            line = self._line or body[i].lineno
            self.warnings.append(f"{self.path}:{line}: too complex to read statically: {e}; lines {body[i].lineno} and after are not read")
            self._steps, self._work = 0, 0  # poisoning evaluates assignment targets only: a fresh allowance
            try:
                self._poison(body[i:], f"is not read: the file is over its evaluation budget at line {line}")
            except (TooComplex, RecursionError):
                pass
        finally:
            self.finished = True
        return self.namespace

    def run(self, tree: ast.Module) -> dict[str, Any]:
        try:
            self._block(tree.body)
        except _Stop:
            pass
        except (_Break, _Continue, _Indeterminate):
            pass
        finally:
            self.finished = True
        return self.namespace

    # ------------------------------------------------------------------ lazy dict values
    def _lazy_value(self, node: ast.Name, defer: bool) -> Any:
        """A placeholder's value: a ``Lazy`` when deferring is exact, else evaluated now."""
        block, line = self.lazy[int(node.id[len(LAZY_PREFIX) : -2])]
        if defer and block.names is not None and not self._scopes:
            env = self._capture(block.names)
            if env is not None:
                return Lazy(block, line, env, self)
        if not defer:
            self._steps -= 1  # the placeholder Name itself is not a step of the original tree
        return self.eval(block.tree(line))

    def _capture(self, names: tuple[tuple[str, bool], ...]) -> dict[str, Any] | None:
        """The bindings a deferred block reads, or None when a later read could differ."""
        env: dict[str, Any] = {}
        is_config = getattr(self.hook, "is_config_module", None)
        for name, dotted in names:
            if name in self.namespace:
                v = self.namespace[name]
            elif name in _BUILTIN_NAMES:
                v = Builtin(name)
            else:
                return None  # undefined now: its Unknown's reason depends on the moment
            if isinstance(v, _PLAIN + (Ref, Builtin, Opaque, Unknown, ClassAttr)):
                pass
            elif isinstance(v, ModuleRef):
                if is_config is not None and is_config(v.name):
                    return None
            elif isinstance(v, LocalClass) and not dotted:
                pass
            else:
                return None  # a container or module namespace: its content may change later
            env[name] = v
        return env

    def force_lazy(self, thunk: Lazy) -> Any:
        """Evaluate a deferred block with the bindings it captured (steps counted once)."""
        counted = thunk.family[0]
        saved_scopes, saved_steps, saved_work = self._scopes, self._steps, self._work
        self._scopes = [thunk.env]
        try:
            value = self.eval(thunk.record.tree(thunk.line))
        except (TooComplex, RecursionError) as e:
            if not self.finished:
                raise
            value = Unknown(f"{os.path.basename(self.path)}:{thunk.line}: too complex to read statically: {e}")
        finally:
            self._scopes = saved_scopes
            if counted:
                self._steps, self._work = saved_steps, saved_work
        thunk.family[0] = True
        return value

    def _block(self, stmts: Iterable[ast.stmt]) -> None:
        for stmt in stmts:
            self._stmt(stmt)

    def _stmt(self, s: ast.stmt) -> None:
        self._tick()
        self._line = s.lineno
        if isinstance(s, ast.Assign):
            value = self.eval(s.value)
            for target in s.targets:
                self.assign(target, value)
        elif isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.assign(s.target, self.eval(s.value))
        elif isinstance(s, ast.AugAssign):
            current = self.eval(s.target)
            self.assign(s.target, self._binop(s, s.op, current, self.eval(s.value)))
        elif isinstance(s, ast.Expr):
            if not isinstance(s.value, ast.Constant):
                self.eval(s.value, statement=True)
        elif isinstance(s, ast.Import):
            self._import(s)
        elif isinstance(s, ast.ImportFrom):
            self._import_from(s)
        elif isinstance(s, ast.ClassDef):
            self._classdef(s)
        elif isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
            self.bind(s.name, Opaque(f"function {self._qual(s.name)} ({os.path.basename(self.path)}:{s.lineno})"))
        elif isinstance(s, ast.If):
            test = self.truth(self.eval(s.test))
            if test is _UNDECIDED:
                self._poison(s.body + s.orelse, f"set under a condition that cannot be decided statically (line {s.lineno})")
            else:
                self._block(s.body if test else s.orelse)
        elif isinstance(s, ast.For):
            self._for(s)
        elif isinstance(s, ast.While):
            self._poison([s], f"set in a while loop (line {s.lineno})")
        elif isinstance(s, ast.Try | ast.TryStar):
            # Handlers run only when the body raises; statically the body "succeeds".
            self._block(s.body)
            self._block(s.orelse)
            self._block(s.finalbody)
        elif isinstance(s, ast.With):
            for item in s.items:
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, self._unknown(s, "value of a with-statement"))
            self._block(s.body)
        elif isinstance(s, ast.Delete):
            for target in s.targets:
                self._delete(target)
        elif isinstance(s, ast.Raise):
            self.warn(s, "the module raises here when imported; later statements are ignored")
            self.stopped_at = s.lineno
            raise _Stop
        elif isinstance(s, ast.Break):
            raise _Break
        elif isinstance(s, ast.Continue):
            raise _Continue
        elif isinstance(s, ast.Pass | ast.Global | ast.Nonlocal | ast.Assert):
            pass
        else:  # match, async with, return at module level ...
            self._poison([s], f"set by an unsupported {type(s).__name__} statement (line {s.lineno})")

    def _qual(self, name: str) -> str:
        outer = [scope["__qualname__"] for scope in self._scopes if "__qualname__" in scope]
        return ".".join([outer[-1], name]) if outer else name

    def bind(self, name: str, value: Any) -> None:
        if self._scopes:
            self._scopes[-1][name] = value
        else:
            self.namespace[name] = value
            self.name_lines[name] = self._line

    def _for(self, s: ast.For) -> None:
        iterable = self.eval(s.iter)
        items = self._iterate(iterable)
        if items is None:
            self._poison([s], f"set in a loop over a value not known statically (line {s.lineno})")
            return
        try:
            for item in items:
                self.assign(s.target, item)
                try:
                    self._block(s.body)
                except _Continue:
                    continue
                except _Break:
                    break
            else:
                self._block(s.orelse)
        except _Indeterminate:
            self._poison([s], f"set in a loop whose control flow is not known statically (line {s.lineno})")

    def _iterate(self, value: Any) -> list[Any] | None:
        if _size(value) <= MAX_SEQ or isinstance(value, range):
            self.charge(8 * (len(value) if isinstance(value, range) and len(value) <= MAX_SEQ else _size(value)))
        if isinstance(value, dict):
            items = list(value.keys())
        elif isinstance(value, list | tuple | str | range | set | frozenset):
            if len(value) > MAX_SEQ:
                return None
            items = list(value)
        else:
            return None
        return items if len(items) <= MAX_SEQ else None

    def _classdef(self, s: ast.ClassDef) -> None:
        bases = [self.eval(b) for b in s.bases]
        qual = self._qual(s.name)
        scope: dict[str, Any] = {"__qualname__": qual, "__module__": self.module}
        cls = LocalClass(self.module, qual, bases, scope, self.path, s.lineno)
        self._scopes.append(scope)
        try:
            self._block(s.body)
        except (_Stop, _Break, _Continue, _Indeterminate):
            pass
        finally:
            self._scopes.pop()
        scope.pop("__qualname__", None)
        scope.pop("__module__", None)
        self.bind(s.name, cls)

    # ------------------------------------------------------------------ imports
    def _absolute(self, module: str | None, level: int, node: ast.AST) -> str | None:
        if level == 0:
            return module
        package = self.module if self.is_package else self.module.rpartition(".")[0]
        parts = package.split(".") if package else []
        if level - 1 > len(parts) or (level - 1 == len(parts) and not module):
            self.warn(node, "relative import beyond the top package")
            return None
        base = parts[: len(parts) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    def _import(self, s: ast.Import) -> None:
        for alias in s.names:
            if alias.asname:
                self.bind(alias.asname, self._module_value(alias.name, s))
            else:
                top = alias.name.split(".", 1)[0]
                current = (self._scopes[-1] if self._scopes else self.namespace).get(top)
                if not isinstance(current, ConfigModule | ModuleRef):
                    self.bind(top, self._module_value(top, s))
                if "." in alias.name:
                    self._module_value(alias.name, s)  # reads it so its problems are reported

    def _module_value(self, name: str, node: ast.stmt) -> Any:
        if self.hook is not None:
            got = self.hook.import_config(name, node.lineno)
            if got is not None:
                return got
        return ModuleRef(name)

    def _import_from(self, s: ast.ImportFrom) -> None:
        module = self._absolute(s.module, s.level, s)
        if module is None:
            for alias in s.names:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name, self._unknown(s, f"unresolvable relative import of {alias.name}"))
            return
        source = self.hook.import_config(module, s.lineno) if self.hook is not None else None
        for alias in s.names:
            local = alias.asname or alias.name
            if alias.name == "*":
                if isinstance(source, ConfigModule):
                    for k, v in source.namespace.items():
                        if not k.startswith("_"):
                            self.bind(k, self._deepcopy(v))
                else:
                    self.star_imports.append(module)
                continue
            if source is None:
                self.bind(local, Ref(module, alias.name))
            elif isinstance(source, Unknown):
                self.bind(local, source)
            else:
                if alias.name in source.namespace:
                    self.bind(local, self._deepcopy(source.namespace[alias.name]))
                else:
                    sub = self.hook.import_config(f"{module}.{alias.name}", s.lineno) if self.hook else None
                    if isinstance(sub, ConfigModule | Unknown):
                        self.bind(local, sub)
                    else:
                        self.warn(s, f"{module} defines no name {alias.name!r}")
                        self.bind(local, self._unknown(s, f"{module} defines no name {alias.name!r}"))

    # ------------------------------------------------------------------ assignment
    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            key = self.eval(target.slice)
            self._setitem(target, container, key, value)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value)
            if isinstance(obj, LocalClass | ConfigModule):
                obj.namespace[target.attr] = value
        elif isinstance(target, ast.Tuple | ast.List):
            n = len(target.elts)
            if isinstance(value, list | tuple) and len(value) == n and not any(isinstance(e, ast.Starred) for e in target.elts):
                for elt, v in zip(target.elts, value, strict=True):
                    self.assign(elt, v)
            else:
                for elt in target.elts:
                    inner = elt.value if isinstance(elt, ast.Starred) else elt
                    self.assign(inner, self._unknown(target, "unpacking of a value not known statically"))
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value)

    def _setitem(self, node: ast.AST, container: Any, key: Any, value: Any) -> None:
        if isinstance(container, dict):
            if isinstance(key, Unknown):
                self.taint(container, f"a key not known statically is set at line {getattr(node, 'lineno', 0)}")
                return
            try:
                container[key] = value
            except TypeError:
                self.taint(container, f"an unhashable key is set at line {getattr(node, 'lineno', 0)}")
        elif isinstance(container, list):
            if isinstance(key, int) and not isinstance(key, bool) and -len(container) <= key < len(container):
                container[key] = value
            else:
                self.taint(container, f"an element not known statically is set at line {getattr(node, 'lineno', 0)}")

    def _delete(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            scope = self._scopes[-1] if self._scopes else self.namespace
            scope.pop(target.id, None)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            key = self.eval(target.slice)
            if isinstance(container, dict) and not isinstance(key, Unknown):
                try:
                    container.pop(key, None)
                except TypeError:
                    pass
            elif isinstance(container, dict | list):
                self.taint(container, f"an element not known statically is deleted at line {target.lineno}")
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._delete(elt)

    def _poison(self, stmts: list[ast.stmt], reason: str) -> None:
        """Everything these statements could set becomes Unknown; nothing in them is run."""
        for s in stmts:
            for node in ast.walk(s):
                if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        self._poison_target(t, reason)
                elif isinstance(node, ast.For | ast.With):
                    targets = [node.target] if isinstance(node, ast.For) else [i.optional_vars for i in node.items if i.optional_vars]
                    for t in targets:
                        self._poison_target(t, reason)
                elif isinstance(node, ast.Import | ast.ImportFrom):
                    for alias in node.names:
                        if alias.name != "*":
                            name = alias.asname or alias.name.split(".", 1)[0]
                            self.bind(name, Unknown(f"{os.path.basename(self.path)}: {name} {reason}"))
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    self.bind(node.name, Unknown(f"{os.path.basename(self.path)}: {node.name} {reason}"))
                elif isinstance(node, ast.Delete):
                    for t in node.targets:
                        self._poison_target(t, reason)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not _has_call(node.func.value):
                    obj = self.eval(node.func.value)
                    self.taint(obj, f"it may be changed by {node.func.attr}() {reason}")

    def _poison_target(self, t: ast.expr, reason: str) -> None:
        if isinstance(t, ast.Name):
            self.bind(t.id, Unknown(f"{os.path.basename(self.path)}: {t.id} {reason}"))
        elif isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                self._poison_target(e.value if isinstance(e, ast.Starred) else e, reason)
        elif isinstance(t, ast.Subscript) and not _has_call(t):
            container = self.eval(t.value)
            key = self.eval(t.slice)
            if isinstance(container, dict) and not isinstance(key, Unknown):
                try:
                    container[key] = Unknown(f"{os.path.basename(self.path)}: [{key!r}] {reason}")
                    return
                except TypeError:
                    pass
            self.taint(container, reason)

    # ------------------------------------------------------------------ expressions
    def lookup(self, name: str, node: ast.AST) -> Any:
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name]
        if name in self.namespace:
            return self.namespace[name]
        if name.startswith(LAZY_PREFIX) and self.lazy and isinstance(node, ast.Name):
            return self._lazy_value(node, False)
        if name.startswith(ELIDED_PREFIX) and name.endswith("__") and name[len(ELIDED_PREFIX) : -2].isdigit():
            n = int(name[len(ELIDED_PREFIX) : -2])
            self._steps += n  # as the literal list would have counted
            return self._unknown(node, f"list of {n} int literals not read (never needed for tracking)")
        if name in _CONSTANT_NAMES:
            return _CONSTANT_NAMES[name]
        if name in _BUILTIN_NAMES:
            return Builtin(name)
        if self.star_imports:
            return self._unknown(node, f"name {name!r} may come from 'from {self.star_imports[-1]} import *'")
        return self._unknown(node, f"name {name!r} is not defined")

    def eval(self, node: ast.expr, statement: bool = False) -> Any:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise TooComplex(f"more than {MAX_STEPS} evaluation steps")
        t = type(node)  # exact-type checks first: the common nodes of generated configs
        if t is ast.Constant:
            return node.value  # type: ignore[attr-defined]
        if t is ast.Name:
            return self.lookup(node.id, node)  # type: ignore[attr-defined]
        if t is ast.Attribute:
            return self.attribute(self.eval(node.value), node.attr, node)  # type: ignore[attr-defined]
        if t is ast.Dict:
            return self._dict(node)  # type: ignore[arg-type]
        if isinstance(node, ast.List):
            return self._sequence(node, node.elts, list)
        if isinstance(node, ast.Tuple):
            return self._sequence(node, node.elts, tuple)
        if isinstance(node, ast.Set):
            seq = self._sequence(node, node.elts, list)
            return self._try(node, lambda: set(seq)) if isinstance(seq, list) else seq
        if isinstance(node, ast.Dict):
            return self._dict(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.eval(node.value), node.attr, node)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Call):
            return self._call(node, statement)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node, node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            test = self.truth(self.eval(node.test))
            if test is _UNDECIDED:
                return self._unknown(node, "conditional expression on a value not known statically")
            return self.eval(node.body if test else node.orelse)
        if isinstance(node, ast.JoinedStr):
            return self._fstring(node)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return self._comprehension(node)
        if isinstance(node, ast.Lambda):
            return Opaque(f"lambda ({os.path.basename(self.path)}:{node.lineno})")
        if isinstance(node, ast.Slice):
            parts = [self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)]
            if any(isinstance(p, Unknown) for p in parts) or not all(p is None or isinstance(p, int) for p in parts):
                return self._unknown(node, "slice bounds not known statically")
            return slice(*parts)
        if isinstance(node, ast.NamedExpr):
            value = self.eval(node.value)
            self.assign(node.target, value)
            return value
        if isinstance(node, ast.Starred):
            return self.eval(node.value)
        return self._unknown(node, f"{type(node).__name__} expression is not evaluated statically")

    def _try(self, node: ast.AST, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except (ArithmeticError, TypeError, ValueError, KeyError, IndexError, AttributeError, MemoryError, RecursionError) as e:
            return self._unknown(node, f"{type(e).__name__}: {e}")
        self.charge(_weight(result))
        if isinstance(result, str | bytes) and len(result) > MAX_STR:
            return self._unknown(node, "string too large")
        if _size(result) > MAX_SEQ:
            return self._unknown(node, "sequence too large")
        return result

    def _sequence(self, node: ast.AST, elts: list[ast.expr], kind: type) -> Any:
        if all(isinstance(e, ast.Constant) for e in elts):  # fast path: generated seed lists
            self._steps += len(elts)
            values = [e.value for e in elts]  # type: ignore[attr-defined]
            return values if kind is list else tuple(values)
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                items = self._iterate(self.eval(e.value))
                if items is None:
                    return self._unknown(node, "unpacking of a value not known statically")
                out.extend(items)
                if len(out) > MAX_SEQ:
                    return self._unknown(node, "sequence too large")
            else:
                out.append(self.eval(e))
        return out if kind is list else tuple(out)

    def _dict(self, node: ast.Dict) -> Any:
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                other = self.eval(v)
                if isinstance(other, dict):
                    self.charge(_weight(other))
                    out.update(copy.copy(other))
                else:
                    self.taint(out, f"'**' of a value not known statically at line {node.lineno}")
                continue
            key = self.eval(k)
            if type(v) is ast.Name and self.lazy and v.id.startswith(LAZY_PREFIX):  # type: ignore[attr-defined]
                value = self._lazy_value(v, True)  # type: ignore[arg-type]
            else:
                value = self.eval(v)
            if isinstance(key, Unknown):
                self.taint(out, f"a key not known statically at line {node.lineno}")
                continue
            try:
                out[key] = value
            except TypeError:
                self.taint(out, f"an unhashable key at line {node.lineno}")
        return out

    def attribute(self, obj: Any, attr: str, node: ast.AST) -> Any:
        if isinstance(obj, Ref | ModuleRef):
            if isinstance(obj, ModuleRef) and self.hook is not None:
                got = self.hook.import_config(f"{obj.name}.{attr}", getattr(node, "lineno", 0))
                if got is not None:
                    return got
            return obj.attr(attr)
        if isinstance(obj, ConfigModule):
            if attr in obj.namespace:
                return self._deepcopy(obj.namespace[attr])
            if self.hook is not None:
                got = self.hook.import_config(f"{obj.name}.{attr}", getattr(node, "lineno", 0))
                if got is not None:
                    return got
            return self._unknown(node, f"{obj.name} defines no name {attr!r}")
        if isinstance(obj, LocalClass):
            if attr in obj.namespace:
                return obj.namespace[attr]
            return ClassAttr(obj, attr)
        if isinstance(obj, Unknown):
            return obj
        return _BoundMethod(obj, attr)

    def _subscript(self, node: ast.Subscript) -> Any:
        container = self.eval(node.value)
        key = self.eval(node.slice)
        if isinstance(container, Unknown):
            return container
        if isinstance(key, Unknown):
            return self._unknown(node, "subscript with a key not known statically")
        if isinstance(container, dict):
            try:
                if key in container:
                    return force_slot(container, key)
            except TypeError:
                pass
            reason = self.taint_reason(container)
            return self._unknown(node, f"key {key!r} is not set" + (f" ({reason})" if reason else ""))
        if isinstance(container, list | tuple | str | range | bytes):
            return self._try(node, lambda: container[key])
        return self._unknown(node, f"subscript of a {type(container).__name__} value")

    def truth(self, value: Any) -> Any:
        if isinstance(value, _PLAIN + (list, tuple, dict, set, frozenset, range)):
            return bool(value)
        if isinstance(value, Ref | ModuleRef):
            if value.dotted in ("typing.TYPE_CHECKING", "TYPE_CHECKING"):
                return False
            return _UNDECIDED
        if isinstance(value, LocalClass | ConfigModule | Opaque):
            return True
        return _UNDECIDED

    def _unary(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            t = self.truth(value)
            return self._unknown(node, "'not' of a value not known statically") if t is _UNDECIDED else not t
        if not isinstance(value, int | float | complex):
            return value if isinstance(value, Unknown) else self._unknown(node, "unary operator on a non-number")
        ops: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
        return self._try(node, lambda: ops[type(node.op)](value))

    def _binop(self, node: ast.AST, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        self.charge(_SCAN * (_size(left) + _size(right)))  # the plainness walk
        if not (is_plain(left) or isinstance(left, list | tuple | dict)) or not (
            is_plain(right) or isinstance(right, list | tuple | dict)
        ):
            return self._unknown(node, "operator on symbolic values")
        fn = _BINOPS.get(type(op))
        if fn is None:
            return self._unknown(node, f"operator {type(op).__name__}")
        too_large = _binop_too_large(op, left, right)
        if too_large is not None:
            return self._unknown(node, too_large)
        if isinstance(left, int) and isinstance(right, int):
            if isinstance(op, ast.Pow) and right > 1:
                self.charge(int_cost(1 << min(_int_bits(left) * right, MAX_INT_BITS)))
            elif not isinstance(op, ast.Add | ast.Sub | ast.LShift | ast.RShift | ast.BitOr | ast.BitAnd | ast.BitXor):
                self.charge(int_cost(left, right))
        elif isinstance(op, ast.Mod) and isinstance(left, str):
            self.charge(_args_int_cost(right))
        return self._try(node, lambda: fn(left, right))

    def _boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for v in node.values:
            value = self.eval(v)
            t = self.truth(value)
            if t is _UNDECIDED:
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
                self.charge(_SCAN * (_size(left) + _size(right)))  # the plainness walk and the scan
                if not (is_plain(left) or isinstance(left, list | tuple | dict)) or not (
                    is_plain(right) or isinstance(right, list | tuple | dict)
                ):
                    return self._unknown(node, "comparison of symbolic values")
                cmp, lhs, rhs = _CMPOPS[type(op)], left, right
                result = self._try(node, lambda: cmp(lhs, rhs))  # noqa: B023 - called at once
                if isinstance(result, Unknown):
                    return result
            if not result:
                return False
            left = right
        return True

    def _fstring(self, node: ast.JoinedStr) -> Any:
        parts: list[str] = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            assert isinstance(v, ast.FormattedValue)
            value = self.eval(v.value)
            spec = self.eval(v.format_spec) if v.format_spec is not None else ""
            self.charge(_SCAN * _size(value) + int_cost(value))  # the plainness walk, a big number's digits
            if not is_plain(value) or not isinstance(spec, str) or _WIDE_FORMAT.search(spec):
                return self._unknown(node, "f-string of a value not known statically")
            if deep_size(value, MAX_STR) > MAX_STR:
                return self._unknown(node, "f-string result too large")
            convs: dict[int, Callable[[Any], str]] = {115: str, 114: repr, 97: ascii}
            conv = convs.get(v.conversion)
            if conv is not None:
                value = conv(value)
            shown, fmt = value, spec
            formatted = self._try(node, lambda: format(shown, fmt))  # noqa: B023 - called at once
            if isinstance(formatted, Unknown):
                return formatted
            parts.append(formatted)
        return "".join(parts)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> Any:
        results: list[Any] = []
        scope: dict[str, Any] = {}
        self._scopes.append(scope)
        try:
            ok = self._comp_level(node, node.generators, 0, results)
        finally:
            self._scopes.pop()
        if not ok:
            return self._unknown(node, "comprehension over values not known statically")
        if isinstance(node, ast.DictComp):
            out: dict[Any, Any] = {}
            for k, v in results:
                if isinstance(k, Unknown):
                    return self._unknown(node, "comprehension key not known statically")
                key, val = k, v
                r = self._try(node, lambda: out.__setitem__(key, val))  # noqa: B023 - called at once
                if isinstance(r, Unknown):
                    return r
            return out
        if isinstance(node, ast.SetComp):
            return self._try(node, lambda: set(results))
        return results

    def _comp_level(self, node: Any, gens: list[ast.comprehension], i: int, out: list[Any]) -> bool:
        if i == len(gens):
            if isinstance(node, ast.DictComp):
                out.append((self.eval(node.key), self.eval(node.value)))
            else:
                out.append(self.eval(node.elt))
            return len(out) <= MAX_SEQ
        gen = gens[i]
        items = self._iterate(self.eval(gen.iter))
        if items is None or gen.is_async:
            return False
        for item in items:
            self.assign(gen.target, item)
            keep = True
            for cond in gen.ifs:
                t = self.truth(self.eval(cond))
                if t is _UNDECIDED:
                    return False
                if not t:
                    keep = False
                    break
            if keep and not self._comp_level(node, gens, i + 1, out):
                return False
        return True

    # ------------------------------------------------------------------ calls
    def _call(self, node: ast.Call, statement: bool) -> Any:
        func = self.eval(node.func)
        args: list[Any] = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                items = self._iterate(self.eval(a.value))
                if items is None:
                    return self._opaque_call(node, func, [self._unknown(a, "*args not known statically")], {})
                args.extend(items)
            else:
                args.append(self.eval(a))
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            value = self.eval(kw.value)
            if kw.arg is None:
                if isinstance(value, dict) and all(isinstance(k, str) for k in value):
                    kwargs.update(value)
                else:
                    kwargs["**"] = self._unknown(kw, "**kwargs not known statically")
            else:
                kwargs[kw.arg] = value
        if isinstance(func, _BoundMethod):
            return self._method(node, func, args, kwargs)
        if isinstance(func, Builtin):
            return self._builtin(node, func.name, args, kwargs)
        name = dotted_name(func) if isinstance(func, Ref | ModuleRef) else None
        if name is not None:
            handled = self._known_function(node, name, args, kwargs)
            if handled is not MISSING:
                return handled
        if isinstance(func, Unknown):
            return func
        return self._opaque_call(node, func, args, kwargs)

    def _opaque_call(self, node: ast.Call, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Call:
        return Call(func, args, kwargs, node.lineno)

    def _known_function(self, node: ast.Call, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if name in ("copy.deepcopy", "copy.copy") and len(args) == 1 and not kwargs:
            if name == "copy.copy":
                self.charge(_weight(args[0]))
                return copy.copy(args[0])
            return self._deepcopy(args[0])
        if name in ("sys.exit", "exit", "quit", "os._exit"):
            self.warn(node, f"the module calls {name}() when imported; later statements are ignored")
            raise _Stop
        pathfns: dict[str, Callable[..., Any]] = {
            "os.path.join": os.path.join, "os.path.basename": os.path.basename,
            "os.path.dirname": os.path.dirname, "os.path.splitext": os.path.splitext,
            "os.path.normpath": os.path.normpath,
        }
        if name in pathfns:
            if kwargs or not all(isinstance(a, str) for a in args):
                return self._unknown(node, f"{name} of values not known statically")
            return self._try(node, lambda: pathfns[name](*args))
        return MISSING

    def _builtin(self, node: ast.Call, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if name == "print":
            return None
        if any(isinstance(a, Unknown) for a in args):
            return next(a for a in args if isinstance(a, Unknown))
        if name == "dict":
            if len(args) > 1:
                return self._unknown(node, "dict() with several arguments")
            base = args[0] if args else {}
            if isinstance(base, dict):
                self.charge(_weight(base))
                out = dict(base)
            else:
                pairs = self._iterate(base)
                if pairs is None:
                    return self._unknown(node, "dict() of a value not known statically")
                out = self._try(node, lambda: dict(pairs))
                if isinstance(out, Unknown):
                    return out
            out.update(kwargs)
            return out
        if name in ("list", "tuple", "set", "frozenset", "sorted", "reversed"):
            if kwargs and name != "sorted":
                return self._unknown(node, f"{name}() with keyword arguments")
            if not args:
                return {"list": [], "tuple": (), "set": set(), "frozenset": frozenset(), "sorted": []}.get(name, [])
            items = self._iterate(args[0])
            if items is None:
                return self._unknown(node, f"{name}() of a value not known statically")
            if name == "sorted":
                if set(kwargs) - {"reverse"} or not is_plain(items):
                    return self._unknown(node, "sorted() with a key function or symbolic values")
                return self._try(node, lambda: sorted(items, reverse=bool(kwargs.get("reverse", False))))
            conv: dict[str, Callable[[list[Any]], Any]] = {
                "list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "reversed": lambda x: list(reversed(x)),
            }
            return self._try(node, lambda: conv[name](items))
        if name == "range":
            if kwargs or not all(isinstance(a, int) for a in args) or not 1 <= len(args) <= 3:
                return self._unknown(node, "range() of values not known statically")
            r = self._try(node, lambda: range(*args))
            if isinstance(r, range) and len(r) > MAX_SEQ:
                return self._unknown(node, "range too large")
            return r
        if name in ("zip", "enumerate"):
            seqs = [self._iterate(a) if not isinstance(a, int) else a for a in args]
            if any(s is None for s in seqs) or (set(kwargs) - {"start", "strict"}):
                return self._unknown(node, f"{name}() of values not known statically")
            pair_fn: Callable[..., Any] = zip if name == "zip" else enumerate
            return self._try(node, lambda: list(pair_fn(*seqs, **kwargs)))
        self.charge(_SCAN * sum(_size(a) for a in args))  # the plainness walk
        if not is_plain(args) or not is_plain(kwargs):
            return self._unknown(node, f"{name}() of symbolic values")
        simple: dict[str, Callable[..., Any]] = {
            "int": int, "float": float, "str": str, "bool": bool, "len": len, "sum": sum, "min": min,
            "max": max, "abs": abs, "round": round, "any": any, "all": all,
        }
        fn = simple[name]
        if name in ("int", "str") and args and isinstance(args[0], str) and len(args[0]) > 4300:
            return self._unknown(node, f"{name}() of a very long string")
        if name in ("int", "str", "float", "round") and args:
            self.charge(int_cost(args[0]) + (len(args[0]) ** 2 // 400 if isinstance(args[0], str) and name == "int" and len(args[0]) > 256 else 0))
        if name == "str" and args and deep_size(args[0], MAX_STR) > MAX_STR:
            return self._unknown(node, "str() result too large")
        if name == "sum":  # numbers only: sum(lists, []) is quadratic and unbounded
            items, start = (args[0] if args else None), (args[1] if len(args) > 1 else kwargs.get("start", 0))
            numbers = isinstance(items, list | tuple | set | frozenset) and all(isinstance(x, int | float | complex) for x in items)
            if not numbers or not isinstance(start, int | float | complex):
                return self._unknown(node, "sum() of values that are not numbers")
        return self._try(node, lambda: fn(*args, **kwargs))

    def _method(self, node: ast.Call, m: _BoundMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
        obj, name = m.obj, m.name
        if isinstance(obj, dict):
            if name == "update":
                if len(args) > 1:
                    return None
                if args:
                    other = args[0]
                    if isinstance(other, dict):
                        self.charge(_weight(other))
                        obj.update(other)
                    elif isinstance(other, Unknown):
                        self.taint(obj, f"update() with a value not known statically at line {node.lineno} ({other.reason})")
                        self.warn(node, f"update() with a value not known statically: {other.reason}")
                    else:
                        pairs = self._iterate(other)
                        if pairs is None or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
                            self.taint(obj, f"update() with a value not known statically at line {node.lineno}")
                        else:
                            for k, v in pairs:
                                self._setitem(node, obj, k, v)
                obj.update(kwargs)
                return None
            if name == "copy" and not args:
                self.charge(_weight(obj))
                return dict(obj)
            if name in ("get", "pop", "setdefault") and args:
                key = args[0]
                if isinstance(key, Unknown):
                    self.taint(obj, f"{name}() with a key not known statically") if name != "get" else None
                    return key
                default = args[1] if len(args) > 1 else None
                try:
                    if name in ("get", "setdefault") and key in obj:
                        return force_slot(obj, key)
                    if name == "get":
                        return default
                    if name == "setdefault":
                        return obj.setdefault(key, default)
                    if len(args) > 1 or key in obj:
                        got = obj.pop(key, default)
                        return got.force() if type(got) is Lazy else got
                except TypeError:
                    pass
                return self._unknown(node, f"{name}({key!r}) of a missing key")
            if name in ("keys", "values", "items") and not args:
                self.charge(_weight(obj))
                return list(getattr(force_values(obj) if name != "keys" else obj, name)())
            if name == "clear":
                obj.clear()
                return None
        if isinstance(obj, list):
            if name == "append" and len(args) == 1:
                if len(obj) >= MAX_SEQ:
                    return self._unknown(node, "list too large")
                obj.append(args[0])
                return None
            if name == "extend" and len(args) == 1:
                items = self._iterate(args[0])
                if items is None or len(obj) + len(items) > MAX_SEQ:
                    self.taint(obj, f"extend() with a value not known statically at line {node.lineno}")
                    return None
                obj.extend(items)
                return None
            if name == "insert" and len(args) == 2 and isinstance(args[0], int):
                if len(obj) >= MAX_SEQ:
                    return self._unknown(node, "list too large")
                self.charge(8 * len(obj))
                obj.insert(args[0], args[1])
                return None
            if name == "copy" and not args:
                self.charge(_weight(obj))
                return list(obj)
            if name in ("pop", "remove"):
                self.charge(8 * len(obj))
            if name == "pop" and len(args) <= 1:
                return self._try(node, lambda: obj.pop(*args))
            if name == "remove" and len(args) == 1:
                return self._try(node, lambda: obj.remove(args[0]))
        if isinstance(obj, str) and (self.charge(_SCAN * sum(_size(a) for a in args)) or True) and is_plain(args) and is_plain(kwargs):
            if name == "format":
                if _WIDE_FORMAT.search(obj):
                    return self._unknown(node, "format width too large")
                if _FORMAT_NESTED.search(obj) or _format_bound(obj, args, kwargs) > MAX_STR:
                    return self._unknown(node, "format result too large (or width from an argument)")
                self.charge(_args_int_cost(args) + _args_int_cost(kwargs))
                return self._try(node, lambda: obj.format(*args, **kwargs))
            if name in _STR_METHODS:
                bound = _str_method_bound(obj, name, args, kwargs)
                if bound is None or bound > MAX_STR:
                    return self._unknown(node, f"{name}() result too large")
                self.charge(len(obj))  # the scan itself
                return self._try(node, lambda: getattr(obj, name)(*args, **kwargs))
        if isinstance(obj, dict | list):
            self.taint(obj, f"{name}() at line {node.lineno} is not evaluated statically")
        if isinstance(obj, Unknown):
            return obj
        return self._unknown(node, f"method {name}() of a {type(obj).__name__} value is not evaluated statically")


_STR_METHODS = {
    "join", "replace", "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "startswith",
    "endswith", "title", "capitalize", "removeprefix", "removesuffix", "zfill",
}


def _binop_too_large(op: ast.operator, left: Any, right: Any) -> str | None:
    """Why ``left op right`` would be over a size budget, computed from both operands before
    the operation runs (no 10**10**9, no (10**9999)**9999, no [0] * 10**9, no '%*d' % (10**9, 1))."""
    t = type(op)
    if t is ast.Pow:
        if isinstance(right, int | float) and abs(right) > 10_000:
            return "exponent too large"
        if isinstance(left, int) and isinstance(right, int) and right > 0 and max(_int_bits(left) - 1, 1) * right > MAX_INT_BITS and abs(left) > 1:
            return "power too large"
    elif t is ast.LShift:
        if isinstance(left, int) and isinstance(right, int) and left and _int_bits(left) + right > MAX_INT_BITS:
            return "shift too large"
    elif t is ast.Mult:
        if isinstance(left, int) and isinstance(right, int) and _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            return "product too large"
        for seq, n in ((left, right), (right, left)):
            if _size(seq) and isinstance(n, int) and _size(seq) * n > MAX_SEQ:
                return "sequence too large"
    elif t is ast.Add:
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            limit = MAX_STR if isinstance(left, str | bytes) else MAX_SEQ
            if _size(left) + _size(right) > limit:
                return "sequence too large"
    elif t is ast.Mod and isinstance(left, str | bytes):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        if _WIDE_FORMAT.search(text):
            return "format width too large"
        if _percent_bound(text, right) > MAX_STR:
            return "format result too large (or width from an argument)"
    return None


def _percent_bound(fmt: str, args: Any) -> int:
    """An upper bound of the length of ``fmt % args`` (huge when a width comes from an argument)."""
    total = len(fmt)
    for m in _PERCENT_SPEC.finditer(fmt):
        width, precision = m.group(1), m.group(2)
        if width == "*" or precision == "*":
            return MAX_STR + 1
        total += int(width or 0) + int(precision or 0)
    return total + deep_size(args, MAX_STR) * 4  # repr/ascii of an argument: at most 4 chars per char (\x..)


def _format_bound(fmt: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    """An upper bound of the length of ``fmt.format(*args, **kwargs)``: widths plus arguments."""
    total = len(fmt)
    for field in _FORMAT_FIELD.findall(fmt):
        total += sum(int(d) for d in _DIGITS.findall(field))
    n_fields = fmt.count("{")
    return total + deep_size([args, kwargs], MAX_STR) * 4 * max(n_fields, 1)


def _str_method_bound(s: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> int | None:
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


class _BoundMethod:
    """``obj.name`` before the call: lets ``config.update(x)`` mutate the real dict."""

    __slots__ = ("name", "obj")

    def __init__(self, obj: Any, name: str) -> None:
        self.obj = obj
        self.name = name

    def __deepcopy__(self, memo: dict[int, Any]) -> _BoundMethod:
        return self


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))
