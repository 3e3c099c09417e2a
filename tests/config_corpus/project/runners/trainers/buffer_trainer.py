from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer as _Base


class BufferTrainer(_Base):
    BUFFER_SIZE = 8
