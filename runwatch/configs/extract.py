"""Turn an evaluated ``config`` value into the facts tracking needs.

Shared by the static reader and ``--exec-configs`` mode so both answer the same
questions the same way: runner and kind, epochs, early stopping, metric and its
directions (sources, then settings, then a flagged name heuristic), work_dir.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.facts import ConfigFacts, StageFacts
from runwatch.configs.sources import SourceResolver, kind_from_name
from runwatch.configs.values import (
    Call,
    ExecClass,
    LocalClass,
    ModuleRef,
    Ref,
    Unknown,
    dotted_name,
    force_deep,
    force_slot,
)
from runwatch.settings import Settings

_CLASSLIKE = (Ref, ModuleRef, LocalClass, ExecClass)


def build_facts(
    path: str,
    config: Any,
    resolver: SourceResolver,
    settings: Settings,
    taint_reason: Any = None,
    line: int = 0,
) -> ConfigFacts:
    """Facts for a module-level ``config`` value; ``taint_reason(obj)`` says if a dict may hide keys."""
    facts = ConfigFacts(path=path)
    if isinstance(config, Unknown):
        facts.error = f"{path}:{line}: `config` cannot be determined statically: {config.reason}"
        return facts
    if isinstance(config, dict):
        stages = [config]
    elif isinstance(config, list | tuple) and config and all(isinstance(s, dict) for s in config):
        stages = list(config)
        facts.is_multi_stage = True
    else:
        facts.error = f"{path}:{line}: `config` is a {type(config).__name__}, expected a dict or a list of stage dicts"
        return facts
    stage_warnings: list[str] = []
    for i, stage in enumerate(stages):
        label = f"stage {i}: " if facts.is_multi_stage else ""
        facts.stages.append(_stage(stage, resolver, settings, stage_warnings, label))
        reason = taint_reason(stage) if taint_reason is not None else None
        if reason:
            facts.warnings.append(f"{path}: {label}config may hold keys not visible statically: {reason}")
    facts.warnings.extend(f"{path}: {w}" for w in stage_warnings + resolver.warnings)
    return facts


def _stage(stage: dict[Any, Any], resolver: SourceResolver, settings: Settings, warnings: list[str], label: str) -> StageFacts:
    sf = StageFacts(keys=tuple(k for k in stage if isinstance(k, str)))

    runner = _get(stage, "runner")
    if isinstance(runner, dict) and "class" in runner:  # {'class': X, 'args': ...} spelling
        runner = force_slot(runner, "class")
    if isinstance(runner, Call) and dotted_name(runner.func) == "functools.partial" and runner.args:
        runner = runner.args[0]
    if isinstance(runner, _CLASSLIKE):
        sf.runner = resolver.class_ref(runner)
        sf.runner_kind = resolver.kind(runner)
        if sf.runner_kind is None:
            warnings.append(f"{label}runner {sf.runner} is neither a *Trainer nor an *Evaluator; kind unknown")
    elif isinstance(runner, Unknown):
        warnings.append(f"{label}runner unknown: {runner.reason}")
    elif runner is not None:
        warnings.append(f"{label}runner is a {type(runner).__name__}, not a class reference")

    sf.epochs = _count(stage, "epochs", warnings, label)

    es = force_deep(_get(stage, "early_stopping"))
    if isinstance(es, dict):
        args = es.get("args", {})
        if isinstance(args, dict):
            enabled = args.get("enabled", True)
            if isinstance(enabled, bool):
                sf.early_stopping_enabled = enabled
            else:
                warnings.append(f"{label}early_stopping enabled flag unknown: {_why(enabled)}")
            sf.early_stopping_patience = _count(args, "epochs", warnings, label + "early_stopping ")
        else:
            warnings.append(f"{label}early_stopping args unknown: {_why(args)}")
    elif isinstance(es, Unknown):
        warnings.append(f"{label}early_stopping unknown: {es.reason}")

    work_dir = _get(stage, "work_dir")
    if isinstance(work_dir, str):
        sf.work_dir = work_dir
    elif work_dir is not None:
        warnings.append(f"{label}work_dir unknown: {_why(work_dir)}")

    metric = force_deep(_get(stage, "metric"))  # sources read its args (wrapper metrics)
    metric_class: Any = None
    metric_args: Any = None
    if isinstance(metric, dict):
        metric_class = metric.get("class")
        metric_args = metric.get("args")
    elif isinstance(metric, _CLASSLIKE):
        metric_class = metric
    elif isinstance(metric, Unknown):
        warnings.append(f"{label}metric unknown: {metric.reason}")
    if isinstance(metric_class, _CLASSLIKE):
        sf.metric = resolver.class_ref(metric_class)
        directions = resolver.directions(metric_class, metric_args)
        if directions:
            sf.directions, sf.directions_source = directions, "source"
    if sf.directions is None and sf.metric is not None:
        from_settings = settings.directions.get(sf.metric.dotted, settings.directions.get(sf.metric.name))
        if isinstance(from_settings, dict) and from_settings:
            sf.directions, sf.directions_source = from_settings, "settings"
    if sf.directions is None and (sf.metric is not None or sf.early_stopping_enabled):
        sf.directions_source = "heuristic"
        what = f"metric {sf.metric}" if sf.metric is not None else "this config (no metric)"
        warnings.append(
            f"{label}no DIRECTIONS found for {what} in the project sources or settings; "
            "directions will be guessed from score key names (runwatch.configs.heuristic_directions)"
        )
    if sf.runner_kind is None and sf.runner is not None:
        sf.runner_kind = kind_from_name(sf.runner.name)
    return sf


def _count(d: dict[Any, Any], key: str, warnings: list[str], label: str) -> int | None:
    if key not in d:
        return None
    v = force_slot(d, key)
    if isinstance(v, bool):
        warnings.append(f"{label}{key} is a bool, not a count")
        return None
    if isinstance(v, int) and v >= 0:
        return v
    if isinstance(v, float) and v.is_integer() and v >= 0:
        return int(v)
    if v is not None:
        warnings.append(f"{label}{key} unknown: {_why(v)}")
    return None


def _get(d: dict[Any, Any], key: str) -> Any:
    """``d.get(key)`` for tracked keys, evaluating a deferred dict-literal value (values.Lazy)."""
    return force_slot(d, key) if key in d else None


def _why(v: Any) -> str:
    return v.reason if isinstance(v, Unknown) else f"{type(v).__name__} value {str(v)[:60]}"
