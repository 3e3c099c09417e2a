"""The quick check: a new process's look at a run that settled, with the stats of what can still change.

A tracker's full key (``change_detection.Fingerprint``) stats every file and dir its
result came from, finished epochs included: about 2E + 7 stats for a trainer with E
finished epochs, which is what a new ``runwatch status`` paid per run. The progress
store keeps, next to that key, a **quick key**: the stats of only the paths a run's
writers can still change, so that a new process checks an unchanged run with the work
dir's stat and its newest log's (and, while it is not complete, its unfinished epoch's
dir and files), and reuses the stored progress. Any difference, and the run takes the
full path as before.

The policy, the same as the kernel watches' beyond a third of their budget
(docs/api.md): the frameworks never change a finished epoch, so its dir and files are
not in the quick key. What can still change is

- the work dir's entries (its mtime): a new epoch dir, a new session's log, a replaced
  ``progress.json`` or checkpoint link, a file removed;
- the files written in place: the newest log (appended), and while the run is not
  complete its unfinished epoch's files, that epoch's dir (files created in it) and the
  trainer's own ``progress.json``;
- the config (the key's extra part: the config file's mtime and the facts' signature).

An in-place rewrite of an *old* epoch's file alone (nothing else in the run changing) is
then seen with ``force_refresh=True`` (``runwatch status --refresh``), or by any check
in a process that has already looked at the run (its later checks are the full key).

A quick key is only made from stats that have settled (the racy rule of
change_detection, widened): when any path of the run's full key was modified within
``SETTLE_S`` of the moment its stats were taken, no quick key is kept (a file modified
within the timestamp granularity of a stat, or a writer between two of its files, such
as a trainer that writes ``progress.json`` after an epoch's scores); the run gets one at
a later check, once it is quiet.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from runwatch.progress_tracking.change_detection import _DIR, _FILE, RACY_WINDOW_S, pack_stats
from runwatch.readers import recent_stat
from runwatch.sharing import shared_paths

# A run whose files moved this recently (seconds before its stats were taken) gets no quick key yet.
SETTLE_S = max(60.0, RACY_WINDOW_S)
# A quick key never holds more paths than this (a run with many live files keeps the full path).
MAX_PATHS = 16


_SEEN = threading.local()  # the work dir stat'ed by stored_entries, for the quick check right after it


def stored_entries(store: Any, work_dir: str) -> tuple[bool, bool] | None:
    """Whether the work dir held the evaluator's scores file and the first epoch dir, as the store's quick
    key recorded them, while the work dir's mtime is still the one they were seen at (entries added or
    removed move it); None when unknown. The stat is kept for the quick check that follows."""
    entry = store.get(work_dir)
    if entry is not None and entry.hint.get("missing"):  # never launched when last looked at
        return (False, False) if not os.path.isdir(work_dir) else None
    quick = getattr(entry, "quick", None)
    if type(quick) is not tuple or len(quick) != 5 or type(quick[4]) is not tuple or not quick[0] or quick[0][0] != "":
        return None
    try:
        m = os.stat(work_dir).st_mtime_ns
        present, em = _DIR.unpack_from(quick[2], 0)
    except (OSError, ValueError, TypeError):
        return None
    _SEEN.last = (work_dir, m, time.monotonic())
    if not present or m != em:
        return None
    found = quick[4]
    return (bool(found[0]), bool(found[1])) if len(found) == 2 else None


def _work_dir_mtime(work_dir: str) -> int | None:
    seen = getattr(_SEEN, "last", None)
    if seen is not None:
        _SEEN.last = None
        if seen[0] == work_dir and time.monotonic() - seen[2] < 1.0:
            return seen[1]  # stat'ed a moment ago by stored_entries, for this very check
    try:
        return os.stat(work_dir).st_mtime_ns
    except (OSError, ValueError):
        return None


def unpack_key(hint: dict[str, Any], key: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The full key's stats by path: ({dir: (present, mtime_ns)}, {file: (present, mtime, size)}), or None."""
    if not hint or hint.get("missing") or hint.get("names"):
        return None  # never launched (one stat already), or racy dirs still listed
    if type(key) is not tuple or len(key) != 3 or key[1] or type(key[0]) is not bytes:
        return None
    dirs = hint.get("dirs", ())
    files = hint.get("files", ())
    blob = key[0]
    off = _DIR.size * len(dirs)
    if len(blob) != off + _FILE.size * len(files):
        return None
    d = dict(zip(dirs, _DIR.iter_unpack(memoryview(blob)[:off])))
    f = dict(zip(files, _FILE.iter_unpack(memoryview(blob)[off:])))
    return d, f


