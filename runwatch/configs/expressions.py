"""Expressions: names, containers, subscripts, f-strings, comprehensions, deferred dict values."""

from __future__ import annotations

import ast
import copy
import os.path
from collections.abc import Callable
from typing import Any

from runwatch.configs.bounds import WIDE_FORMAT
from runwatch.configs.budgets import (
    MAX_SEQ,
    MAX_STEPS,
    MAX_STR,
    PLAIN,
    SCAN,
    TooComplex,
    deep_size,
    int_cost,
    is_plain,
    size_of,
    weight,
)
from runwatch.configs.builtin_names import BUILTIN_NAMES, CONSTANT_NAMES, BoundMethod, Builtin
from runwatch.configs.core import EvaluatorCore
from runwatch.configs.signals import UNDECIDED
from runwatch.configs.source_prep import ELIDED_PREFIX, LAZY_PREFIX
from runwatch.configs.values import (
    ClassAttr,
    ConfigModule,
    ElidedList,
    Lazy,
    LocalClass,
    ModuleRef,
    Opaque,
    Ref,
    Unknown,
    force_slot,
)


class Expressions(EvaluatorCore):
    """Evaluation of one expression node into a value (plain data, symbolic, or Unknown)."""

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
            elif name in BUILTIN_NAMES:
                v = Builtin(name)
            else:
                return None  # undefined now: its Unknown's reason depends on the moment
            if isinstance(v, PLAIN + (Ref, Builtin, Opaque, Unknown, ClassAttr)):
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

    def lookup(self, name: str, node: ast.AST) -> Any:
        for scope in reversed(self._scopes):
            if name in scope:
                return scope[name]
        if name in self.namespace:
            return self.namespace[name]
        if name.startswith(LAZY_PREFIX) and self.lazy and isinstance(node, ast.Name):
            return self._lazy_value(node, False)
        if name.startswith(ELIDED_PREFIX) and name.endswith("__"):
            n_k = name[len(ELIDED_PREFIX) : -2].split("_")
            if len(n_k) == 2 and n_k[0].isdigit() and n_k[1].isdigit():
                n, k = int(n_k[0]), int(n_k[1])
                self._steps += n  # as the literal list would have counted
                why = self._unknown(node, f"list of {n} int literals not read (never needed for tracking)").reason
                return ElidedList(why, self.elided_texts[k] if k < len(self.elided_texts) else None)
        if name in CONSTANT_NAMES:
            return CONSTANT_NAMES[name]
        if name in BUILTIN_NAMES:
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
            if test is UNDECIDED:
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

    # ``eval`` of a value that is only stored (an assignment's value, a dict or list display's
    # element), never an operand: ``ElidedUses`` counts elided lists met anywhere else.
    eval_move = eval

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
                out.append(self.eval_move(e))
        return out if kind is list else tuple(out)

    def _dict(self, node: ast.Dict) -> Any:
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                other = self.eval(v)
                if isinstance(other, dict):
                    self.charge(weight(other))
                    out.update(copy.copy(other))
                else:
                    self.taint(out, f"'**' of a value not known statically at line {node.lineno}")
                continue
            key = self.eval(k)
            if type(v) is ast.Name and self.lazy and v.id.startswith(LAZY_PREFIX):
                value = self._lazy_value(v, True)
            else:
                value = self.eval_move(v)
            self.put_key(out, key, value, f"at line {node.lineno}")
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
        return BoundMethod(obj, attr)

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

    def _fstring(self, node: ast.JoinedStr) -> Any:
        parts: list[str] = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            assert isinstance(v, ast.FormattedValue)
            value = self.eval(v.value)
            spec = self.eval(v.format_spec) if v.format_spec is not None else ""
            self.charge(SCAN * size_of(value) + int_cost(value))  # the plainness walk, a big number's digits
            if not is_plain(value) or not isinstance(spec, str) or WIDE_FORMAT.search(spec):
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
                if t is UNDECIDED:
                    return False
                if not t:
                    keep = False
                    break
            if keep and not self._comp_level(node, gens, i + 1, out):
                return False
        return True
