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

from cachetools import LRUCache

from runwatch import settings_source
from runwatch.settings_source import SETTINGS_FILE
from runwatch.state import STATE


# Every token runwatch takes (``--token``, ``collector_token``) has at least this many characters.
MIN_TOKEN_LENGTH = 16


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


# The statuses a ``[notify]`` section may name (runwatch.run_status.rules.STATUSES; a test keeps them equal).
NOTIFY_STATUSES: tuple[str, ...] = ("running", "finished", "stuck", "failed", "outdated", "queued", "unknown")


@dataclass(frozen=True)
class NotifyRoute:
    """One ``[[notify.route]]``: runs whose name matches go (also) to these targets.

    ``match`` is a glob when it holds ``*``, ``?`` or ``[``, else a run-name prefix.
    ``on`` None means the section's ``on``.
    """

    match: str
    urls: tuple[str, ...] = ()
    on: tuple[str, ...] | None = None
    commands: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class NotifySettings:
    """The ``[notify]`` section: where transitions are sent and which ones (see docs/notify.md)."""

    urls: tuple[str, ...] = ()
    on: tuple[str, ...] = ("failed", "stuck", "finished")
    # Each command is an argv (a string is split like a shell would, but run without one).
    commands: tuple[tuple[str, ...], ...] = ()
    command_timeout: float = 60.0
    routes: tuple[NotifyRoute, ...] = ()
    # The dashboard's address for links in messages (``runwatch serve`` knows its own).
    dashboard_url: str | None = None
    # Transitions seen within this many seconds of the first go out as one digest per target.
    digest_seconds: float = 5.0
    # A run that triggered ``flap_limit`` messages within ``flap_window`` seconds is held back.
    flap_limit: int = 3
    flap_window: float = 600.0

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.commands or any(r.urls or r.commands for r in self.routes))


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
    # Seconds of silence after which a run without stronger evidence is stalled. None
    # (the default): adaptive, from the run's own rhythm (see docs/status.md).
    sleep_time: int | None = None
    outdated_days: int = 30
    # The adaptive limit: stall_factor x the run's finest rhythm (its log's pace of progress
    # lines, else the median of recent epoch intervals), and 1.5x the longest pause it has had
    # at the same place before, at least stall_floor seconds; stall_default seconds while a
    # run has no rhythm yet.
    stall_factor: float = 5.0
    stall_floor: int = 60
    stall_default: int = 3600
    # Regexes of a clean end-of-training line at a log's end (Pylon's early-stop line).
    log_end_patterns: tuple[str, ...] = (r"Training stopped early at epoch \d+",)
    # Where else runs' output lands, with {run} / {work_dir} / {name} placeholders
    # (relative to the project root), e.g. "slurm_out/{name}-*.out".
    output_globs: tuple[str, ...] = ()
    # Folders outside the project that run files may be symbolic links into (a logs/ folder on a
    # scratch disk), absolute or relative to the root; any other link out of the project is refused.
    link_targets: tuple[str, ...] = ()
    # Look for a crashed run's traceback in this machine's tmux panes.
    tmux_output: bool = True
    # Bearer token of the collector endpoint of `runwatch serve` (POST /api/collector);
    # empty: the endpoint is off. At least 16 printable characters, like --token.
    collector_token: str = ""
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
    # This project's runs run on this machine only: a Pylon run whose process this machine's
    # lookup does not find has exited (now, not after its silence limit).
    runs_local: bool = False
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
    # The [notify] section: notifications and hooks on status transitions.
    notify: NotifySettings = field(default_factory=NotifySettings)
    # Which layouts' runs to look for: "auto" (every layout of the registry, runwatch.layouts.LAYOUTS)
    # or one layout's name. docs/settings.md describes it from the registry.
    layout: str = "auto"
    # Watch every finished epoch (its dir's mtime and its scores file's stat) on every check, so a
    # rewritten or removed file of an old epoch shows at once; false watches only the epochs still
    # in flux (2 stats per finished epoch less per check; old epochs then need force_refresh).
    watch_finished_epochs: bool = True
    # On local file systems, a run checked twice in one process is then watched by the kernel
    # (inotify): while nothing in its dirs changes, a check is one stat of its work dir instead of
    # one per watched path. Never used on network or FUSE file systems; false: stats only.
    kernel_watches: bool = True
    # A new process checks a run that settled with the stats of what can still change (its work
    # dir, its newest log, its unfinished epoch) and reuses the stored progress; an in-place rewrite
    # of an old epoch's file alone then needs --refresh (force_refresh). false: every stat.
    quick_check: bool = True
    # Comparing runs (runwatch compare, the page's compare panel): per-datapoint scores read into
    # columns are kept in memory up to this many MB per process (the server's memory for them).
    compare_cache_mb: int = 256
    # The same columns kept on disk in <cache_dir>/datapoints up to this many MB, least recently
    # used removed first (0 turns the disk cache off).
    compare_disk_cache_mb: int = 2048

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
        key = (self.cache_dir, os.fspath(root))
        hit = _CACHE_DIRS.get(key)
        if hit is None:
            p = Path(os.path.expanduser(self.cache_dir))
            hit = _CACHE_DIRS[key] = p if p.is_absolute() else Path(root) / p
        return hit


