"""Find, parse and evaluate the modules one config read touches, recording each file used.

Config modules (under the configs folder) are evaluated with their own imports of other
config modules followed, so ``config.update(dataset_config)`` chains resolve; project
sources (``runners/``, ``metrics/``...) are evaluated with every import left symbolic,
only to find class statements and ``DIRECTIONS`` literals. Every file looked at, and every
module path probed but absent, is recorded so the cache can tell when a result is stale.
"""

from __future__ import annotations

import os
from stat import S_ISDIR as _S_ISDIR
from stat import S_ISLNK as _S_ISLNK
from dataclasses import dataclass, field
from typing import Any

from runwatch.configs import scan_stats
from runwatch.configs.evaluator import ElidedUses, ModuleEvaluator, TooComplex
from runwatch.configs.source_prep import (
    MAX_SOURCE_BYTES,
    LazyBlock,
    SourceTooLarge,
    check_source_budget,
    parse,
    parse_elided,
    split_lazy,
)
from runwatch.configs.values import ConfigModule, Unknown
from runwatch.readers.safe_open import read_regular

FileSig = tuple[int, int] | None  # (mtime_ns, size), None when the file is absent


class StatCache:
    """``os.stat`` memoized for one batch: a dependency shared by 10,000 configs is stat'ed once."""

    def __init__(self) -> None:
        self._sigs: dict[str, FileSig] = {}

    def sig(self, path: str) -> FileSig:
        try:
            return self._sigs[path]
        except KeyError:
            pass
        try:
            # lstat first: the same answer as stat for anything but a link, and a link is noted
            # (a kernel watch on its folder would not see a change made through its other name).
            st = os.lstat(path)
            if _S_ISLNK(st.st_mode):
                scan_stats.note_linked()
                st = os.stat(path)
            elif st.st_nlink > 1 and not _S_ISDIR(st.st_mode):
                scan_stats.note_linked()
            sig: FileSig = (st.st_mtime_ns, st.st_size) if not _S_ISDIR(st.st_mode) else (0, -1)
        except OSError:
            sig = None
        self._sigs[path] = sig
        scan_stats.note(path, sig)
        return sig

    def is_file(self, path: str) -> bool:
        s = self.sig(path)
        return s is not None and s[1] >= 0

    def is_dir(self, path: str) -> bool:
        return self.sig(path) == (0, -1)


def _isdir(mode: int) -> bool:
    return _S_ISDIR(mode)


@dataclass
class EvalResult:
    """One evaluated module and everything its result depended on."""

    path: str
    module: str
    namespace: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, FileSig] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    tainted: dict[int, tuple[Any, str]] = field(default_factory=dict)
    name_lines: dict[str, int] = field(default_factory=dict)
    # Part of an import cycle (its imports of the cycle's other modules are unknown).
    cyclic: bool = False
    error: str | None = None
    # Long int-literal lists were elided before parsing (here or in an imported config).
    elided: bool = False
    # Per module evaluated with elided lists (here and in imported configs): how many times one was an
    # operand (``evaluator.ElidedUses``); cells, so that a deferred block forced later still counts.
    uses: list[list[int]] = field(default_factory=list)
    # Elided lists reached a module whose uses were not counted (it had none of its own to elide).
    unwatched: bool = False


