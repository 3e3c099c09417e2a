"""docs/settings.md, generated from the ``Settings`` dataclass so it cannot drift.

Every field of ``runwatch.settings.Settings`` is listed with its TOML spelling, its
default and its description: the comment lines right above the field in
settings.py, else the entry of ``DESCRIPTIONS`` below. ``tests/test_docs.py`` fails
when docs/settings.md differs from what this writes; regenerate it with

    python -m runwatch.settings_doc > docs/settings.md
"""

from __future__ import annotations

import ast
import inspect
import json
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from runwatch import settings as settings_module
from runwatch.settings import Settings

# Written for users; a field not listed here is described by the comment above it in settings.py.
DESCRIPTIONS: dict[str, str] = {
    "configs_dir": "Folder under the project root holding the experiment configs (`configs/<rel>.py`).",
    "logs_dir": "Folder under the project root holding the work dirs (`logs/<rel>/`).",
    "epoch_dir_pattern": "Name of an epoch's folder in a trainer's work dir; `{n}` is the epoch number, from 0.",
    "trainer_expected_files": "Files every finished epoch of a trainer holds (each present and non-empty).",
    "evaluator_expected_files": "Files a finished evaluator's work dir holds.",
    "trainer_log_pattern": "Glob of a trainer's log files; the newest one's modification time tells a running run.",
    "evaluator_log_pattern": "Glob of an evaluator's log files.",
    "validation_scores_file": 'The per-epoch scores file of a trainer (`{"aggregated": ..., "per_datapoint": ...}`).',
    "evaluation_scores_file": "The scores file of an evaluator; its presence (non-empty, parseable) means done.",
    "sleep_time": "Unset (the default): a run's status comes from evidence (its process, Slurm job, log end, output) and a run without any is judged stalled against its own rhythm (its log's pace and the pauses it has had, else its epochs; see status.md). A number: seconds of silence after which such a run counts as stalled, the fixed rule of older versions (the lab's agents use 180).",
    "outdated_days": "Days after which a complete run counts as outdated (the lab's agents use 120).",
    "ssh_servers": "SSH servers (`user@host[:port]`) to ask for the processes behind runs (stuck vs failed).",
    "slurm": "Also ask Slurm (`squeue`, and `sacct` for ended jobs) for the jobs behind the runs' configs.",
    "slurm_all_users": "Ask `squeue` for everyone's jobs, not only yours.",
    "stall_floor": "The least silence, in seconds, the adaptive stall limit allows, however fast a run's log lines or epochs come (a minute: a dead run reads dead within about that).",
    "stall_default": "The silence limit, in seconds, for a run that has no rhythm yet to measure (no timed progress lines, fewer than two epochs).",
    "ssh_timeout": 'Seconds an SSH server has to answer before it counts as unreachable (never as "no process").',
}


def _layout_description() -> str:
    """The ``layout`` setting's meaning, from the registry of layouts (runwatch.layouts.LAYOUTS)."""
    from runwatch.layouts import LAYOUTS

    kinds = ", ".join(f"`{layout.name}`: {layout.title}" for layout in LAYOUTS)
    return f"Which layouts' runs to look for: `auto` finds the runs of every layout (a project may mix them); a name keeps that one ({kinds})."


def _comments() -> dict[str, str]:
    """The comment block right above each field of the dataclass in settings.py."""
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    block: list[str] = []
                    i = stmt.lineno - 2
                    while i >= 0 and lines[i].strip().startswith("#"):
                        block.insert(0, lines[i].strip().lstrip("#").strip())
                        i -= 1
                    if block:
                        out[stmt.target.id] = " ".join(block)
    return out


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def settings_keys() -> list[str]:
    return [f.name for f in fields(Settings)]


def render() -> str:
    comments = _comments()
    out = [
        "# Settings reference",
        "",
        "<!-- Generated by `python -m runwatch.settings_doc > docs/settings.md` from runwatch/settings.py; do not edit by hand. -->",
        "",
        "Settings live in `runwatch.toml` at the project root, or in a `[tool.runwatch]` table of its `pyproject.toml`.",
        "Without either, Pylon's layout and the defaults below apply. Command-line options (`--sleep-time`,",
        "`--outdated-days`, `--exec-configs`, ...) override the file. An unknown key, a wrong type or malformed TOML",
        "is an error naming the file and the key.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
    ]
    for f in fields(Settings):
        described = _layout_description() if f.name == "layout" else DESCRIPTIONS.get(f.name)
        text = (described or comments.get(f.name) or "(undocumented)").replace("|", "\\|")
        default = _default(f)
        if is_dataclass(default):
            cell = f"a `[{f.name}]` table, see [{f.name}.md]({f.name}.md)"
        else:
            cell = "unset" if default is None else f"`{_toml(default)}`"
        out.append(f"| `{f.name}` | {cell} | {text} |")
    out += [
        "",
        "An example with every key at its default:",
        "",
        "```toml",
    ]
    for f in fields(Settings):
        if isinstance(_default(f), dict) or is_dataclass(_default(f)):
            continue
        if _default(f) is None:  # TOML has no null: an unset key is left out
            out.append(f"# {f.name} = ...                  (unset by default)")
            continue
        out.append(f"{f.name} = {_toml(_default(f))}")
    out += [
        "",
        "[directions]                       # metric directions when the metric's sources are not on this machine",
        "DepthMetric = { mae = -1 }",
    ]
    for f in fields(Settings):  # sections (their own pages say more), with every key at its default
        section = _default(f)
        if is_dataclass(section):
            out += ["", f"[{f.name}]"]
            out += [
                f"{g.name} = {_toml(getattr(section, g.name))}"
                for g in fields(section)
                if getattr(section, g.name) is not None and getattr(section, g.name) != ()
            ]
    out += [
        "```",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
