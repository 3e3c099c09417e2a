"""Read a Pylon config file into ``ConfigFacts``: statically by default, cached, never raising.

This is the entry point the rest of runwatch calls. A bad file is a ``ConfigFacts`` with
``error`` set (``"<path>:<line>: ..."``), not an exception, because one broken config
must not take down the status of thousands of others; callers that prefer an exception
use ``read_config_strict``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from runwatch.configs import scan_stats
from runwatch.configs.cache import READER_VERSION, Deps, FactsCache, cache_for
from runwatch.configs.exec_mode import DEFAULT_TIMEOUT, ExecError, exec_config
from runwatch.configs.extract import build_facts
from runwatch.configs.facts import ConfigFacts
from runwatch.configs.loader import EvalResult, ModuleLoader, StatCache
from runwatch.configs.sources import SourceResolver
from runwatch.configs.sqlite_store import Row
from runwatch.project import find_project_root
from runwatch.settings import Settings, SettingsError, find_settings_file, load_settings
from runwatch.state import STATE


class ConfigReadError(Exception):
    """Raised by ``read_config_strict`` with the facts' error (``<path>:<line>: ...``)."""

    def __init__(self, message: str, facts: ConfigFacts | None = None) -> None:
        super().__init__(message)
        self.facts = facts


_CONFIG_ROOTS: dict[tuple[str, str], str] = STATE.table("configs.reader.config_roots")


def find_config_root(path: str, configs_dir: str = "configs") -> str:
    """The folder holding the topmost ``configs`` folder above ``path`` (Pylon's working dir)."""
    here = os.path.dirname(os.path.abspath(path))
    key = (here, configs_dir)
    found = _CONFIG_ROOTS.get(key)  # (the same few folders for every config of a scan)
    if found is not None:
        return found
    marker = os.sep + os.path.normpath(configs_dir)
    top: str | None = None
    d = here
    while True:
        if d.endswith(marker):
            top = d
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    if top is not None:
        if len(_CONFIG_ROOTS) > 10_000:
            _CONFIG_ROOTS.clear()
        found = _CONFIG_ROOTS[key] = top[: -len(marker)] or os.sep  # read from the path alone: kept
        return found
    return find_project_root(here)  # (asks the file system: not kept)


_SETTINGS: dict[str, tuple[object, Settings, str | None]] = STATE.table("configs.reader.settings")
_SETTINGS_LOCK = threading.Lock()


def _settings_for(root: str) -> tuple[Settings, str | None]:
    """Settings of a root (memoized on the settings file's stat); a bad file gives defaults + a warning."""
    found = find_settings_file(root)
    sig: object = None
    if found is not None:
        try:
            st = os.stat(found[0])
            sig = (str(found[0]), st.st_mtime_ns, st.st_size)
        except OSError:
            sig = None
    with _SETTINGS_LOCK:
        cached = _SETTINGS.get(root)
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2]
    warning = None
    try:
        settings = load_settings(root)
    except SettingsError as e:
        settings, warning = Settings(), f"{e}; using default settings"
    with _SETTINGS_LOCK:
        _SETTINGS[root] = (sig, settings, warning)
    return settings, warning


