from runners.evaluators.base_evaluator import BaseEvaluator
from runners.evaluators.base_evaluator import BaseEvaluator as Evaluator
