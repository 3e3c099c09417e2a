import abc
import torch


class BaseTrainer(abc.ABC):
    def __init__(self, config, device=torch.device('cuda')):
        self.config = config

    @abc.abstractmethod
    def _train_epoch_(self):
        raise NotImplementedError
