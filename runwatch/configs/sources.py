"""Follow a class reference into the project's own sources, statically.

The runner kind and a metric's ``DIRECTIONS`` are facts about classes, not about the
config. When the project root holds the framework's sources we find the class
statement (through package ``__init__`` re-exports and aliases), walk its bases to a
``*Trainer``/``*Evaluator`` root and read ``DIRECTIONS`` literals, including
``Other.DIRECTIONS`` references and inherited ones. Nothing is imported.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.facts import ClassRef, RunnerKind
from runwatch.configs.loader import FileSig, ModuleLoader
from runwatch.configs.signals import MISSING
from runwatch.configs.values import (
    Call,
    ClassAttr,
    ExecClass,
    LocalClass,
    ModuleRef,
    Ref,
    Unknown,
    dotted_name,
)

_MAX_HOPS = 40


def kind_from_name(name: str) -> RunnerKind | None:
    """The class-name rules used when sources are absent (and for each ancestor)."""
    if name.startswith("MultiStage"):
        return "multi_stage"
    if name.endswith("Evaluator"):
        return "evaluator"
    if name.endswith("Trainer"):
        return "trainer"
    return None


def kind_from_lineage(names: list[str]) -> RunnerKind | None:
    """``names[0]`` is the class, then its ancestors nearest first.

    A ``MultiStage*`` anywhere makes it multi-stage; otherwise the most distant ancestor
    that names a kind wins, because the framework's roots (``BaseTrainer``,
    ``BaseEvaluator``) decide how a run writes its files, not a subclass's nickname.
    """
    if any(n.startswith("MultiStage") for n in names):
        return "multi_stage"
    kind: RunnerKind | None = None
    for n in names:
        k = kind_from_name(n)
        if k is not None:
            kind = k
    return kind


def split_dotted(dotted: str) -> ClassRef:
    """``torch.optim.SGD`` -> module ``torch.optim``, qualname ``SGD`` (first capitalised part starts the qualname)."""
    parts = dotted.split(".")
    for i, p in enumerate(parts):
        if p[:1].isupper() and i > 0:
            return ClassRef(".".join(parts[:i]), ".".join(parts[i:]))
    if len(parts) == 1:
        return ClassRef(None, parts[0])
    return ClassRef(".".join(parts[:-1]), parts[-1])


class SourceResolver:
    """Resolves symbolic class values for one config read; records every source file used."""

    def __init__(self, loader: ModuleLoader, deps: dict[str, FileSig]) -> None:
        self.loader = loader
        self.deps = deps
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ resolution
    def resolve(self, value: Any, hops: int = 0) -> Any:
        """The LocalClass/ExecClass (or other value) a symbolic value names, MISSING when not found."""
        if hops > _MAX_HOPS:
            return MISSING
        if isinstance(value, LocalClass | ExecClass):
            return value
        if isinstance(value, ClassAttr):
            return self.class_attr(value.cls, value.name, hops + 1)
        if isinstance(value, Ref | ModuleRef):
            return self.resolve_dotted(value.dotted, hops + 1)
        return value

    def resolve_dotted(self, dotted: str, hops: int = 0) -> Any:
        """What a dotted name resolves to; remembered for the batch with the files it depends on.

        A remembered answer adds those files to this config's dependencies, exactly as
        resolving again would (the batch's sources do not change within it).
        """
        memo = self.loader.dotted_memo
        key = (dotted, hops)
        hit = memo.get(key)
        if hit is not None:
            self.deps.update(hit[1])
            return hit[0]
        outer = self.deps
        used: dict[str, FileSig] = {}
        self.deps = used
        try:
            result = self._resolve_dotted(dotted, hops)
        finally:
            self.deps = outer
        outer.update(used)
        memo[key] = (result, used)
        return result

    def _resolve_dotted(self, dotted: str, hops: int) -> Any:
        if hops > _MAX_HOPS:
            return MISSING
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            module = ".".join(parts[:i])
            result = self.loader.evaluate_source(module, self.deps)
            if result is None:
                continue
            return self._walk(module, result.namespace, parts[i:], hops)
        return MISSING

    def _walk(self, module: str, ns: dict[str, Any], rest: list[str], hops: int) -> Any:
        if not rest:
            return ModuleRef(module)
        name, tail = rest[0], rest[1:]
        if name in ns:
            value = ns[name]
        else:
            sub = self.loader.evaluate_source(f"{module}.{name}", self.deps)
            if sub is not None:
                return self._walk(f"{module}.{name}", sub.namespace, tail, hops)
            for star in ns.get("__star__", ()):
                got = self.resolve_dotted(".".join([star, *rest]), hops + 1)
                if got is not MISSING:
                    return got
            return MISSING
        value = self.resolve(value, hops + 1)
        if value is MISSING or not tail:
            return value
        if isinstance(value, LocalClass):
            return self._attr_chain(value, tail, hops)
        if isinstance(value, ModuleRef):
            return self.resolve_dotted(".".join([value.name, *tail]), hops + 1)
        return MISSING

    def _attr_chain(self, cls: LocalClass, names: list[str], hops: int) -> Any:
        value: Any = cls
        for n in names:
            if not isinstance(value, LocalClass):
                return MISSING
            value = self.class_attr(value, n, hops + 1)
            if value is MISSING:
                return MISSING
        return value

    def class_attr(self, cls: LocalClass, name: str, hops: int = 0) -> Any:
        """``cls.name`` with inheritance through resolvable bases (depth-first, left to right)."""
        if hops > _MAX_HOPS:
            return MISSING
        if name in cls.namespace:
            return self.resolve(cls.namespace[name], hops + 1)
        for base in cls.bases:
            b = self.resolve(base, hops + 1)
            if isinstance(b, LocalClass):
                got = self.class_attr(b, name, hops + 1)
                if got is not MISSING:
                    return got
        return MISSING

    def lineage(self, cls: Any) -> tuple[list[str], bool]:
        """Names of the class and its ancestors (nearest first) and whether the class was found."""
        if isinstance(cls, ExecClass):
            return list(cls.mro), True
        start = self.resolve(cls)
        if not isinstance(start, LocalClass):
            name = _name_of(cls)
            return ([name] if name else []), False
        names: list[str] = []
        seen: set[int] = set()
        queue: list[Any] = [start]
        while queue and len(names) < 100:
            item = queue.pop(0)
            if isinstance(item, LocalClass):
                if id(item) in seen:
                    continue
                seen.add(id(item))
                names.append(item.name)
                for base in item.bases:
                    resolved = self.resolve(base)
                    queue.append(resolved if isinstance(resolved, LocalClass) else base)
            else:
                n = _name_of(item)
                if n and n != "object":
                    names.append(n)
        return names, True

    # ------------------------------------------------------------------ facts
    def class_ref(self, value: Any) -> ClassRef | None:
        """Canonical reference (where the class is defined) when found, else as the config spells it."""
        resolved = self.resolve(value)
        if isinstance(resolved, LocalClass | ExecClass):
            return ClassRef(resolved.module or None, resolved.qualname)
        if isinstance(value, Ref):
            return ClassRef(value.module or None, value.qualname)
        if isinstance(value, ModuleRef):
            return split_dotted(value.name)
        return None

    def kind(self, value: Any) -> RunnerKind | None:
        names, _ = self.lineage(value)
        return kind_from_lineage(names) if names else None

    def directions(self, metric_class: Any, args: Any, depth: int = 0) -> dict[str, Any] | None:
        """A metric's DIRECTIONS: class attribute (with inheritance) or, for wrappers, from components."""
        if depth > 5:
            return None
        if isinstance(metric_class, ExecClass):
            if isinstance(metric_class.directions, dict):
                return self.normalize(metric_class.directions)
        else:
            cls = self.resolve(metric_class)
            if isinstance(cls, LocalClass):
                raw = self.class_attr(cls, "DIRECTIONS")
                if raw is not MISSING:
                    return self.normalize(raw)
        return self._wrapper_directions(args, depth)

    def _wrapper_directions(self, args: Any, depth: int) -> dict[str, Any] | None:
        """Wrappers build DIRECTIONS from component metric configs: a task dict nests, a list merges."""
        if not isinstance(args, dict):
            return None
        for value in args.values():
            if isinstance(value, dict) and value and all(_is_component(v) for v in value.values()):
                nested: dict[str, Any] = {}
                for task, comp in value.items():
                    d = self.directions(comp["class"], comp.get("args"), depth + 1)
                    if d is None or not isinstance(task, str):
                        return None
                    nested[task] = d
                return nested
            if isinstance(value, list | tuple) and value and all(_is_component(v) for v in value):
                merged: dict[str, Any] = {}
                for comp in value:
                    d = self.directions(comp["class"], comp.get("args"), depth + 1)
                    if d is None:
                        return None
                    merged.update(d)
                return merged
        return None

    def normalize(self, raw: Any, depth: int = 0) -> dict[str, Any] | None:
        """Nested dict with +1/-1 leaves; references to other DIRECTIONS are followed."""
        raw = self.resolve(raw)
        if not isinstance(raw, dict) or depth > 20:
            return None
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str):
                continue
            value = self.resolve(value)
            if isinstance(value, dict):
                sub = self.normalize(value, depth + 1)
                if sub:
                    out[key] = sub
            elif isinstance(value, int | float) and not isinstance(value, bool) and value in (1, -1):
                out[key] = int(value)
            else:
                why = value.reason if isinstance(value, Unknown) else repr(value)[:80]
                self.warnings.append(f"DIRECTIONS key {key!r} ignored: not +1/-1 ({why})")
        return out


def _is_component(value: Any) -> bool:
    return isinstance(value, dict) and "class" in value and not isinstance(value["class"], Unknown | type(None))


def _name_of(value: Any) -> str | None:
    if isinstance(value, LocalClass | ExecClass):
        return value.name
    d = dotted_name(value)
    if d is not None:
        return d.rsplit(".", 1)[-1]
    if isinstance(value, Call):
        return None
    return None
