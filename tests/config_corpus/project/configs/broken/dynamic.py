import os
import random
import torch
from runners.trainers import SupervisedSingleTaskTrainer
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {'runner': SupervisedSingleTaskTrainer, 'epochs': 10, 'seeds': []}
for i in range(5):
    config['seeds'].append(i * 2)
if os.environ.get('LONG_RUN'):
    config['epochs'] = 100
config['lr'] = random.random()
