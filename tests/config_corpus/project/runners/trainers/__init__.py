from runners.trainers.base_trainer import BaseTrainer
from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer
from .supervised_multi_task_trainer import SupervisedMultiTaskTrainer
from .multi_val_dataset_trainer import MultiValDatasetTrainer
from .gan_trainers import *
from .buffer_trainer import BufferTrainer as BufferTrainer
from .custom_runner import CustomRunner

__all__ = ('BaseTrainer', 'SupervisedSingleTaskTrainer', 'SupervisedMultiTaskTrainer', 'MultiValDatasetTrainer')
