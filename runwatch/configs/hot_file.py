"""The hot file: the facts a process handed out, pickled for the next process's head start.

A warm new process loads this one small pickle instead of decoding every SQLite row.
It holds ``{"version", "shared": [dependency sets], "entries": {key: (own path, own
sig, index into shared, facts record)}}`` (records as in ``facts_codec``). It is data,
never code: only builtin containers and scalars are unpickled. A missing, damaged or
other version's file is no head start and nothing else.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from runwatch.atomic_files import replace_atomically
from runwatch.configs.facts_codec import READER_VERSION, FactsRecord
from runwatch.configs.loader import FileSig
from runwatch.readers.safe_open import read_own

HOT_FILE = f"configs-hot-v{READER_VERSION}.pickle"

SharedDeps = tuple[tuple[str, FileSig], ...]
HotRecord = tuple[str, FileSig, int, FactsRecord]


class _PlainUnpickler(pickle.Unpickler):
    """Builtin containers and scalars only: the hot file is data, never code."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in ("tuple", "list", "dict", "set", "frozenset"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden class {module}.{name} in the config cache")


def read_hot_file(path: Path) -> tuple[list[Any], dict[str, HotRecord]] | None:
    """(shared dependency sets, entries by key), or None when there is no usable file."""
    try:
        obj = _PlainUnpickler(io.BytesIO(read_own(str(path)))).load()  # never through a link, never a FIFO
        if not isinstance(obj, dict) or obj.get("version") != READER_VERSION:
            return None
        shared, entries = obj["shared"], obj["entries"]
        if not isinstance(shared, list | tuple) or not isinstance(entries, dict):
            return None
        return list(shared), entries
    except Exception:  # missing or damaged: no head start, nothing else changes
        return None


def write_hot_file(path: Path, shared: list[SharedDeps], entries: dict[str, HotRecord]) -> None:
    """Replace the file atomically; raises OSError (or a pickling error) with nothing left behind."""
    payload = {"version": READER_VERSION, "shared": shared, "entries": entries}
    replace_atomically(path, lambda f: pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL), prefix=f".{HOT_FILE}.")
