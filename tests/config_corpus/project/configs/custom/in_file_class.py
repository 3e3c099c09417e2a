import os
import torch
from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens


class ShortcutTrainer(SupervisedSingleTaskTrainer):
    def _train_epoch_(self):
        raise RuntimeError("never called")


class LocalRunner(SupervisedSingleTaskTrainer):
    pass


class LocalMetric:
    DIRECTIONS = {'mae': -1, 'nested': {'psnr': 1}}


class DerivedMetric(LocalMetric):
    pass


config = {
    'runner': LocalRunner,
    'epochs': 12,
    'metric': {'class': DerivedMetric, 'args': {}},
}
