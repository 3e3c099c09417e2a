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
