"""What tracking needs to know about a config file, as a small typed object.

The reader (``runwatch.configs.reader``) fills these from the syntax tree of a config
file; trackers and status rules depend only on this module, never on how the file
was read, so the reader can change (static, cached, opt-in exec) without touching them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from runwatch.sharing import share
from runwatch.state import STATE

RunnerKind = Literal["trainer", "evaluator", "multi_stage"]


@dataclass(frozen=True)
class ClassRef:
    """A symbolic reference to a class named in a config (never imported)."""

    module: str | None
    qualname: str

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    def __str__(self) -> str:
        return self.dotted


@dataclass(slots=True)
class StageFacts:
    """One stage of a config (a single-stage config has exactly one).

    Slotted, like ConfigFacts: a live index keeps the facts of every config, and facts
    that come back pickled from a reading worker would otherwise each carry a real dict.
    """

    runner: ClassRef | None = None
    runner_kind: RunnerKind | None = None
    epochs: int | None = None
    early_stopping_enabled: bool = False
    early_stopping_patience: int | None = None
    metric: ClassRef | None = None
    # Nested like ``aggregated`` scores; leaves are +1 (higher is better) or -1.
    directions: dict[str, Any] | None = None
    # Where the directions came from: "source", "settings", "heuristic" or None.
    directions_source: str | None = None
    work_dir: str | None = None
    keys: tuple[str, ...] = ()


@dataclass(slots=True)
class ConfigFacts:
    """The facts of one config file; ``error`` is set when the file could not be read."""

    path: str
    stages: list[StageFacts] = field(default_factory=list)
    is_multi_stage: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def first(self) -> StageFacts:
        return self.stages[0] if self.stages else StageFacts()

    @property
    def runner(self) -> ClassRef | None:
        return self.first.runner

    @property
    def runner_kind(self) -> RunnerKind | None:
        if self.is_multi_stage:
            return "multi_stage"
        return self.first.runner_kind

    @property
    def epochs(self) -> int | None:
        """Total epochs as Pylon's ``main.py`` trains them; None when any stage's count is unknown.

        A list's stages run one after another, each resuming in its own ``work_dir`` up to
        its own epochs: stages that declare the same work dir (or none) end at the largest
        stage's epochs, separate work dirs add up. (The tracker, which resolves the dirs
        on disk, is authoritative; this is the same rule on the declared strings.)
        """
        if not self.stages:
            return None
        counts = [s.epochs for s in self.stages]
        if any(c is None for c in counts):
            return None
        if not self.is_multi_stage:
            return sum(c for c in counts if c is not None)
        groups: dict[str | None, int] = {}
        first = _dir_key(self.stages[0].work_dir)
        for s in self.stages:
            key = _dir_key(s.work_dir) or first
            groups[key] = max(groups.get(key, 0), s.epochs or 0)
        return sum(groups.values())

    @property
    def keys(self) -> tuple[str, ...]:
        return self.first.keys

    @property
    def work_dir(self) -> str | None:
        return self.first.work_dir

    @property
    def directions(self) -> dict[str, Any] | None:
        return self.first.directions

    @property
    def early_stopping_patience(self) -> int | None:
        s = self.first
        return s.early_stopping_patience if s.early_stopping_enabled else None


def _dir_key(work_dir: str | None) -> str | None:
    if not work_dir:
        return None
    import posixpath

    return posixpath.normpath(work_dir.replace("\\", "/"))


# ---------------------------------------------------------------- sharing between configs

# A project's configs name the same few runners, metrics, score keys and direction trees
# over and over; a live index holds the facts of every config, so each distinct value is
# kept once. Bounded: past the limit values are simply no longer shared.
_MAX_SHARED = 20_000
_REFS: dict[ClassRef, ClassRef] = STATE.table("configs.facts.refs")
_KEY_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = STATE.table("configs.facts.key_tuples")
_DIRECTIONS: dict[str, dict[str, Any]] = STATE.table("configs.facts.directions")


def _share(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    return share(memo, key, value, _MAX_SHARED)


def _intern_opt(s: Any) -> Any:
    return sys.intern(s) if type(s) is str else s


def _shared_ref(r: ClassRef | None) -> ClassRef | None:
    if r is None:
        return None
    hit = _REFS.get(r)
    if hit is not None:
        return hit
    return _share(_REFS, r, ClassRef(_intern_opt(r.module), _intern_opt(r.qualname)))


def _interned_tree(v: Any) -> Any:
    if type(v) is dict:
        return {_intern_opt(k): _interned_tree(x) for k, x in v.items()}
    return v


def compact_facts(facts: ConfigFacts, share_directions: bool = True) -> ConfigFacts:
    """Make ``facts`` share its strings, class refs, key tuples and direction trees with other configs'.

    In place (and returned): every field keeps an equal value. Refs and tuples are
    immutable; a shared direction tree is a dict that must be treated as read-only, so a
    caller that hands facts out to code it does not know passes ``share_directions=False``
    (the tree's keys are still interned, the dict stays its own).
    """
    for s in facts.stages:
        s.runner = _shared_ref(s.runner)
        s.metric = _shared_ref(s.metric)
        s.runner_kind = _intern_opt(s.runner_kind)
        s.directions_source = _intern_opt(s.directions_source)
        if s.keys:
            keys = tuple(s.keys)
            same_keys = _KEY_TUPLES.get(keys)
            s.keys = same_keys if same_keys is not None else _share(_KEY_TUPLES, keys, tuple([_intern_opt(k) for k in keys]))
        if type(s.directions) is dict:
            if not share_directions:
                s.directions = _interned_tree(s.directions)
                continue
            text = repr(s.directions)  # JSON-shaped: equal reprs, equal trees (1 and 1.0 differ)
            same_tree = _DIRECTIONS.get(text)
            s.directions = same_tree if same_tree is not None else _share(_DIRECTIONS, text, _interned_tree(s.directions))
    return facts
