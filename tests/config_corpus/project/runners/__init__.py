"""RUNNERS API (fake project source for runwatch's config reader tests)."""
import torch
from runners.trainers import SupervisedSingleTaskTrainer, BufferTrainer, CustomRunner
from runners.evaluators import BaseEvaluator
from runners.multi_stage_trainer import MultiStageTrainer

raise RuntimeError("runners was imported: the static reader must never import project sources")
