from runners.trainers import supervised_single_task_trainer


class MultiValDatasetTrainer(supervised_single_task_trainer.SupervisedSingleTaskTrainer):
    pass
