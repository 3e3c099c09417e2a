"""The live side of runwatch: an in-memory index of every run kept current by a file watcher."""

from runwatch.live.index import Delta, Entry, LiveIndex, run_id
from runwatch.live.watcher import Watcher, detect_polling

__all__ = ["Delta", "Entry", "LiveIndex", "Watcher", "detect_polling", "run_id"]
