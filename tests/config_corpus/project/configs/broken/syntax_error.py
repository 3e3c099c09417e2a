import torch
from runners.trainers import SupervisedSingleTaskTrainer

config = {
    'runner': SupervisedSingleTaskTrainer,
    'epochs': 10,
    'work_dir': './logs/x'
    'metric': None,,
}