def build(
    hint: dict[str, Any], key: Any, live_dirs: Iterable[str], live_files: Iterable[str], since: float, entries: tuple[bool, bool] | None = None
) -> tuple[Any, ...] | None:
    """The quick key of a run whose full ``key`` (over ``hint``) was true at ``since`` (its stats taken after it).

    ``live_dirs`` / ``live_files``: the paths (relative to the work dir, as in the hint) that
    can still change; ``entries``: what runner detection found in the work dir (see ``stored_entries``).
    None when the key is not a settled, packed one, or too many paths are live.
    """
    parts = unpack_key(hint, key)
    if parts is None:
        return None
    dstats, fstats = parts
    limit_ns = (since - SETTLE_S) * 1e9
    limit_s = since - SETTLE_S
    for present, m in dstats.values():
        if present and m > limit_ns:
            return None
    for present, m, _size in fstats.values():
        if present and m > limit_s:
            return None
    dirs = tuple(sorted(d for d in set(live_dirs) if d in dstats))
    if "" not in dirs:
        return None  # the work dir is what sees new entries: without it nothing is quick
    in_key = set(dirs)
    # An absent file's creation moves its dir's mtime: watched through the dir when that is in the key.
    files = tuple(sorted(f for f in set(live_files) if f in fstats and (fstats[f][0] or f.rpartition("/")[0] not in in_key)))
    if len(dirs) + len(files) > MAX_PATHS:
        return None
    blob = pack_stats(
        [dstats[d][1] if dstats[d][0] else None for d in dirs],
        [(fstats[f][1], fstats[f][2]) if fstats[f][0] else None for f in files],
    )
    if type(blob) is not bytes:
        return None
    # The path tuples are shared between runs (runs at the same stage watch the same relative paths).
    return (shared_paths(dirs), shared_paths(files), blob, key[2], entries)


def matches(quick: Any, work_dir: str, extra: Callable[[], Any]) -> bool:
    """Whether the disk still agrees with a quick key: a stat per path, stopping at the first difference."""
    try:
        dirs, files, blob, want_extra, _entries = quick
    except (TypeError, ValueError):
        return False
    if type(blob) is not bytes or len(blob) != _DIR.size * len(dirs) + _FILE.size * len(files):
        return False
    prefix = work_dir if work_dir.endswith("/") else work_dir + "/"
    stat = os.stat
    off = _DIR.size * len(dirs)
    seen: dict[str, os.stat_result] = {}
    for d, (present, em) in zip(dirs, _DIR.iter_unpack(memoryview(blob)[:off])):
        if not d:
            m = _work_dir_mtime(work_dir)
        else:
            try:
                m = stat(prefix + d).st_mtime_ns
            except (OSError, ValueError):
                m = None
        if (m is not None) if not present else (m != em):
            return False
    for p, (present, emtime, esize) in zip(files, _FILE.iter_unpack(memoryview(blob)[off:])):
        try:
            st = stat(prefix + p)
        except (OSError, ValueError):
            if present:
                return False
            continue
        if not present or emtime != st.st_mtime or esize != st.st_size:
            return False
        seen[prefix + p] = st
    if extra() != want_extra:
        return False
    recent_stat.note(seen)  # the log's end, looked at next, takes its log's stat from here
    return True


def _newest_numbered(dirs: Iterable[str]) -> dict[tuple[str, str], int]:
    from runwatch.progress_tracking.change_detection import _NUMBERED

    newest: dict[tuple[str, str], int] = {}
    for rel in dirs:
        m = _NUMBERED.fullmatch(rel.partition("/")[0])
        if m is not None:
            k = (m[1], m[3])
            newest[k] = max(newest.get(k, -1), int(m[2]))
    return newest


def default_live(hint: dict[str, Any]) -> tuple[set[str], set[str]]:
    """What can still change in a run of any layout: every watched path but those under a numbered
    top-level dir (``epoch_3``, ``checkpoint-500``) older than the newest of its series."""
    from runwatch.progress_tracking.change_detection import _NUMBERED

    all_dirs = hint.get("dirs", ())
    newest = _newest_numbered(all_dirs)

    def live(rel: str, is_dir: bool) -> bool:
        top, sep, _ = rel.partition("/")
        if not is_dir and not sep:
            return True  # a file of the work dir itself
        m = _NUMBERED.fullmatch(top)
        return m is None or newest.get((m[1], m[3]), -1) <= int(m[2])

    return {d for d in all_dirs if live(d, True)} | {""}, {f for f in hint.get("files", ()) if live(f, False)}
