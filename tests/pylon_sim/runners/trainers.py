import json
import os
import threading

from runners.common import nap, pause_point, pt_bytes, scores_bytes, start_session, write_later

EXPECTED = ("training_losses.pt", "optimizer_buffer.json", "validation_scores.json")


class SupervisedSingleTaskTrainer:
    def __init__(self, config):
        self.config = config
        self.work_dir = config["work_dir"]
        self.tot_epochs = config["epochs"]
        self.sim = config.get("sim", {})
        es = config.get("early_stopping")
        directions = config["metric"]["class"].DIRECTIONS if "metric" in config else {}
        self.early_stopping = es["class"](**es["args"], directions=directions) if es else None

    def _finished_epochs(self):
        n = 0
        while all(os.path.isfile(p) and os.path.getsize(p) > 0 for p in (os.path.join(self.work_dir, f"epoch_{n}", f) for f in EXPECTED)):
            n += 1
        return n

    def _scores(self, epoch):
        seq = self.sim.get("scores", [])
        acc = seq[epoch] if epoch < len(seq) else (seq[-1] if seq else 0.5)
        return {"acc": acc, "loss": round(1.0 - acc, 4)}

    def _write_progress(self, completed, early_at=None):
        if self.sim.get("no_progress_json"):
            return  # an older trainer that writes none
        data = {
            "completed_epochs": completed,
            "progress_percentage": completed * 100.0 / self.tot_epochs,
            "early_stopped": early_at is not None,
            "early_stopped_at_epoch": early_at,
        }
        with open(os.path.join(self.work_dir, "progress.json"), "w") as f:  # in place, as Pylon does
            json.dump(data, f)

    def _link(self, name, epoch):
        path = os.path.join(self.work_dir, name)
        tmp = path + ".tmp"
        os.symlink(f"epoch_{epoch}/checkpoint.pt", tmp)
        os.replace(tmp, path)

    def run(self):
        self.logger = start_session(self.config, "train_val")
        self.cum_epochs = self._finished_epochs()  # resume from what the work dir holds
        iters = self.sim.get("iterations", 4)
        step = self.sim.get("step_s", 0.005)
        crash_at = os.environ.get("SIM_CRASH_AT_EPOCH")
        # Early stopping replays the finished epochs on resume.
        for e in range(self.cum_epochs):
            if self.early_stopping is not None:
                self.early_stopping.update(self._scores(e))
        after_val = None
        best = None
        nap(self.sim.get("first_batch_s", 0.0))  # data loading, model building: no line yet
        while self.cum_epochs < self.tot_epochs:
            # The main loop checks should_stop() before the previous epoch's
            # after-validation thread (which updates early stopping) has finished.
            if self.early_stopping is not None and self.early_stopping.should_stop():
                break
            if after_val is not None:
                after_val.join()
            epoch = self.cum_epochs
            if crash_at is not None and int(crash_at) == epoch:
                nap(step)
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            d = os.path.join(self.work_dir, f"epoch_{epoch}")
            os.makedirs(d, exist_ok=True)
            jitter = self.sim.get("jitter", [])
            slow = self.sim.get("first_epoch_step_s") if epoch == 0 else None
            for i in range(iters):
                nap((slow if slow is not None else step) + (jitter[i % len(jitter)] if jitter else 0.0))
                self.logger.flush(prefix=f"Training [Epoch {self.cum_epochs}/{self.tot_epochs}][Iteration {i}/{iters}].")
                pause_point(f"train:{epoch}:{i}")
            threads = [write_later(os.path.join(d, "training_losses.pt"), pt_bytes(epoch), step)]
            threads.append(write_later(os.path.join(d, "optimizer_buffer.json"), b"[]", step))
            if os.environ.get("SIM_CRASH_IN_VALIDATION") == str(epoch):
                nap(step)
                raise ValueError("validation batch has no 'labels'")
            if self.sim.get("silent_validation_s") is not None:
                nap(self.sim["silent_validation_s"])  # a validation that logs no line
            else:
                for i in range(iters):
                    nap(step)
                    self.logger.flush(prefix=f"Validation [Epoch {self.cum_epochs}/{self.tot_epochs}][Iteration {i}/{iters}].")
            scores = self._scores(epoch)
            threads.append(write_later(os.path.join(d, "validation_scores.json"), scores_bytes(scores, sim=self.sim, epoch=epoch), step))
            with open(os.path.join(d, "checkpoint.pt"), "wb") as f:
                f.write(pt_bytes(epoch))
            for t in threads:
                t.join()
            self._link("checkpoint_latest.pt", epoch)
            if best is None or scores["acc"] > best:
                best = scores["acc"]
                self._link("checkpoint_best.pt", epoch)
            self.cum_epochs += 1
            self._write_progress(self.cum_epochs)

            def after_validation(scores=scores, done=self.cum_epochs):
                nap(step * 4)  # slower than the main loop's check
                if self.early_stopping is not None and not self.early_stopping.should_stop():
                    if self.early_stopping.update(scores):
                        self.logger.info(f"Early stopping triggered after {done} epochs")

            after_val = threading.Thread(target=after_validation)
            after_val.start()
        if after_val is not None:
            after_val.join()
        if self.early_stopping is not None and self.early_stopping.should_stop() and self.cum_epochs < self.tot_epochs:
            self.logger.info(f"Training stopped early at epoch {self.cum_epochs}")
            self._write_progress(self.cum_epochs, early_at=self.cum_epochs)
        self.logger.info("Training finished.")
