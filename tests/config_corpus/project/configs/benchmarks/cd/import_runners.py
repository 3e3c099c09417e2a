import os
import torch
import runners
import metrics.vision_2d.semantic_segmentation_metric
open(os.path.join(os.environ.get('RUNWATCH_MARKER_DIR', os.getcwd()), 'EXECUTED-' + os.path.basename(__file__)), 'w').close()  # proves execution if it ever happens

config = {
    'runner': runners.BufferTrainer,
    'work_dir': os.path.join('./logs', 'benchmarks', 'cd', 'import_runners'),
    'epochs': 2 * 20,
    'metric': {'class': metrics.vision_2d.semantic_segmentation_metric.LabelSmoothedSegmentationMetric, 'args': {}},
}