def _fingerprint(settings: Settings) -> str:
    blob = json.dumps([settings.configs_dir, settings.directions], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _cache(root: str, settings: Settings, use_cache: bool) -> FactsCache | None:
    if not use_cache:
        return None
    try:
        directory: Path | None = settings.resolve_cache_dir(root)
    except (OSError, ValueError):
        directory = None
    return cache_for(directory)


# (path, evaluation, root) -> a note or None. A hook that also has ``adopt(note)`` gets, in the
# calling process, the notes it made in forked readers (``_read_parallel``).
OnEvaluated = Callable[[str, EvalResult, str], Any]


class _Batch:
    """State shared by the reads of one call: stats, parsed modules, rows to write."""

    def __init__(self, root: str, settings: Settings, settings_warning: str | None) -> None:
        self.root = root
        self.settings = settings
        self.settings_warning = settings_warning
        self.stats = StatCache()
        self.loader = ModuleLoader(root, settings.configs_dir, self.stats, elide=True)
        self._plain: ModuleLoader | None = None
        self.fp = _fingerprint(settings)
        # Called with (path, evaluation, root) after each static read, while the evaluation is
        # at hand (the changed-config check answers from it); never allowed to change the facts.
        self.on_evaluated: OnEvaluated | None = None

    def exec_mode(self, exec_configs: bool | None) -> bool:
        """An explicit choice wins; None means the project setting ``exec_configs``."""
        return self.settings.exec_configs if exec_configs is None else exec_configs

    def key(self, path: str, exec_configs: bool) -> str:
        mode = "exec" if exec_configs else "static"
        return (
            f"{READER_VERSION}|{mode}|{self.fp}|{self.root}|{path if path[:1] == os.sep and '/.' not in path and '//' not in path else os.path.abspath(path)}"
        )

    def read(self, path: str, exec_configs: bool, exec_timeout: float) -> tuple[ConfigFacts, Deps]:
        try:
            if exec_configs:
                facts, deps = self._read_exec(path, exec_timeout)
            else:
                facts, deps = self._read_static(path)
        except RecursionError:
            facts = ConfigFacts(path=path, error=f"{os.path.abspath(path)}:0: too deeply nested to read statically")
            deps = {os.path.abspath(path): self.stats.sig(os.path.abspath(path))}
        if self.settings_warning:
            facts.warnings.insert(0, self.settings_warning)
        return facts, deps

    def _read_static(self, path: str) -> tuple[ConfigFacts, Deps]:
        facts, deps, result = self._read_with(self.loader, path)
        if result.elided and (facts.error is not None or facts.warnings):
            # Something was not known: read again with every list literal, so the
            # answer (and its messages) is exactly what a full parse gives.
            if self._plain is None:
                self._plain = ModuleLoader(self.root, self.settings.configs_dir, self.stats, elide=False)
            facts, deps, result = self._read_with(self._plain, path)
        if self.on_evaluated is not None:
            try:
                self.on_evaluated(path, result, self.root)
            except Exception:  # a helper's failure costs only its own answer, never the facts
                pass
        return facts, deps

    def _read_with(self, loader: ModuleLoader, path: str) -> tuple[ConfigFacts, Deps, EvalResult]:
        result = loader.evaluate_config(path)
        facts, deps = self._facts_of(loader, result, path)
        return facts, deps, result

    def _facts_of(self, loader: ModuleLoader, result: EvalResult, path: str) -> tuple[ConfigFacts, Deps]:
        deps: Deps = dict(result.deps)
        if result.error is not None:
            return ConfigFacts(path=path, error=result.error, warnings=list(result.warnings)), deps
        if "config" not in result.namespace:
            return (
                ConfigFacts(path=path, error=f"{result.path}:0: no module-level `config` is defined", warnings=list(result.warnings)),
                deps,
            )
        resolver = SourceResolver(loader, deps)

        def taint_reason(obj: object) -> str | None:
            entry = result.tainted.get(id(obj))
            return entry[1] if entry is not None and entry[0] is obj else None

        line = result.name_lines.get("config", 0)
        facts = build_facts(result.path, result.namespace["config"], resolver, self.settings, taint_reason, line)
        facts.path = path
        facts.warnings[:0] = result.warnings
        return facts, deps

    def _read_exec(self, path: str, timeout: float) -> tuple[ConfigFacts, Deps]:
        absolute = os.path.abspath(path)
        deps: Deps = {absolute: self.stats.sig(absolute)}
        try:
            value, files = exec_config(absolute, self.root, timeout)
        except ExecError as e:
            return ConfigFacts(path=path, error=str(e)), deps
        except OSError as e:
            return ConfigFacts(path=path, error=f"{absolute}:0: cannot start the exec subprocess: {e}"), deps
        for f in files:
            deps[f] = self.stats.sig(f)
        resolver = SourceResolver(self.loader, deps)
        facts = build_facts(absolute, value, resolver, self.settings)
        facts.path = path
        return facts, deps


def _resolve_root_settings(path: str, root: str | None, settings: Settings | None) -> tuple[str, Settings, str | None]:
    configs_dir = settings.configs_dir if settings is not None else "configs"
    r = os.path.abspath(root) if root is not None else find_config_root(path, configs_dir)
    if settings is not None:
        return r, settings, None
    s, warning = _settings_for(r)
    if root is None and s.configs_dir != configs_dir:
        r = find_config_root(path, s.configs_dir)
    return r, s, warning


def read_config(
    path: str,
    root: str | None = None,
    settings: Settings | None = None,
    exec_configs: bool | None = None,
    *,
    exec_timeout: float = DEFAULT_TIMEOUT,
    use_cache: bool = True,
) -> ConfigFacts:
    """Facts of one config file; never raises for a bad file (see ``ConfigFacts.error``).

    ``root`` is the project root (default: the folder above the topmost ``configs``
    folder); ``settings`` default to the root's settings file. ``exec_configs`` runs the
    file in a time-limited subprocess instead of reading it statically (None: the
    project setting ``exec_configs``, off by default).
    """
    path = os.fspath(path)
    r, s, warning = _resolve_root_settings(path, root, settings)
    batch = _Batch(r, s, warning)
    exec_configs = batch.exec_mode(exec_configs)
    cache = _cache(r, s, use_cache)
    key = batch.key(path, exec_configs)
    if cache is not None:
        hit = cache.lookup(key, batch.stats, path)
        if hit is not None:
            return hit
    facts, deps = batch.read(path, exec_configs, exec_timeout)
    if cache is not None:
        cache.store(key, deps, facts)
    return facts


def read_configs(
    paths: Iterable[str],
    root: str | None = None,
    settings: Settings | None = None,
    exec_configs: bool | None = None,
    *,
    exec_timeout: float = DEFAULT_TIMEOUT,
    use_cache: bool = True,
    precomputed: dict[str, tuple[ConfigFacts, Deps]] | None = None,
    workers: int | None = None,
    on_evaluated: OnEvaluated | None = None,
    save_hot: bool = True,
) -> dict[str, ConfigFacts]:
    """Facts for many configs, keyed by the path as given.

    One cache load, one stat per distinct dependency, shared parsing of imported config
    modules and sources, and one disk write at the end: fast for 10,000 files. A config
    whose dependencies are unchanged since an earlier call in this process gets the same
    ``ConfigFacts`` object again (one stat per config, one per shared dependency), so
    the returned facts are shared and must be treated as read-only.

    ``precomputed`` maps paths to ``read_static_uncached`` answers made elsewhere (a
    forked worker of a cold scan): a cache miss takes its answer from there instead of
    reading the file again, and the cache learns it as if read here. ``workers``
    overrides the project's ``workers`` setting for this call (1: read them all here).
    ``on_evaluated(path, evaluation, root)`` is called after each config statically read
    in this process, while its evaluation is at hand (not for cache hits). ``save_hot=False`` leaves
    the next process's head start (the hot file, rewritten whole) to a later call or ``save_hot_file``:
    a caller that learns many configs in small batches writes it once.
    """
    # Cyclic GC would scan the growing heap again and again while thousands of syntax
    # trees are built and dropped (17 % of reading 5,000 configs); reference counting
    # frees them, so collection waits until the batch is done.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_configs(paths, root, settings, exec_configs, exec_timeout, use_cache, precomputed, workers, on_evaluated, save_hot)
    finally:
        if gc_was_enabled:
            gc.enable()


# One batch (a project root and its settings): its reader, its cache, the rows to store, the hot checks done.
_Entry = tuple[_Batch, FactsCache | None, list[Row], dict[int, bool]]


def _read_configs(
    paths: Iterable[str],
    root: str | None,
    settings: Settings | None,
    exec_configs: bool | None,
    exec_timeout: float,
    use_cache: bool,
    precomputed: dict[str, tuple[ConfigFacts, Deps]] | None = None,
    workers: int | None = None,
    on_evaluated: OnEvaluated | None = None,
    save_hot: bool = True,
) -> dict[str, ConfigFacts]:
    out: dict[str, ConfigFacts] = {}
    batches: dict[tuple[str, int], _Entry] = {}
    pending: list[tuple[_Entry, str, str]] = []
    fixed: tuple[str, Settings, str | None] | None = None
    fixed_entry: _Entry | None = None
    entry: _Entry | None
    if root is not None and settings is not None:  # the common batch: resolved once, not per path
        fixed = (os.path.abspath(root), settings, None)
    for raw in paths:
        path = os.fspath(raw)
        if path in out:
            continue
        if fixed is not None and fixed_entry is not None:
            entry = fixed_entry
        else:
            r, s, warning = fixed if fixed is not None else _resolve_root_settings(path, root, settings)
            bkey = (r, id(s))
            entry = batches.get(bkey)
            if entry is None:
                entry = batches[bkey] = (_Batch(r, s, warning), _cache(r, s, use_cache), [], {})
                entry[0].on_evaluated = on_evaluated
            if fixed is not None:
                fixed_entry = entry
        batch, cache, rows, checked = entry
        key = batch.key(path, batch.exec_mode(exec_configs))
        if cache is not None:
            hot = cache.hot_lookup(key, batch.stats, path, checked)
            if hot is not None:
                out[path] = hot
                continue
            hit = cache.lookup_entry(key, batch.stats, path, checked)
            if hit is not None:
                out[path] = hit[0]
                cache.remember(key, os.path.abspath(path), hit[1], hit[0])
                continue
        out[path] = None  # type: ignore[assignment]  # keeps the caller's order; filled below
        pending.append((entry, key, path))
    any_exec = any(e[0].exec_mode(exec_configs) for e, _, _ in pending)
    if precomputed is not None and not any_exec:
        read: dict[str, tuple[ConfigFacts, Deps]] | None = precomputed
    else:
        read = _read_parallel(pending, any_exec, workers) if len(pending) >= PARALLEL_MIN else None
    if read is not None and read is not precomputed:
        # Stat'ed by forked readers: neither their stats nor the links they met are noted here, so kernel
        # watches do not vouch for this batch (run_status/facts_watch.py); a later one, made here, does.
        scan_stats.note_linked()
    for (batch, cache, rows, _), key, path in pending:
        if read is not None and path in read:
            facts, deps = read[path]
        else:
            facts, deps = batch.read(path, batch.exec_mode(exec_configs), exec_timeout)
        if cache is not None:
            rows.append(cache.store(key, deps, facts, write=False, keep=False))
            cache.remember(key, os.path.abspath(path), deps, facts)
        out[path] = facts
    for batch, cache, rows, _ in batches.values():
        batch.loader.release()
        if cache is not None and rows:
            cache.flush(rows)
        if cache is not None and save_hot:
            cache.save_hot()
    return out


def save_hot_file(root: str, settings: Settings) -> None:
    """Write the hot file of the project's config cache now, if batches read with ``save_hot=False`` left it to do."""
    cache = _cache(os.path.abspath(root), settings, True)
    if cache is not None:
        cache.save_hot()


# Uncached configs in one call from which reading is spread over processes (a cold
# first scan of a lab's tree); below it, starting workers costs more than it saves.
PARALLEL_MIN = 200


def read_static_uncached(
    paths: list[str], root: str, settings: Settings, settings_warning: str | None = None, on_evaluated: OnEvaluated | None = None
) -> dict[str, tuple[ConfigFacts, Deps]]:
    """Static facts and dependencies of ``paths``, read here with no cache at all.

    For a forked worker: it must not touch the cache's database (a connection must not
    cross a fork); its answers go back to the parent, which gives them to ``read_configs``
    as ``precomputed`` so the cache learns them there.
    """
    return static_reader(root, settings, settings_warning, on_evaluated)(paths)


def static_reader(
    root: str, settings: Settings, settings_warning: str | None = None, on_evaluated: OnEvaluated | None = None
) -> Callable[[list[str]], dict[str, tuple[ConfigFacts, Deps]]]:
    """``read_static_uncached`` for several calls sharing one batch (its parsed modules, its memos):
    a forked worker that reads its configs a part at a time."""
    batch = _Batch(os.path.abspath(root), settings, settings_warning)
    batch.on_evaluated = on_evaluated
    return lambda paths: {p: batch.read(p, False, DEFAULT_TIMEOUT) for p in paths}


def _read_parallel(pending: list[Any], exec_configs: bool, workers: int | None = None) -> dict[str, tuple[ConfigFacts, Deps]] | None:
    """Static reads of many configs on every usable CPU (forked workers); None: read them serially.

    Any failure of a worker leaves its configs out, and they are read serially: same answers, slower.
    """
    from runwatch.forking import fork_map, split, worker_count

    if exec_configs:
        return None
    by_batch: dict[int, tuple[_Batch, list[str]]] = {}
    for (batch, _, _, _), _, path in pending:
        by_batch.setdefault(id(batch), (batch, []))[1].append(path)
    if len(by_batch) != 1:  # one project per call is the case worth forking for
        return None
    batch, paths = next(iter(by_batch.values()))
    n = worker_count(len(paths), PARALLEL_MIN // 2, batch.settings.workers if workers is None else workers)
    if n < 2:
        return None
    # A hook with ``adopt`` has its answers (picklable notes) made where each config is evaluated
    # and handed to this process, where the rest of the scan asks for them.
    hook = batch.on_evaluated
    adopt = getattr(hook, "adopt", None)

    def read_share(share: list[str]) -> tuple[dict[str, tuple[ConfigFacts, Deps]], list[Any]]:
        notes: list[Any] = []

        def note(path: str, result: EvalResult, root: str) -> None:
            got = hook(path, result, root)  # type: ignore[misc]
            if got is not None:
                notes.append(got)

        return read_static_uncached(share, batch.root, batch.settings, batch.settings_warning, note if adopt is not None else None), notes

    out: dict[str, tuple[ConfigFacts, Deps]] = {}
    for ok, value in fork_map(read_share, split(paths, n)):
        if ok:
            out.update(value[0])
            for got in value[1]:
                adopt(got)  # type: ignore[misc]
    return out


def read_config_strict(path: str, root: str | None = None, settings: Settings | None = None, exec_configs: bool | None = None) -> ConfigFacts:
    """Like ``read_config`` but raises ``ConfigReadError`` when the file could not be read."""
    facts = read_config(path, root, settings, exec_configs)
    if facts.error is not None:
        raise ConfigReadError(facts.error, facts)
    return facts
