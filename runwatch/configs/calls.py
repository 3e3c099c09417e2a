"""Calls: the pure helpers and builtins computed on plain data, methods that mutate, the rest opaque."""

from __future__ import annotations

import ast
import copy
import os.path
from collections.abc import Callable
from typing import Any

from runwatch.configs.bounds import FORMAT_NESTED, WIDE_FORMAT, format_bound, str_method_bound
from runwatch.configs.budgets import MAX_SEQ, MAX_STR, SCAN, args_int_cost, comparison_too_big, deep_size, int_cost, is_plain, seq_len, size_of, weight
from runwatch.configs.builtin_names import STR_METHODS, BoundMethod, Builtin
from runwatch.configs.core import EvaluatorCore
from runwatch.configs.signals import MISSING, Stop
from runwatch.configs.values import Call, HugeRange, Lazy, ModuleRef, Ref, Unknown, dotted_name, force_slot, force_values


class Calls(EvaluatorCore):
    """``f(...)``: what a call evaluates to."""

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
        if isinstance(func, BoundMethod):
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
                self.charge(weight(args[0]))
                return copy.copy(args[0])
            return self._deepcopy(args[0])
        if name in ("sys.exit", "exit", "quit", "os._exit"):
            self.warn(node, f"the module calls {name}() when imported; later statements are ignored")
            raise Stop
        pathfns: dict[str, Callable[..., Any]] = {
            "os.path.join": os.path.join,
            "os.path.basename": os.path.basename,
            "os.path.dirname": os.path.dirname,
            "os.path.splitext": os.path.splitext,
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
        if name == "len" and len(args) == 1 and not kwargs and isinstance(args[0], HugeRange):
            big = args[0].range
            return self._try(node, lambda: len(big))  # Python's answer: the length, or OverflowError
        if any(isinstance(a, Unknown) for a in args):
            return next(a for a in args if isinstance(a, Unknown))
        if name == "dict":
            if len(args) > 1:
                return self._unknown(node, "dict() with several arguments")
            base = args[0] if args else {}
            if isinstance(base, dict):
                self.charge(weight(base))
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
            seq = self._iterate(args[0])
            if seq is None:
                return self._unknown(node, f"{name}() of a value not known statically")
            if name == "sorted":
                if set(kwargs) - {"reverse"} or not is_plain(seq):
                    return self._unknown(node, "sorted() with a key function or symbolic values")
                if comparison_too_big(seq):
                    return self._unknown(node, "sorted() of containers too large to compare")
                return self._try(node, lambda: sorted(seq, reverse=bool(kwargs.get("reverse", False))))
            conv: dict[str, Callable[[list[Any]], Any]] = {
                "list": list,
                "tuple": tuple,
                "set": set,
                "frozenset": frozenset,
                "reversed": lambda x: list(reversed(x)),
            }
            return self._try(node, lambda: conv[name](seq))
        if name == "range":
            if kwargs or not all(isinstance(a, int) for a in args) or not 1 <= len(args) <= 3:
                return self._unknown(node, "range() of values not known statically")
            r = self._try(node, lambda: range(*args))
            if isinstance(r, range) and seq_len(r) > MAX_SEQ:
                return HugeRange(self._unknown(node, "range too large").reason, r)
            return r
        if name in ("zip", "enumerate"):
            seqs = [self._iterate(a) if not isinstance(a, int) else a for a in args]
            if any(s is None for s in seqs) or (set(kwargs) - {"start", "strict"}):
                return self._unknown(node, f"{name}() of values not known statically")
            pair_fn: Callable[..., Any] = zip if name == "zip" else enumerate
            return self._try(node, lambda: list(pair_fn(*seqs, **kwargs)))
        self.charge(SCAN * sum(size_of(a) for a in args))  # the plainness walk
        if not is_plain(args) or not is_plain(kwargs):
            return self._unknown(node, f"{name}() of symbolic values")
        simple: dict[str, Callable[..., Any]] = {
            "int": int,
            "float": float,
            "str": str,
            "bool": bool,
            "len": len,
            "sum": sum,
            "min": min,
            "max": max,
            "abs": abs,
            "round": round,
            "any": any,
            "all": all,
        }
        fn = simple[name]
        if name in ("min", "max") and comparison_too_big(args[0] if len(args) == 1 else args):
            return self._unknown(node, f"{name}() of containers too large to compare")
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

    def _method(self, node: ast.Call, m: BoundMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
        obj, name = m.obj, m.name
        if isinstance(obj, dict):
            if name == "update":
                if len(args) > 1:
                    return None
                if args:
                    other = args[0]
                    if isinstance(other, dict):
                        self.charge(weight(other))
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
                self.charge(weight(obj))
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
                self.charge(weight(obj))
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
                self.charge(weight(obj))
                return list(obj)
            if name in ("pop", "remove"):
                self.charge(8 * len(obj))
            if name == "pop" and len(args) <= 1:
                return self._try(node, lambda: obj.pop(*args))
            if name == "remove" and len(args) == 1:
                return self._try(node, lambda: obj.remove(args[0]))
        if isinstance(obj, str):
            self.charge(SCAN * sum(size_of(a) for a in args))
        if isinstance(obj, str) and is_plain(args) and is_plain(kwargs):
            if name == "format":
                if WIDE_FORMAT.search(obj):
                    return self._unknown(node, "format width too large")
                if FORMAT_NESTED.search(obj) or format_bound(obj, args, kwargs) > MAX_STR:
                    return self._unknown(node, "format result too large (or width from an argument)")
                self.charge(args_int_cost(args) + args_int_cost(kwargs))
                return self._try(node, lambda: obj.format(*args, **kwargs))
            if name in STR_METHODS:
                bound = str_method_bound(obj, name, args, kwargs)
                if bound is None or bound > MAX_STR:
                    return self._unknown(node, f"{name}() result too large")
                self.charge(len(obj))  # the scan itself
                return self._try(node, lambda: getattr(obj, name)(*args, **kwargs))
        if isinstance(obj, dict | list):
            self.taint(obj, f"{name}() at line {node.lineno} is not evaluated statically")
        if isinstance(obj, Unknown):
            return obj
        return self._unknown(node, f"method {name}() of a {type(obj).__name__} value is not evaluated statically")
