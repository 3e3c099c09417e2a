"""The values a statically evaluated config can hold besides plain Python data.

A config names classes and calls functions that runwatch must never import or run,
so those become symbolic values here; anything the evaluator cannot decide becomes
an explicit ``Unknown`` carrying the reason, so that no caller mistakes a guess for
a fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Unknown:
    """A value the static reader could not determine; ``reason`` says why (with the line)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unknown({self.reason!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Unknown:
        return self


class HugeRange(Unknown):
    """A ``range`` too long to iterate: unknown to everything but ``len()`` (which Python may refuse)."""

    __slots__ = ("range",)

    def __init__(self, reason: str, value: range) -> None:
        super().__init__(reason)
        self.range = value


class ElidedList(Unknown):
    """A long int-literal list not parsed (``source_prep.parse_elided``): unknown to the evaluator,
    its literal text kept (``source_prep.elided_values`` reads it). An operation on it may give this
    very object back, so the text is the value only where the evaluation never used it as an
    operand (``ElidedUses``)."""

    __slots__ = ("text",)

    def __init__(self, reason: str, text: bytes | None) -> None:
        super().__init__(reason)
        self.text = text


@dataclass(frozen=True)
class Ref:
    """A name imported from a module we do not execute: exact module and qualified name."""

    module: str
    qualname: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    def attr(self, name: str) -> Ref:
        return Ref(self.module, f"{self.qualname}.{name}")

    def __deepcopy__(self, memo: dict[int, Any]) -> Ref:
        return self


@dataclass(frozen=True)
class ModuleRef:
    """``import a`` then ``a.b.C``: a dotted path whose module/attribute split is not known yet."""

    name: str

    @property
    def dotted(self) -> str:
        return self.name

    def attr(self, name: str) -> ModuleRef:
        return ModuleRef(f"{self.name}.{name}")

    def __deepcopy__(self, memo: dict[int, Any]) -> ModuleRef:
        return self


Symbol = Ref | ModuleRef


@dataclass(eq=False)
class LocalClass:
    """A class statement the reader saw (in a config or a project source), never created."""

    module: str
    qualname: str
    bases: list[Any]
    namespace: dict[str, Any]
    path: str
    line: int

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def __deepcopy__(self, memo: dict[int, Any]) -> LocalClass:
        return self


@dataclass(frozen=True)
class ClassAttr:
    """``Cls.NAME`` where NAME is not in the class body: it may be inherited, resolved later."""

    cls: LocalClass
    name: str

    def __deepcopy__(self, memo: dict[int, Any]) -> ClassAttr:
        return self


@dataclass(eq=False)
class Opaque:
    """A function, lambda or other object defined in a file; kept, never called."""

    description: str

    def __deepcopy__(self, memo: dict[int, Any]) -> Opaque:
        return self


@dataclass(eq=False)
class Call:
    """A call the reader does not run (``functools.partial(X, a=1)``, ``torch.device('cuda')``)."""

    func: Any
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(eq=False)
class ConfigModule:
    """Another config module, read statically; attribute access copies its values."""

    name: str
    path: str
    namespace: dict[str, Any]

    def __deepcopy__(self, memo: dict[int, Any]) -> ConfigModule:
        return self


@dataclass(eq=False)
class ExecClass:
    """A class reported by an ``--exec-configs`` subprocess: its real MRO and DIRECTIONS."""

    module: str | None
    qualname: str
    mro: list[str]
    directions: Any = None

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def __deepcopy__(self, memo: dict[int, Any]) -> ExecClass:
        return self


def dotted_name(value: Any) -> str | None:
    """The dotted spelling of a symbolic value, or None for anything else."""
    if isinstance(value, Ref | ModuleRef):
        return value.dotted
    if isinstance(value, LocalClass | ExecClass):
        return f"{value.module}.{value.qualname}" if value.module else value.qualname
    return None


def is_known(value: Any) -> bool:
    return not isinstance(value, Unknown)


class Lazy:
    """A dict-literal value of a config not evaluated yet: forced on first read, then cached.

    Generated configs spend most of their reading time on sub-dicts (model, dataset,
    optimizer) that tracking never looks at. Only values whose result cannot depend on
    when they are evaluated become ``Lazy`` (every free name bound to an immutable value
    at definition time, no side effects), so forcing later gives exactly what eager
    evaluation gave. Holders force the slot on every read (``force_slot``); moving a value
    between dicts (``update``, ``**``, ``dict()``) keeps the thunk, which caches its value
    so aliasing stays as in Python.
    """

    __slots__ = ("done", "env", "family", "line", "owner", "record", "value")

    def __init__(self, record: Any, line: int, env: dict[str, Any], owner: Any, family: list[bool] | None = None) -> None:
        self.record = record
        self.line = line
        self.env = env
        self.owner = owner
        self.family = family if family is not None else [False]  # steps counted once per literal
        self.done = False
        self.value: Any = None

    def force(self) -> Any:
        if not self.done:
            self.value = self.owner.force_lazy(self)
            self.done = True
            self.env = None  # type: ignore[assignment]
        return self.value

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        if self.done:
            import copy

            return copy.deepcopy(self.value, memo)
        return Lazy(self.record, self.line, self.env, self.owner, self.family)

    def __eq__(self, other: object) -> bool:
        return bool(force_deep(self.force()) == force_deep(other.force() if isinstance(other, Lazy) else other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(force_deep(self.force()))


def force_slot(container: dict[Any, Any], key: Any) -> Any:
    """``container[key]``, forcing (and storing back) a Lazy value."""
    v = container[key]
    if type(v) is Lazy:
        v = container[key] = v.force()
    return v


def force_values(container: dict[Any, Any]) -> dict[Any, Any]:
    """Force every Lazy value directly held by a dict (in place); returns the dict."""
    for k, v in container.items():
        if type(v) is Lazy:
            container[k] = v.force()
    return container


def force_deep(value: Any) -> Any:
    """Force every Lazy value reachable through dicts, lists and tuples (in place)."""
    if type(value) is Lazy:
        value = value.force()
    seen: set[int] = set()
    stack = [value] if isinstance(value, dict | list | tuple) else []
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, dict):
            for k, v in cur.items():
                if type(v) is Lazy:
                    v = cur[k] = v.force()
                if isinstance(v, dict | list | tuple):
                    stack.append(v)
        else:
            stack.extend(v for v in cur if isinstance(v, dict | list | tuple))
    return value
