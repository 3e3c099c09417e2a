from metrics.base_metric import BaseMetric


class MultiTaskMetric(BaseMetric):
    # DIRECTIONS is built per instance from the task metric configs.
    def __init__(self, metric_configs):
        self.DIRECTIONS = {}
