from metrics.base_metric import SingleTaskMetric


class HybridMetric(SingleTaskMetric):
    def __init__(self, metrics_cfg):
        self.DIRECTIONS = {}
