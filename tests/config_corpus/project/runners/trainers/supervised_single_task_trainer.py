import torch
from runners.trainers.base_trainer import BaseTrainer


class SupervisedSingleTaskTrainer(BaseTrainer):
    def _train_epoch_(self):
        return torch.zeros(1)
