"""Statements: assignment, imports, branches, loops, classes, and poisoning what cannot be decided."""

from __future__ import annotations

import ast
import builtins
import os.path
from collections.abc import Iterable
from typing import Any

from runwatch.configs.budgets import TooComplex
from runwatch.configs.core import EvaluatorCore
from runwatch.configs.signals import UNDECIDED, Break, Continue, Indeterminate, Raised, Stop
from runwatch.configs.values import ConfigModule, LocalClass, ModuleRef, Opaque, Ref, Unknown


class Statements(EvaluatorCore):
    """Module-level statements and class bodies (run, bind, assign, poison)."""

    def run_bounded(self, tree: ast.Module) -> dict[str, Any]:
        """``run``, but a file over its budget keeps what it set before the statement that
        went over: that statement and every later one are not read (what they assign is
        unknown), with a warning naming the file and line."""
        body = tree.body
        i = 0
        try:
            for i, stmt in enumerate(body):  # noqa: B007 - i is read after the loop
                self._stmt(stmt)
        except (Stop, Break, Continue, Indeterminate):
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
        except Stop:
            pass
        except (Break, Continue, Indeterminate):
            pass
        finally:
            self.finished = True
        return self.namespace

    def _block(self, stmts: Iterable[ast.stmt]) -> None:
        for stmt in stmts:
            self._stmt(stmt)

    def _stmt(self, s: ast.stmt) -> None:
        self._tick()
        self._line = s.lineno
        if isinstance(s, ast.Assign):
            value = self.eval_move(s.value)
            for target in s.targets:
                self.assign(target, value)
        elif isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.assign(s.target, self.eval_move(s.value))
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
            if test is UNDECIDED:
                self._poison(s.body + s.orelse, f"set under a condition that cannot be decided statically (line {s.lineno})")
            else:
                self._block(s.body if test else s.orelse)
        elif isinstance(s, ast.For):
            self._for(s)
        elif isinstance(s, ast.While):
            self._poison([s], f"set in a while loop (line {s.lineno})")
        elif isinstance(s, ast.Try | ast.TryStar):
            self._try_statement(s)
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
            raise Stop
        elif isinstance(s, ast.Break):
            raise Break
        elif isinstance(s, ast.Continue):
            raise Continue
        elif isinstance(s, ast.Pass | ast.Global | ast.Nonlocal | ast.Assert):
            pass
        else:  # match, async with, return at module level ...
            self._poison([s], f"set by an unsupported {type(s).__name__} statement (line {s.lineno})")

    def _try_statement(self, s: ast.Try | ast.TryStar) -> None:
        """The body; when a statement in it raises a Python exception (``len(range(10 ** 30))``:
        OverflowError), the handler Python would run, as Python would."""
        self._in_try += 1
        try:
            try:
                self._block(s.body)
            finally:
                self._in_try -= 1
        except Raised as r:
            handler = self._handler_for(s, r.exc)
            if handler is None:  # no handler takes it: it goes on up, as in Python
                self._block(s.finalbody)
                if self._in_try:
                    raise
                self.warn(s, f"raises {type(r.exc).__name__} here when imported ({str(r.exc)[:100]}); later statements are ignored")
                self.stopped_at = s.lineno
                raise Stop from None
            if handler is UNDECIDED:
                self._poison(
                    [*(h for hd in s.handlers for h in hd.body)], f"set in an except clause whose exception type is not known statically (line {s.lineno})"
                )
            else:
                if handler.name:
                    self.bind(handler.name, Opaque(f"{type(r.exc).__name__} caught at line {handler.lineno}"))
                self._block(handler.body)
        else:
            self._block(s.orelse)
        self._block(s.finalbody)

    def _handler_for(self, s: ast.Try | ast.TryStar, exc: BaseException) -> Any:
        """The handler of ``s`` that takes ``exc``; None when none does; UNDECIDED when a type is not a builtin exception."""
        for h in s.handlers:
            if h.type is None:
                return h
            names = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
            for n in names:
                cls = getattr(builtins, n.id, None) if isinstance(n, ast.Name) and n.id not in self.namespace else None
                if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                    return UNDECIDED
                if isinstance(exc, cls):
                    return h
        return None

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
                except Continue:
                    continue
                except Break:
                    break
            else:
                self._block(s.orelse)
        except Indeterminate:
            self._poison([s], f"set in a loop whose control flow is not known statically (line {s.lineno})")

    def _classdef(self, s: ast.ClassDef) -> None:
        bases = [self.eval(b) for b in s.bases]
        qual = self._qual(s.name)
        scope: dict[str, Any] = {"__qualname__": qual, "__module__": self.module}
        cls = LocalClass(self.module, qual, bases, scope, self.path, s.lineno)
        self._scopes.append(scope)
        try:
            self._block(s.body)
        except (Stop, Break, Continue, Indeterminate):
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
            self.put_key(container, key, value, f"is set at line {getattr(node, 'lineno', 0)}")
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
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not has_call(node.func.value):
                    obj = self.eval(node.func.value)
                    self.taint(obj, f"it may be changed by {node.func.attr}() {reason}")

    def _poison_target(self, t: ast.expr, reason: str) -> None:
        if isinstance(t, ast.Name):
            self.bind(t.id, Unknown(f"{os.path.basename(self.path)}: {t.id} {reason}"))
        elif isinstance(t, ast.Tuple | ast.List):
            for e in t.elts:
                self._poison_target(e.value if isinstance(e, ast.Starred) else e, reason)
        elif isinstance(t, ast.Subscript) and not has_call(t):
            container = self.eval(t.value)
            key = self.eval(t.slice)
            if isinstance(container, dict) and not isinstance(key, Unknown):
                try:
                    container[key] = Unknown(f"{os.path.basename(self.path)}: [{key!r}] {reason}")
                    return
                except TypeError:
                    pass
            self.taint(container, reason)


def has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))
