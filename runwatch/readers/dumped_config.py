"""A config a framework dumped as Python source (MMEngine's ``work_dirs/<cfg>/<cfg>.py``), read as data.

MMEngine's ``Config.dump`` writes every key of the final config as ``name = <literal>``, where a literal
is made of constants, ``dict(key=...)`` calls, dict/list/tuple displays and names assigned above. This
parses the source with ``ast`` (never runs it) and evaluates just those forms; a value made of anything
else (a call, an attribute, an import) is left out, so a hand-edited file yields what can be known.
Bounded: the file's size, the nesting depth and the number of nodes evaluated.
"""

from __future__ import annotations

import ast
from typing import Any

from runwatch.readers.safe_open import FileTooLarge, NotRegularFile, read_regular

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


class _Unknown(Exception):
    pass


class _Eval:
    def __init__(self) -> None:
        self.names: dict[str, Any] = {}
        self.nodes = 0

    def value(self, node: ast.AST, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise _Unknown
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise _Unknown
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = self.value(node.operand, depth + 1)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return -v if isinstance(node.op, ast.USub) else v
            raise _Unknown
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = [self.value(e, depth + 1) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values):
                if k is None:
                    raise _Unknown
                out[self.value(k, depth + 1)] = self.value(v, depth + 1)
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            return {kw.arg: self.value(kw.value, depth + 1) for kw in node.keywords if kw.arg is not None}
        raise _Unknown


def parse_dumped_config(source: bytes | str, path: str = "<config>") -> tuple[dict[str, Any], str | None]:
    """``({top-level name: value}, problem)`` of a dumped config's source."""
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return {}, f"{path}: not a readable Python config ({type(e).__name__})"
    ev = _Eval()
    skipped: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            try:
                ev.names[name] = ev.value(stmt.value)
            except (_Unknown, TypeError, RecursionError):
                ev.names.pop(name, None)
                skipped.append(name)
    problem = f"{path}: values not read statically: {', '.join(skipped[:10])}" if skipped else None
    return ev.names, problem


def read_dumped_config(path: str) -> tuple[dict[str, Any], str | None]:
    """A dumped config file read through the checked opener; ``({}, problem)`` when it cannot be read."""
    try:
        data = read_regular(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return {}, f"{path}: missing"
    except (FileTooLarge, NotRegularFile) as e:
        return {}, f"{path}: {e.strerror}"
    except OSError as e:
        return {}, f"{path}: unreadable ({e.strerror or e})"
    return parse_dumped_config(data, path)