# (cache_dir setting, root) -> the resolved cache dir: asked for per run by the evidence step.
# (``~`` is expanded once: a process whose HOME changes keeps the first answer until reset.)
_CACHE_DIRS: LRUCache[tuple[str, str], Path] = STATE.table("settings.cache_dirs", lambda: LRUCache(maxsize=256))


_TUPLE_FIELDS = {f.name for f in fields(Settings) if f.type.startswith("tuple")}
_INT_FIELDS = {"sleep_time", "outdated_days", "workers", "stall_floor", "stall_default", "compare_cache_mb", "compare_disk_cache_mb"}
_FLOAT_FIELDS = {"stall_factor"}
_BOOL_FIELDS = {"runs_local", "slurm", "slurm_all_users", "exec_configs", "tmux_output", "watch_finished_epochs", "kernel_watches", "quick_check"}
_ALIASES = {
    "configs_root": "configs_dir",
    "logs_root": "logs_dir",
    "epoch_dir": "epoch_dir_pattern",
}


def find_settings_file(root: str | os.PathLike[str]) -> tuple[Path, bool] | None:
    """The settings file of a project root and whether it is a pyproject table."""
    found = settings_source.find_settings_file(root)
    return None if found is None else (Path(found[0]), found[1])


_read_settings_file = settings_source.read_settings_file


# The values ``layout`` may take: "auto" and every layout of the registry (runwatch.layouts, which
# declares them when imported; importing runwatch imports it).
_LAYOUT_NAMES: tuple[str, ...] = ("auto",)


def declare_layouts(names: tuple[str, ...]) -> None:
    """The registry's layout names, for validating the ``layout`` setting."""
    global _LAYOUT_NAMES
    _LAYOUT_NAMES = tuple(names)


def load_settings(root: str | os.PathLike[str] = ".", **overrides: Any) -> Settings:
    """Settings for a project root: defaults, then the settings file, then overrides.

    Raises SettingsError naming the file for malformed TOML, unknown keys or wrong types,
    because a silently ignored typo in a layout setting makes every run look failed.
    """
    found = settings_source.find_settings_file(root)
    if found is None:
        return settings_from_bytes(None, None, **overrides)
    path = found[0]
    try:
        data = _read_settings_file(path)
    except OSError as e:
        raise SettingsError(f"{path}: cannot read settings: {e}") from e
    return settings_from_bytes(path, data, **overrides)


def settings_from_bytes(path: str | None, data: bytes | None, **overrides: Any) -> Settings:
    """Settings from a settings file's bytes (``path`` None: no file; a ``pyproject.toml`` holds its
    ``[tool.runwatch]`` table), then overrides: what ``load_settings`` makes of that file."""
    values: dict[str, Any] = {}
    if path is not None and data is not None:
        try:
            parsed = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as e:
            raise SettingsError(f"{path}: cannot read settings: {e}") from e
        if os.path.basename(path) != SETTINGS_FILE:
            parsed = parsed.get("tool", {}).get("runwatch", {})
        values = _validate(parsed, Path(path))
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
        if name == "notify":  # the [notify] table, checked key by key
            out[name] = _validate_notify(value, path)
            continue
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
        elif name in _FLOAT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SettingsError(f"{path}: setting {key!r} must be a positive number, got {value!r}")
            value = float(value)
        elif name == "collector_token" and not isinstance(value, str):
            raise SettingsError(f"{path}: setting {key!r} must be a string, got {value!r}")
        elif name == "collector_token" and value and (len(value) < MIN_TOKEN_LENGTH or not all("!" <= c <= "~" for c in value)):
            raise SettingsError(
                f"{path}: setting {key!r} must be at least {MIN_TOKEN_LENGTH} printable characters without spaces (it guards the collector), got {len(value)}"
            )
        elif name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise SettingsError(f"{path}: setting {key!r} must be true or false, got {value!r}")
        elif name == "progress_json" and value not in ("off", "missing", "full", "legacy"):
            raise SettingsError(f"{path}: setting {key!r} must be one of off, missing (full, legacy: older names of missing); got {value!r}")
        elif name == "layout" and value not in _LAYOUT_NAMES:
            raise SettingsError(f"{path}: setting {key!r} must be one of {', '.join(_LAYOUT_NAMES)}; got {value!r}")
        elif name == "epoch_dir_pattern" and (not isinstance(value, str) or "{n}" not in value):
            raise SettingsError(f"{path}: setting {key!r} must contain '{{n}}', got {value!r}")
        out[name] = value
    return out


