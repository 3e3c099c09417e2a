"""Every byte runwatch reads goes through the checked opener (``runwatch/readers/safe_open.py``).

This walks the package's syntax trees and fails on any call that opens or decodes a file by
its path (``open(``, ``os.open(``, ``zipfile.ZipFile(``, ``Path.read_text``/``read_bytes``,
``yaml.load``, ``torch.load``, ``json.load(``, ``pickle.load``, ``sqlite3.connect``...)
outside the opener, unless the module and call are on the allow-list below, each with the
reason it is safe. A new reader of a run's files must use ``read_regular`` / ``open_regular``
(run files) or ``read_own`` / ``append_own`` / ``replace_atomically`` (runwatch's own files).
"""

from __future__ import annotations

import ast
import os

import runwatch

PACKAGE = os.path.dirname(runwatch.__file__)

# Calls that open or decode a file given by its path (or a file object made from one).
BANNED = {
    "open",
    "io.open",
    "os.open",
    "os.fdopen",
    "codecs.open",
    "gzip.open",
    "bz2.open",
    "lzma.open",
    "tarfile.open",
    "shelve.open",
    "mmap.mmap",
    "zipfile.ZipFile",
    "ZipFile",
    "yaml.load",
    "yaml.safe_load",
    "yaml.full_load",
    "yaml.unsafe_load",
    "yaml.load_all",
    "yaml.safe_load_all",
    "torch.load",
    "json.load",
    "pickle.load",
    "pickle.Unpickler",
    "np.load",
    "numpy.load",
    "tomllib.load",
    "sqlite3.connect",
    "EventFileLoader",
}
# Methods that read a file by path whatever object they are called on.
BANNED_METHODS = {"read_text", "read_bytes", "open"}

# (module relative to the package, dotted call) -> why it is safe. Keep each reason true.
ALLOWED: dict[tuple[str, str], str] = {
    # The opener itself.
    ("readers/safe_open.py", "os.open"): "the checked opener: O_NONBLOCK, fstat, regular only, confined / O_NOFOLLOW",
    ("readers/safe_open.py", "os.fdopen"): "wraps a descriptor the opener checked",
    ("readers/safe_open.py", "archive.open"): "read_zip_member: a member of a zip over open_regular, read with a byte cap",
    # runwatch's own files, written atomically: folder opened O_NOFOLLOW, temp O_EXCL 0600.
    ("atomic_files.py", "os.open"): "runwatch's own files: O_NOFOLLOW folder, O_EXCL|O_NOFOLLOW temp file",
    ("atomic_files.py", "os.fdopen"): "the temp file it just created O_EXCL",
    # progress.json's writer: creates its temp file O_EXCL in the folder it checked.
    ("readers/jsonfile.py", "os.open"): "write_json_atomic's temp file, created O_EXCL (a write, never a read)",
    # Decoders fed by the opener: the object they get comes from open_regular / read_regular / read_own.
    ("readers/torchpickle.py", "zipfile.ZipFile"): "over the file object open_regular returned",
    ("readers/torchpickle.py", "self._archive.open"): "a member of that zip, read with a byte budget",
    ("readers/torchpickle.py", "z.open"): "a member of that zip, read with a byte budget",
    ("readers/artifacts.py", "zipfile.ZipFile"): "over the file object open_regular returned",
    ("layouts/keras.py", "zipfile.ZipFile"): "over the file object open_regular returned; config.json read with read_zip_member",
    ("readers/yamlfile.py", "yaml.load"): "bytes from read_regular, a safe loader, depth and alias budgets",
    # The settings layer (layer 0) cannot import the readers: its one file is checked inline.
    ("settings_source.py", "os.open"): "runwatch.toml: O_NONBLOCK, fstat regular, 1 MiB (safe_open's check, inline)",
    ("closed_pipe.py", "os.open"): "/dev/null for stdout once its reader went away (a write, never a read)",
    # runwatch's own SQLite cache: lstat-checked (no link, regular) before sqlite opens it.
    ("configs/sqlite_store.py", "sqlite3.connect"): "runwatch's own file, refused when a link or special file",
    # --exec mode: its own temp file (mkstemp in the temp dir), written by the child it started.
    ("configs/exec_mode.py", "open"): "its own mkstemp output file and the child's script text",
    ("configs/exec_mode.py", "json.load"): "its own mkstemp output file",
    # Directories and kernel files, never a run's file.
    ("progress_tracking/progress_store.py", "os.open"): "a work dir opened O_DIRECTORY, to write progress.json through it",
    ("progress_tracking/change_detection.py", "os.open"): "directories opened O_DIRECTORY for fstat",
    ("progress_tracking/change_notify.py", "open"): "/proc/sys/fs/inotify and /proc/self/mountinfo",
    ("live/watcher.py", "open"): "/proc/mounts",
    ("readers/proc_start.py", "open"): "/proc/<pid>/stat, the kernel's record of a process",
    ("live/notify_memory.py", "os.open"): "runwatch's own lock file, O_NOFOLLOW",
    # Not files at all.
    ("server/__init__.py", "webbrowser.open"): "opens the user's browser",
    ("hub/subscriber.py", "opener.open"): "an HTTP request to an agent, read with a size cap",
}
# Whole modules that never read a run: they write the demo's or a test tree's own files.
ALLOWED_MODULES = {
    "demo/project.py": "writes the demo project it creates",
    "demo/processes.py": "the demo's own output files",
    "demo/pylon_main.py": "the demo trainer: writes its own run's files",
    "testing/generator.py": "writes test trees",
}


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):  # Path(p).read_text()
        inner = _dotted(node.func)
        return ".".join([*(reversed(parts)), ""]) if inner is None else inner + "()." + ".".join(reversed(parts))
    return None


def unchecked_opens() -> list[str]:
    found: list[str] = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, PACKAGE).replace(os.sep, "/")
            if rel in ALLOWED_MODULES:
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name_ = _dotted(node.func)
                if name_ is None:
                    continue
                method = name_.rsplit(".", 1)[-1]
                if name_ in BANNED or ("." in name_ and method in BANNED_METHODS):
                    if (rel, name_) not in ALLOWED:
                        found.append(f"{rel}:{node.lineno}: {name_}(...) does not go through runwatch/readers/safe_open.py")
    return found


def test_every_file_read_goes_through_the_checked_opener() -> None:
    found = unchecked_opens()
    assert not found, "\n".join(found)


def test_the_allow_list_has_no_stale_entries() -> None:
    """Each allowed (module, call) still exists: an entry that allows nothing is removed."""
    seen: set[tuple[str, str]] = set()
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE).replace(os.sep, "/")
                with open(path, encoding="utf-8") as f:
                    for node in ast.walk(ast.parse(f.read(), path)):
                        if isinstance(node, ast.Call) and (d := _dotted(node.func)) is not None:
                            seen.add((rel, d))
    stale = [k for k in ALLOWED if k not in seen]
    assert not stale, stale


def test_the_walk_finds_a_planted_open(tmp_path) -> None:
    """The checker itself: each kind of call is found."""
    src = "import yaml, json, zipfile, torch\nfrom pathlib import Path\nopen(p)\nPath(p).read_text()\nyaml.safe_load(f)\njson.load(f)\nzipfile.ZipFile(p)\ntorch.load(p)\n"
    names = {_dotted(n.func) for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)}
    flagged = {n for n in names if n and (n in BANNED or ("." in n and n.rsplit(".", 1)[-1] in BANNED_METHODS))}
    assert flagged == {"open", "Path().read_text", "yaml.safe_load", "json.load", "zipfile.ZipFile", "torch.load"}
