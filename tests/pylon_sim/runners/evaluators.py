import os

from runners.common import nap, pause_point, scores_bytes, start_session


class BaseEvaluator:
    def __init__(self, config):
        self.config = config
        self.work_dir = config["work_dir"]
        self.sim = config.get("sim", {})

    def run(self):
        logger = start_session(self.config, "eval")
        n = self.sim.get("iterations", 8)
        for k in range(n):
            nap(self.sim.get("step_s", 0.005))
            logger.flush(prefix=f"Evaluation [Iteration {k}/{n}].")
            pause_point(f"eval:{k}")
        with open(os.path.join(self.work_dir, "evaluation_scores.json"), "wb") as f:
            f.write(scores_bytes({"acc": self.sim.get("acc", 0.9), "loss": round(1.0 - self.sim.get("acc", 0.9), 4)}, sim=self.sim))
        logger.info("Evaluation finished.")
