from .base_trainer import BaseTrainer


class SupervisedMultiTaskTrainer(BaseTrainer):
    pass
