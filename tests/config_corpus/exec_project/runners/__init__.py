"""Importable fake runners (no torch) for the --exec-configs tests."""


class BaseTrainer:
    pass


class LoopTrainer(BaseTrainer):
    pass


class RatioMetric:
    DIRECTIONS = {"ratio_error": -1, "hits": 1}
