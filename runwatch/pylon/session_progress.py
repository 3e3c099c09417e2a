"""Pylon's ``session_progress`` helpers: one trainer work dir's progress, and the epoch-file checks."""

from __future__ import annotations

import os

import runwatch
from runwatch import ProgressInfo
from runwatch.pylon.context import config_file_facts, settings
from runwatch.readers.artifacts import check_file_loads
from runwatch.readers.jsonfile import read_json_tolerant

__all__ = ["check_epoch_finished", "check_file_loadable", "get_session_progress", "warn_malformed_progress_json"]

PROGRESS_JSON = "progress.json"


def get_session_progress(work_dir: str, expected_files: list[str], force_progress_recompute: bool = False) -> ProgressInfo:
    """Trainer progress of ``./logs/<rel>``: finished epochs counted from the files, of the epochs ``./configs/<rel>.py`` sets.

    ``progress_percentage`` is ``completed / epochs * 100`` (100 after an early stop).
    Always computed from the files as they are now; Pylon read a progress.json first,
    and raised on a malformed one: here the trainer's own progress.json is evidence
    (its early-stop record), and a malformed one is a warning in the answer.
    """
    s = settings()
    progress = runwatch.get_session_progress(os.fspath(work_dir), expected_files, config=config_file_facts(os.fspath(work_dir), s), settings=s)
    warn_malformed_progress_json(os.fspath(work_dir), progress)
    return progress


def warn_malformed_progress_json(work_dir: str, progress: ProgressInfo) -> None:
    """Where Pylon raised on a progress.json it could not parse, say so in the answer's warnings."""
    path = os.path.join(work_dir, PROGRESS_JSON)
    if not os.path.isfile(path):
        return
    _, problem = read_json_tolerant(path)
    if problem is not None:
        progress.add_warning(f"{problem}; ignored: progress is counted from the epoch files")


def check_epoch_finished(epoch_dir: str, expected_files: list[str], check_load: bool | None = True) -> bool:
    """Every expected file exists, is a file and is non-empty, and (``check_load``) loads completely."""
    return runwatch.check_epoch_finished(os.fspath(epoch_dir), expected_files, check_load=bool(check_load))


def check_file_loadable(filepath: str) -> bool:
    """Whether a ``.json`` or ``.pt`` file loads completely (JSON parsed; a torch zip archive's checksums checked, without torch).

    As Pylon's: an AssertionError for a path that is not a file or has another extension.
    """
    assert os.path.isfile(filepath), f"{filepath=}"
    assert filepath.endswith(".json") or filepath.endswith(".pt"), f"{filepath=}"
    return check_file_loads(filepath)
