import torch


class BaseEvaluator:
    def run(self):
        torch.cuda.synchronize()


class PointCloudRegistrationRunner(BaseEvaluator):
    """Named like neither kind; an evaluator by inheritance."""
