class BaseMetric:
    pass


class SingleTaskMetric(BaseMetric):
    pass
