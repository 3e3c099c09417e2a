import torch
from runners.trainers.base_trainer import BaseTrainer


class GANTrainer(BaseTrainer):
    pass


class CSA_CDGAN_Trainer(GANTrainer):
    pass