def _strings(value: Any, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{path}: setting {key!r} must be a list of strings, got {value!r}")
    return tuple(value)


def _statuses(value: Any, path: Path, key: str) -> tuple[str, ...]:
    out = _strings(value, path, key)
    bad = [s for s in out if s not in NOTIFY_STATUSES]
    if bad:
        raise SettingsError(f"{path}: setting {key!r}: unknown status {', '.join(map(repr, bad))}; known: {', '.join(NOTIFY_STATUSES)}")
    return out


def _commands(value: Any, path: Path, key: str) -> tuple[tuple[str, ...], ...]:
    """Each command a string (split as a shell would, run without one) or a list of strings."""
    import shlex

    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise SettingsError(f"{path}: setting {key!r} must be a list of commands, got {value!r}")
    out = []
    for c in value:
        if isinstance(c, str):
            try:
                argv = tuple(shlex.split(c))
            except ValueError as e:
                raise SettingsError(f"{path}: setting {key!r}: cannot split command {c!r} ({e})") from None
        elif isinstance(c, list | tuple) and all(isinstance(a, str) for a in c):
            argv = tuple(c)
        else:
            raise SettingsError(f"{path}: setting {key!r}: each command must be a string or a list of strings, got {c!r}")
        if not argv:
            raise SettingsError(f"{path}: setting {key!r}: empty command")
        out.append(argv)
    return tuple(out)


def _number(value: Any, path: Path, key: str, *, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (integer and value != int(value)):
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise SettingsError(f"{path}: setting {key!r} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


_NOTIFY_KEYS = ("urls", "on", "commands", "command_timeout", "route", "dashboard_url", "digest_seconds", "flap_limit", "flap_window")
_ROUTE_KEYS = ("match", "urls", "on", "commands")


def _validate_notify(data: Any, path: Path) -> NotifySettings:
    """The ``[notify]`` table; every error names the file and the dotted key."""
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: setting 'notify' must be a table ([notify]), got {data!r}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        dotted = f"notify.{key}"
        if name not in _NOTIFY_KEYS:
            raise SettingsError(f"{path}: unknown setting {dotted!r}; known: {', '.join('notify.' + k for k in _NOTIFY_KEYS)}")
        if name == "urls":
            values[name] = _strings(value, path, dotted)
        elif name == "on":
            values[name] = _statuses(value, path, dotted)
        elif name == "commands":
            values[name] = _commands(value, path, dotted)
        elif name in ("command_timeout", "digest_seconds", "flap_window"):
            values[name] = _number(value, path, dotted)
        elif name == "flap_limit":
            values[name] = _number(value, path, dotted, integer=True)
        elif name == "dashboard_url":
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise SettingsError(f"{path}: setting {dotted!r} must be an http:// or https:// URL, got {value!r}")
            values[name] = value
        else:  # route
            if isinstance(value, dict):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise SettingsError(f"{path}: setting {dotted!r} must be a list of tables ([[notify.route]]), got {value!r}")
            values["routes"] = tuple(_validate_route(r, path, f"{dotted}[{i}]") for i, r in enumerate(value))
    return NotifySettings(**values)


def _validate_route(data: dict[str, Any], path: Path, where: str) -> NotifyRoute:
    unknown = [k for k in data if k not in _ROUTE_KEYS]
    if unknown:
        raise SettingsError(f"{path}: unknown setting '{where}.{unknown[0]}'; known: {', '.join(_ROUTE_KEYS)}")
    match = data.get("match")
    if not isinstance(match, str) or not match.strip():
        raise SettingsError(f"{path}: setting '{where}.match' (a run-name prefix or glob) is required, got {match!r}")
    return NotifyRoute(
        match=match.strip(),
        urls=_strings(data.get("urls", ()), path, f"{where}.urls"),
        on=_statuses(data["on"], path, f"{where}.on") if "on" in data else None,
        commands=_commands(data.get("commands", ()), path, f"{where}.commands"),
    )
