"""Project settings: where a lab's runs live and what they look like on disk.

Pylon's layout is the default so that Pylon users need no settings file at all; a
``runwatch.toml`` (or ``[tool.runwatch]`` in ``pyproject.toml``) at the project root
lets labs with other frameworks rename the pieces instead of forking the tool.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

SETTINGS_FILE = "runwatch.toml"


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    """Everything about a project's layout that a tracker must not hard-code."""

    configs_dir: str = "configs"
    logs_dir: str = "logs"
    epoch_dir_pattern: str = "epoch_{n}"
    trainer_expected_files: tuple[str, ...] = (
        "training_losses.pt",
        "optimizer_buffer.json",
        "validation_scores.json",
    )
    evaluator_expected_files: tuple[str, ...] = ("evaluation_scores.json",)
    trainer_log_pattern: str = "train_val*.log"
    evaluator_log_pattern: str = "eval_*.log"
    validation_scores_file: str = "validation_scores.json"
    evaluation_scores_file: str = "evaluation_scores.json"
    sleep_time: int = 86400
    outdated_days: int = 30
    # progress.json policy: "off" (write nothing: runwatch never touches a trainer's files;
    # its own record is in its store) or "missing" (create the trainer's 4-field file where a
    # trainer's work dir has none, and keep only that file of ours up to date). "full" and
    # "legacy" are older names, read as "missing".
    progress_json: str = "off"
    # Config files under these sub-folders of configs_dir are templates, not runs.
    template_dirs: tuple[str, ...] = ("common",)
    # Metric directions for projects whose sources are not on this machine:
    # {"MetricClassName": {"key": 1 | -1, ...}}.
    directions: dict[str, Any] = field(default_factory=dict)
    # Process sources
    ssh_servers: tuple[str, ...] = ()
    slurm: bool = False
    slurm_all_users: bool = False
    ssh_timeout: float = 10.0
    # Extra regexes with a named group "config" matching other launchers' command lines.
    launcher_patterns: tuple[str, ...] = ()
    # Read configs by running them in a time-limited subprocess (for configs that compute
    # values in loops); off by default because it runs the project's code.
    exec_configs: bool = False
    # Where runwatch keeps its own cache (relative to the project root unless absolute).
    cache_dir: str = ".runwatch-cache"
    # Processes a cold scan (hundreds of runs never seen before) may fan out over:
    # 0 = one per usable CPU (at most 8), 1 = never fork.
    workers: int = 0
    # Watch every finished epoch (its dir's mtime and its scores file's stat) on every check, so a
    # rewritten or removed file of an old epoch shows at once; false watches only the epochs still
    # in flux (2 stats per finished epoch less per check; old epochs then need force_refresh).
    watch_finished_epochs: bool = True

    def epoch_dir_name(self, n: int) -> str:
        return self.epoch_dir_pattern.format(n=n)

    @property
    def epoch_dir_prefix(self) -> str:
        """The literal part before ``{n}``; epoch dirs are listed by it without regexes."""
        return self.epoch_dir_pattern.split("{n}", 1)[0]

    @property
    def epoch_dir_suffix(self) -> str:
        parts = self.epoch_dir_pattern.split("{n}", 1)
        return parts[1] if len(parts) == 2 else ""

    def parse_epoch_dir(self, name: str) -> int | None:
        """The epoch number of a dir name, or None when the name is not an epoch dir."""
        prefix, suffix = self.epoch_dir_prefix, self.epoch_dir_suffix
        if not name.startswith(prefix) or not name.endswith(suffix):
            return None
        middle = name[len(prefix) : len(name) - len(suffix) if suffix else None]
        if not middle.isdigit() or (len(middle) > 1 and middle[0] == "0"):
            return None
        return int(middle)

    def resolve_cache_dir(self, root: str | os.PathLike[str]) -> Path:
        p = Path(os.path.expanduser(self.cache_dir))
        return p if p.is_absolute() else Path(root) / p


_TUPLE_FIELDS = {f.name for f in fields(Settings) if f.type.startswith("tuple")}
_INT_FIELDS = {"sleep_time", "outdated_days", "workers"}
_BOOL_FIELDS = {"slurm", "slurm_all_users", "exec_configs", "watch_finished_epochs"}
_ALIASES = {
    "configs_root": "configs_dir",
    "logs_root": "logs_dir",
    "epoch_dir": "epoch_dir_pattern",
}


def find_settings_file(root: str | os.PathLike[str]) -> tuple[Path, bool] | None:
    """The settings file of a project root and whether it is a pyproject table."""
    root = Path(root)
    own = root / SETTINGS_FILE
    if own.is_file():
        return own, False
    py = root / "pyproject.toml"
    if py.is_file():
        return py, True
    return None


def load_settings(root: str | os.PathLike[str] = ".", **overrides: Any) -> Settings:
    """Settings for a project root: defaults, then the settings file, then overrides.

    Raises SettingsError naming the file for malformed TOML, unknown keys or wrong types,
    because a silently ignored typo in a layout setting makes every run look failed.
    """
    values: dict[str, Any] = {}
    found = find_settings_file(root)
    if found is not None:
        path, is_pyproject = found
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SettingsError(f"{path}: cannot read settings: {e}") from e
        if is_pyproject:
            data = data.get("tool", {}).get("runwatch", {})
        values = _validate(data, path)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(Settings(), **values)


def _validate(data: dict[str, Any], path: Path) -> dict[str, Any]:
    known = {f.name for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name == "expected_files":  # shorthand for trainers
            name = "trainer_expected_files"
        if name not in known:
            raise SettingsError(f"{path}: unknown runwatch setting {key!r}; known: {', '.join(sorted(known))}")
        if name in _TUPLE_FIELDS:
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"{path}: setting {key!r} must be a list of strings, got {value!r}")
            value = tuple(value)
        elif name in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise SettingsError(f"{path}: setting {key!r} must be a non-negative number, got {value!r}")
            value = int(value)
        elif name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise SettingsError(f"{path}: setting {key!r} must be true or false, got {value!r}")
        elif name == "progress_json" and value not in ("off", "missing", "full", "legacy"):
            raise SettingsError(f"{path}: setting {key!r} must be one of off, missing (full, legacy: older names of missing); got {value!r}")
        elif name == "epoch_dir_pattern" and (not isinstance(value, str) or "{n}" not in value):
            raise SettingsError(f"{path}: setting {key!r} must contain '{{n}}', got {value!r}")
        out[name] = value
    return out
