from runners.trainers.base_trainer import BaseTrainer


class MultiStageTrainer(BaseTrainer):
    pass
