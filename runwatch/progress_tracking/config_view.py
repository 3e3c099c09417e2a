"""Turn whatever config a caller has into ConfigFacts.

The plan's trackers take ``config: Dict`` (a loaded Pylon config, where ``runner`` is
a class object); runwatch's own callers pass ConfigFacts from the static reader.
Accepting both keeps old callers working without the trackers caring which it was.
"""

from __future__ import annotations

from typing import Any

from runwatch.configs.facts import ClassRef, ConfigFacts, RunnerKind, StageFacts

ConfigLike = ConfigFacts | dict[str, Any] | list[dict[str, Any]] | None


def kind_from_class_name(name: str | None) -> RunnerKind | None:
    """The class-name rule used when no project sources say otherwise."""
    if not name:
        return None
    if name.startswith("MultiStage") or "MultiStage" in name:
        return "multi_stage"
    if "Evaluator" in name:
        return "evaluator"
    if "Trainer" in name:
        return "trainer"
    return None


def _class_ref(value: Any) -> ClassRef | None:
    if value is None:
        return None
    if isinstance(value, ClassRef):
        return value
    if isinstance(value, type):
        return ClassRef(value.__module__, value.__qualname__)
    if isinstance(value, str):
        module, _, name = value.rpartition(".")
        return ClassRef(module or None, name)
    qualname = getattr(value, "__name__", None)
    return ClassRef(getattr(value, "__module__", None), qualname) if qualname else None


def _directions_of(metric: Any) -> dict[str, Any] | None:
    cls = metric.get("class") if isinstance(metric, dict) else None
    d = getattr(cls, "DIRECTIONS", None)
    return d if isinstance(d, dict) else None


def _stage_from_dict(d: dict[str, Any]) -> StageFacts:
    runner = _class_ref(d.get("runner"))
    epochs = d.get("epochs")
    es = d.get("early_stopping")
    enabled, patience = False, None
    if isinstance(es, dict):
        args = es.get("args", {}) if isinstance(es.get("args"), dict) else {}
        enabled = bool(args.get("enabled", True))
        p = args.get("epochs")
        patience = p if isinstance(p, int) and not isinstance(p, bool) else None
    metric = d.get("metric")
    metric_ref = _class_ref(metric.get("class")) if isinstance(metric, dict) else None
    directions = _directions_of(metric)
    return StageFacts(
        runner=runner,
        runner_kind=kind_from_class_name(runner.name if runner else None),
        epochs=epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
        early_stopping_enabled=enabled and patience is not None,
        early_stopping_patience=patience,
        metric=metric_ref,
        directions=directions,
        directions_source="source" if directions else None,
        work_dir=d.get("work_dir") if isinstance(d.get("work_dir"), str) else None,
        keys=tuple(str(k) for k in d.keys()),
    )


def as_config_facts(config: ConfigLike, path: str = "<config>") -> ConfigFacts | None:
    """ConfigFacts for a dict, a list of stage dicts, ConfigFacts (returned as is) or None."""
    if config is None or isinstance(config, ConfigFacts):
        return config
    if isinstance(config, dict):
        return ConfigFacts(path=path, stages=[_stage_from_dict(config)])
    if isinstance(config, list | tuple):
        stages = [_stage_from_dict(s) for s in config if isinstance(s, dict)]
        return ConfigFacts(path=path, stages=stages, is_multi_stage=True)
    raise TypeError(f"config must be a dict, a list of stage dicts or ConfigFacts, got {type(config).__name__}")
