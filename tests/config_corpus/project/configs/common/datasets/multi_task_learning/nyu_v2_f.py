import os
import torch
import data
from metrics.wrappers import MultiTaskMetric
from metrics.vision_2d import DepthEstimationMetric
from metrics.vision_2d.depth_estimation_metric import SurfaceNormalMetric
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'train_dataset': {
        'class': data.datasets.NYUv2Dataset,
        'args': {'data_root': './data/datasets/soft_links/NYUD_MT', 'split': 'train', 'device': torch.device('cuda')},
    },
    'train_dataloader': {'class': torch.utils.data.DataLoader, 'args': {'batch_size': 4, 'num_workers': 4}},
    'criterion': None,
    'metric': {
        'class': MultiTaskMetric,
        'args': {
            'metric_configs': {
                'depth_estimation': {'class': DepthEstimationMetric, 'args': {}},
                'normal_estimation': {'class': SurfaceNormalMetric, 'args': {}},
            },
        },
    },
    'epochs': 100,
}
