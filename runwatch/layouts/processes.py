"""Which run of a marker layout a process is training, from its command line and working directory.

Only what the command line says for certain is used: a Hugging Face script's
``--output_dir X`` (HfArgumentParser's spelling, ``--output-dir`` and ``output_dir=X`` too)
names its run folder, resolved against the process's working directory, even before the
first checkpoint makes it a run. Lightning's version folder is chosen by the process at
start (the next free ``version_<N>``), which the command line does not say: such a run's
process is the writer its TensorBoard event file names instead (``RunFolderDetails.writer``,
checked in runwatch.run_status.process_memory.writer_evidence; see docs/layouts.md).
"""

from __future__ import annotations

import os
import posixpath

from runwatch.layout import Project

OUTPUT_FLAGS = ("--output_dir", "--output-dir")


def output_dir_argument(argv: list[str]) -> str | None:
    for i, tok in enumerate(argv):
        if tok in OUTPUT_FLAGS:
            return argv[i + 1] if i + 1 < len(argv) else None
        for flag in OUTPUT_FLAGS:
            if tok.startswith(flag + "="):
                return tok[len(flag) + 1 :]
        if tok.startswith("output_dir="):
            return tok[len("output_dir=") :]
    return None


def is_candidate(text: str) -> bool:
    return "output_dir" in text or "output-dir" in text


def run_name_of_process(project: Project, argv: list[str], cwd: str | None) -> str | None:
    """The run name (folder relative to the project root) a process writes, or None."""
    if getattr(project.settings, "layout", "auto") not in ("auto", "huggingface"):
        return None
    out = output_dir_argument(argv)
    if not out:
        return None
    base = cwd or project.root
    absolute = posixpath.normpath(out if posixpath.isabs(out) else posixpath.join(base, out))
    root = os.path.normpath(project.root)
    if not absolute.startswith(root + os.sep):
        return None
    return os.path.relpath(absolute, root).replace(os.sep, "/")
