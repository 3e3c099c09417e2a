"""Which run of a marker layout a process is training, from its command line and working directory.

Only what the command line says for certain is used: a Hugging Face script's
``--output_dir X`` (HfArgumentParser's spelling, ``--output-dir`` and ``output_dir=X`` too)
names its run folder, resolved against the process's working directory, even before the
first checkpoint makes it a run. Lightning's version folder is chosen by the process at
start (the next free ``version_<N>``), which the command line does not say: such a run's
process is the writer its TensorBoard event file names instead (``RunFolderDetails.writer``,
checked in runwatch.run_status.process_memory.writer_evidence; see docs/layouts.md).

The same holds for the run folders other frameworks derive from their command lines: Ultralytics'
``project=P name=N`` (``yolo train ...``; without ``project=``, ``runs/<task>/N``), timm's ``train.py
--output O --experiment E`` (``O/E``), and an MMEngine ``tools/train.py CONFIG [--work-dir W]`` (``W``,
else ``work_dirs/<config name>``). A folder the framework names itself (YOLO's ``train2`` when ``name=``
is not given, timm's dated folder without ``--experiment``) is on no command line: not matched.
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


YOLO_TASKS = ("detect", "segment", "classify", "pose", "obb")


def _flag(argv: list[str], *flags: str) -> str | None:
    for i, tok in enumerate(argv):
        if tok in flags:
            return argv[i + 1] if i + 1 < len(argv) else None
        for flag in flags:
            if tok.startswith(flag + "="):
                return tok[len(flag) + 1 :]
    return None


def yolo_folder(argv: list[str]) -> str | None:
    """``project/name`` of a ``yolo`` command line with ``name=`` (the folder Ultralytics writes)."""
    kv = dict(tok.split("=", 1) for tok in argv if "=" in tok and not tok.startswith("-"))
    if not kv.get("name") or not any(os.path.basename(t).startswith("yolo") for t in argv[:2]):
        return None
    task = next((t for t in argv if t in YOLO_TASKS), None) or kv.get("task") or "detect"
    project = kv.get("project") or posixpath.join("runs", task)
    return posixpath.join(project, kv["name"])


def timm_folder(argv: list[str]) -> str | None:
    """``--output/--experiment`` of a timm ``train.py`` command line."""
    exp = _flag(argv, "--experiment")
    if not exp:
        return None
    return posixpath.join(_flag(argv, "--output") or "./output/train", exp)


def mmengine_folder(argv: list[str]) -> str | None:
    """The work dir of an MMEngine ``train.py CONFIG`` command line: ``--work-dir``, else ``work_dirs/<config name>``."""
    wd = _flag(argv, "--work-dir", "--work_dir")
    if wd:
        return wd
    scripts = [i for i, t in enumerate(argv) if os.path.basename(t) == "train.py"]
    if not scripts:
        return None
    config = next((t for t in argv[scripts[0] + 1 :] if t.endswith(".py") and not t.startswith("-")), None)
    return posixpath.join("work_dirs", posixpath.splitext(posixpath.basename(config))[0]) if config else None


def is_candidate(text: str) -> bool:
    return "output_dir" in text or "output-dir" in text or "name=" in text or "--experiment" in text or "train.py" in text or "--work" in text


def run_name_of_process(project: Project, argv: list[str], cwd: str | None) -> str | None:
    """The run name (folder relative to the project root) a process writes, or None."""
    chosen = getattr(project.settings, "layout", "auto")
    finders = {"huggingface": output_dir_argument, "ultralytics": yolo_folder, "timm": timm_folder, "mmengine": mmengine_folder}
    for name, finder in finders.items():
        if chosen in ("auto", name) and (out := finder(argv)):
            found = _inside(project, out, cwd)
            if found is not None:
                return found
    return None


def _inside(project: Project, out: str, cwd: str | None) -> str | None:
    base = cwd or project.root
    absolute = posixpath.normpath(out if posixpath.isabs(out) else posixpath.join(base, out))
    root = os.path.normpath(project.root)
    if not absolute.startswith(root + os.sep):
        return None
    return os.path.relpath(absolute, root).replace(os.sep, "/")