def syntax_error_message(path: str, e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        line = e.lineno or 0
        return f"{path}:{line}: SyntaxError: {e.msg}"
    return f"{path}:0: {type(e).__name__}: {e}"


class ModuleLoader:
    """Module-name to file mapping and evaluation caches for one project root (one batch)."""

    def __init__(self, root: str, configs_dir: str = "configs", stats: StatCache | None = None, elide: bool = False) -> None:
        self.root = os.path.abspath(root)
        # Elide long int-literal lists in config modules (see evaluator.parse_elided).
        self.elide = elide
        self.configs_package = configs_dir.strip("/").replace("/", ".").replace(os.sep, ".")
        self.stats = stats or StatCache()
        self._configs: dict[str, EvalResult] = {}
        # Import cycles (Tarjan's strongly connected components, found while evaluating):
        # each config module is evaluated once, and once more when it is part of a cycle;
        # the second time every import of another module of its cycle is unknown, so the
        # answer does not depend on which module was read first and is kept like any other.
        self._index: dict[str, int] = {}
        self._low: dict[str, int] = {}
        self._open: list[str] = []  # Tarjan's stack: modules whose cycle is not closed yet
        self._on_open: set[str] = set()
        self._provisional: dict[str, EvalResult] = {}  # evaluated, cycle still open
        self.in_cycle: frozenset[str] = frozenset()  # the cycle being re-evaluated
        self._sources: dict[str, EvalResult | None] = {}
        # Dict-literal blocks of config modules evaluated only when read (evaluator.split_lazy);
        # RUNWATCH_EAGER_CONFIGS=1 turns this off (same answers, slower: for equivalence tests).
        self.lazy = os.environ.get("RUNWATCH_EAGER_CONFIGS", "") in ("", "0")
        self._blocks: dict[bytes, LazyBlock | None] = {}
        # (dotted name, hops) -> (what it resolves to, the files that answer depends on):
        # the configs of one batch name the same few classes thousands of times.
        self.dotted_memo: dict[tuple[str, int], tuple[Any, dict[str, FileSig]]] = {}

    # ------------------------------------------------------------------ names and files
    def module_name_of(self, path: str) -> tuple[str, bool]:
        """The dotted module name Pylon's import would give a file under the root."""
        absolute = os.path.abspath(path)
        under = self.root if self.root.endswith(os.sep) else self.root + os.sep
        # (relpath of a normal absolute path under the root: the rest of it)
        rel = absolute[len(under) :] if absolute.startswith(under) else os.path.relpath(absolute, self.root)
        if rel.startswith(".."):
            stem = os.path.splitext(os.path.basename(absolute))[0]
            return stem, False
        rel = os.path.splitext(rel)[0]
        parts = rel.split(os.sep)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        return ".".join(parts), is_package

    def is_config_module(self, module: str) -> bool:
        p = self.configs_package
        return module == p or module.startswith(p + ".")

    def find_module(self, module: str, deps: dict[str, FileSig]) -> tuple[str, bool] | None:
        """(file, is_package) of a module under the root, or None; probes are recorded in deps."""
        base = os.path.join(self.root, *module.split("."))
        for candidate, is_pkg in ((base + ".py", False), (os.path.join(base, "__init__.py"), True)):
            sig = self.stats.sig(candidate)
            deps[candidate] = sig
            if sig is not None and sig[1] >= 0:
                return candidate, is_pkg
        return None

    def is_namespace_package(self, module: str) -> bool:
        return self.stats.is_dir(os.path.join(self.root, *module.split(".")))

    # ------------------------------------------------------------------ evaluation
    def evaluate_config(self, path: str, stack: tuple[str, ...] = ()) -> EvalResult:
        path = os.path.abspath(path)
        cached = self._configs.get(path) or self._provisional.get(path)
        if cached is not None:
            return cached
        n = len(self._index)
        self._index[path] = self._low[path] = n
        self._open.append(path)
        self._on_open.add(path)
        result = self._evaluate_config_file(path, stack)
        if self._low[path] != n:
            self._provisional[path] = result  # part of a cycle that an outer module closes
            return result
        members = []
        while True:
            m = self._open.pop()
            self._on_open.discard(m)
            members.append(m)
            if m == path:
                break
        if len(members) == 1:
            self._configs[path] = result
            return result
        for m in members:
            self._provisional.pop(m, None)
        outer, self.in_cycle = self.in_cycle, frozenset(members)
        try:
            for m in sorted(members):
                final = self._evaluate_config_file(m, (m,))
                final.cyclic = True
                self._configs[m] = final
        finally:
            self.in_cycle = outer
        return self._configs[path]

    def release(self) -> None:
        """The batch is done: empty its config modules' namespaces, which nothing reads any more.

        An evaluated config's deferred values hold its evaluator, whose import hook holds the
        evaluation: a reference cycle per config (~50 objects each), which only a collection of
        the cyclic garbage collector would free. Emptied here, reference counting frees them now.
        """
        for results in (self._configs, self._provisional):
            for r in results.values():
                r.namespace.clear()
        self._configs.clear()
        self._provisional.clear()

    def note_import(self, importer: str, path: str) -> None:
        """Tarjan's low-link update for an import of a module whose cycle is still open."""
        if path in self._on_open and importer in self._low:
            self._low[importer] = min(self._low[importer], self._index[path], self._low.get(path, self._index[path]))

    def _evaluate_config_file(self, path: str, stack: tuple[str, ...]) -> EvalResult:
        module, is_pkg = self.module_name_of(path)
        result = EvalResult(path=path, module=module)
        result.deps[path] = self.stats.sig(path)
        source = _read(path, result)
        if source is not None:
            hook = _ConfigImports(self, result, stack + (path,) if stack[-1:] != (path,) else stack)
            self._evaluate(result, source, module, is_pkg, hook)
        return result

    def evaluate_source(self, module: str, deps: dict[str, FileSig]) -> EvalResult | None:
        if module in self._sources:
            cached = self._sources[module]
            if cached is not None:
                deps.update(cached.deps)
            else:
                self.find_module(module, deps)
            return cached
        found = self.find_module(module, deps)
        if found is None:
            self._sources[module] = None
            return None
        path, is_pkg = found
        result = EvalResult(path=path, module=module)
        result.deps[path] = self.stats.sig(path)
        source = _read(path, result)
        if source is not None:
            self._evaluate(result, source, module, is_pkg, None)
        self._sources[module] = result
        deps.update(result.deps)
        return result

    def _parse(self, source: bytes, result: EvalResult, hook: Any) -> tuple[Any, list[bytes]]:
        if hook is not None and self.elide:
            tree, texts = parse_elided(source, result.path)
            result.elided = bool(texts)
            return tree, texts if isinstance(texts, list) else []
        return parse(source, result.path), []

    def _evaluate(self, result: EvalResult, source: bytes, module: str, is_pkg: bool, hook: Any) -> None:
        split = split_lazy(source, self._blocks) if hook is not None and self.lazy else None
        tree = None
        texts: list[bytes] = []
        if split is not None:
            try:
                tree, texts = self._parse(split[0], result, hook)
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                split = None  # the original gives the exact error, below
        if tree is None:
            try:
                tree, texts = self._parse(source, result, hook)
            except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
                result.error = syntax_error_message(result.path, e)
                return
        if texts:
            ev: ModuleEvaluator = ElidedUses(result.path, module, is_pkg, hook)
            result.uses.append(ev.uses)  # type: ignore[attr-defined]
            ev.elided_texts = texts
        else:
            ev = ModuleEvaluator(result.path, module, is_pkg, hook)
        if split is not None:
            ev.lazy = split[1]
        try:
            result.namespace = ev.run_bounded(tree)
        except TooComplex as e:
            result.error = f"{result.path}:0: too complex to read statically: {e}"
        except RecursionError:
            result.error = f"{result.path}:0: too deeply nested to read statically"
        result.namespace.setdefault("__star__", ev.star_imports)
        if result.elided and not texts:
            result.unwatched = True
        result.warnings = ev.warnings + result.warnings
        result.tainted = ev.tainted
        result.name_lines = ev.name_lines


def _read(path: str, result: EvalResult) -> bytes | None:
    """The file's bytes within the source budgets; a FIFO or a device (or a link to one) is refused unread."""
    try:
        source = read_regular(path, MAX_SOURCE_BYTES)
        check_source_budget(source)
        return source
    except OSError as e:
        result.error = f"{path}:0: cannot read: {e.strerror or e}"
    except SourceTooLarge as e:
        result.error = f"{path}:0: too large to read statically: {e}"
    return None


class _ConfigImports:
    """The import hook a config's evaluator calls: follows imports of other config modules."""

    def __init__(self, loader: ModuleLoader, into: EvalResult, stack: tuple[str, ...]) -> None:
        self.loader = loader
        self.into = into
        self.stack = stack

    def is_config_module(self, module: str) -> bool:
        return self.loader.is_config_module(module)

    def import_config(self, module: str, line: int) -> ConfigModule | Unknown | None:
        if not self.loader.is_config_module(module):
            return None
        found = self.loader.find_module(module, self.into.deps)
        where = f"{self.into.path}:{line}"
        if found is None:
            if self.loader.is_namespace_package(module):
                return ConfigModule(module, os.path.join(self.loader.root, *module.split(".")), {})
            return Unknown(f"{where}: config module {module} not found under {self.loader.root}")
        path, _ = found
        if path in self.stack or path in self.loader.in_cycle:
            if path in self.stack:
                names = [self.loader.module_name_of(p)[0] for p in self.stack[self.stack.index(path) :]]
                cycle = " -> ".join(names + [module])
            else:
                cycle = f"{self.loader.module_name_of(self.into.path)[0]} -> {module} ({path}) -> ... -> {self.loader.module_name_of(self.into.path)[0]}"
            self.into.warnings.append(f"{where}: import cycle {cycle}; its values are unknown")
            self.into.cyclic = True
            self.loader.note_import(self.into.path, path)
            return Unknown(f"{where}: import cycle {cycle}")
        sub = self.loader.evaluate_config(path, self.stack)
        self.loader.note_import(self.into.path, path)
        self.into.deps.update(sub.deps)
        self.into.cyclic = self.into.cyclic or sub.cyclic
        self.into.elided = self.into.elided or sub.elided
        self.into.unwatched = self.into.unwatched or sub.unwatched
        for cell in sub.uses:
            if not any(cell is c for c in self.into.uses):
                self.into.uses.append(cell)
        for w in sub.warnings:
            if w not in self.into.warnings:
                self.into.warnings.append(w)
        if sub.error is not None:
            self.into.warnings.append(f"{where}: imported config {module} cannot be read: {sub.error}")
            return Unknown(f"{where}: imported config {module} cannot be read: {sub.error}")
        return ConfigModule(module, path, sub.namespace)
