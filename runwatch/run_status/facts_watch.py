"""Kernel watches on the folders a project's config facts came from: a warm scan reuses them with no stat.

A warm scan of a Pylon project used to check every run's config facts in the facts batch:
a stat of the config (and one of each shared dependency), the cache's key and lookup, about
half of an unchanged run's cost. Facts change only when a file they were read from changes
(the config, the config modules it imported, the project sources, module paths probed but
absent), and the batch records every such path's stat (``configs.scan_stats``). So the engine
keeps, beside its facts, kernel watches (``change_notify.NOTIFIER``, the fingerprints' own
instance and budget) on every folder holding one of those paths, and while none of them has had
an event since the batch that checked the facts, a scan takes the facts it holds as they are:
no batch, no stat. The rules, as for a fingerprint's watches (``change_notify.py``):

- the watches are added *before* the stats that check the facts: a change made before a watch
  existed is seen by those stats, one made after raises an event. A batch whose paths lie in a
  folder not yet watched checks its facts the ordinary way; its folders are watched from then on,
  and the next batch, whose stats come after, is the one that vouches for them;
- every scan reads the event queue at its start (``NOTIFIER.one_read_per_scan``): a change made
  before a scan starts is seen by it. Any event in a watched folder, or on an entry on the way
  to it (a folder renamed, replaced, deleted), sends every run back to the batch, which watches
  again before its stats;
- only where every change raises an event (a local file system, ``kernel_watches`` on, the
  watch budget not spent), for paths inside the project, none of them a link (a symbolic link or
  a second name of a file: a change through its other name raises no event here); anything else
  keeps the batch;
- a settings change, a queue overflow or a reset of the notifier sends every run back too; facts
  handed in from elsewhere (a cold scan's forked readers, a live index's ``reread``) are not
  vouched for until a batch here has stat'ed their files.

The sigs the batch noted are kept too: a run's tracker keys its cache on its config's mtime
(``pylon_evidence.config_file_key``), which it then takes from them (``scan_stats.vouch``).
"""

from __future__ import annotations

import os
from typing import Any

from runwatch.configs import scan_stats
from runwatch.configs.facts import ConfigFacts
from runwatch.progress_tracking.change_notify import NOTIFIER


class _Folder:
    """One watched folder, as the notifier sees a fingerprint: an event in it, or on the way to it, marks it dirty."""

    __slots__ = ("work_dir", "notify_slot", "notify_dirty", "armed")

    def __init__(self, path: str) -> None:
        self.work_dir = path
        self.notify_slot = 0
        self.notify_dirty = False
        self.armed = 0  # the notifier generation it was watched in; 0: not watched

    def quiet(self, generation: int) -> bool:
        return self.armed == generation and not self.notify_dirty


class FactsWatch:
    """The facts a project's engine may reuse without a batch, and the watches that vouch for them."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._prefix = self.root.rstrip("/") + "/"
        self.folders: dict[str, _Folder] = {}
        # key -> the facts its last batch returned, stat'ed after every folder its files are in was watched.
        self.facts: dict[str, ConfigFacts] = {}
        self.sigs: dict[str, Any] = {}  # path -> sig, as those batches noted them
        self.settings: Any = None
        self.off = False  # no kernel watches here (another file system, the budget, a path outside the project)

    # ---- a scan

    def quiet(self, settings: Any) -> bool:
        """Whether the facts held are still vouched for: same settings, every watched folder quiet since it was watched.
        The scan read the event queue at its start."""
        if not self.facts or self.off:
            return False
        if settings is not self.settings and settings != self.settings:
            return False
        generation = NOTIFIER.generation
        for folder in self.folders.values():
            if not folder.quiet(generation):
                return False
        self.settings = settings  # (an equal object: compared once)
        return True

    def reuse(self, keys: list[str], out: dict[str, ConfigFacts]) -> list[str]:
        """Put the vouched facts of ``keys`` in ``out``; the keys left for the batch. Call only when ``quiet``."""
        facts = self.facts
        rest = []
        for k in keys:
            f = facts.get(k)
            if f is None:
                rest.append(k)
            else:
                out[k] = f
        scan_stats.vouch(self.sigs)
        return rest

    def before_batch(self, settings: Any) -> bool:
        """Watch again, before the batch's stats, every folder that had an event (or all, after an overflow); whether
        every folder is watched now. Forgets what was vouched for when anything moved."""
        if self.off:
            return False
        generation = NOTIFIER.generation
        if settings is not self.settings and settings != self.settings:
            self.facts.clear()
            self.settings = settings
        moved = [folder for folder in dict.fromkeys(self.folders.values()) if not folder.quiet(generation)]
        if not moved:
            return True
        self.facts.clear()  # something may have changed: every run's facts are checked by this batch
        self.sigs = {}
        gone = set()
        for folder in moved:
            if not self._arm(folder):
                if self.off:
                    return False
                gone.add(folder)  # the folder went: watched again (or its parent) once a batch notes a path there
        # An absent folder stood for by its parent (see after_batch) may exist now: looked up again after the batch.
        for d, folder in list(self.folders.items()):
            if folder in gone or (folder.work_dir != d and folder in moved):
                del self.folders[d]
        return not gone

    def after_batch(self, got: dict[str, ConfigFacts], armed_before: bool) -> None:
        """Vouch for the facts a batch just returned when every path it stat'ed is in a folder watched before
        its stats; else watch the folders that were missing (the next batch vouches)."""
        if self.off:
            return
        noted = scan_stats.noted()
        if not noted or scan_stats.saw_link():
            return
        folders = self.folders
        prefix = self._prefix
        missing: set[str] = set()
        for path in noted:
            d = path.rpartition("/")[0]
            if d not in folders and d not in missing:
                if not path.startswith(prefix):
                    self.off = True  # a dependency outside the project: its folders are not ours to watch
                    self.facts.clear()
                    return
                missing.add(d)
        if missing:
            for d in sorted(missing):
                existing = self._existing(d)
                if existing is None:
                    return
                if existing not in folders:
                    folders[existing] = folder = _Folder(existing)
                    if not self._arm(folder):
                        return
                if existing != d:
                    folders[d] = folders[existing]  # (an absent folder: its nearest existing one says when it appears)
            return  # watched after this batch's stats: the next batch vouches
        if not armed_before:
            return
        generation = NOTIFIER.generation
        for folder in folders.values():
            if not folder.quiet(generation):
                return  # an event during the batch: it may have stat'ed either side of it
        self.facts.update(got)
        self.sigs.update(noted)

    def forget(self, keys: Any) -> None:
        for k in keys:
            self.facts.pop(k, None)

    def clear(self) -> None:
        self.facts.clear()
        self.sigs = {}

    # ---- watches

    def _existing(self, d: str) -> str | None:
        """``d``, or its nearest existing parent inside the project (a module folder probed but absent)."""
        while True:
            if os.path.isdir(d):
                return d
            if d == self.root or not d.startswith(self._prefix):
                return None
            d = d.rpartition("/")[0]

    def _arm(self, folder: _Folder) -> bool:
        """Watch ``folder`` (and the entries on the way to it); False, and no more watching here, when the kernel cannot."""
        folder.notify_dirty = False
        generation = NOTIFIER.generation
        try:
            dev = os.stat(folder.work_dir).st_dev
        except OSError:
            folder.armed = 0
            return False
        if not NOTIFIER.usable_for(dev) or not NOTIFIER.arm(folder, [folder.work_dir]):
            folder.armed = 0
            self.off = True
            self.facts.clear()
            return False
        folder.armed = generation
        return True
