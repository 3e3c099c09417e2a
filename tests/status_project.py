"""A small Pylon project whose runs are real processes of the toy trainer (tests/pylon_toy/main.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from runwatch.testing.generator import write_project_sources

TOY = Path(__file__).parent / "pylon_toy" / "main.py"
ROOT = Path(__file__).parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

CONFIG = """from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer
from metrics.semantic_segmentation_metric import SemanticSegmentationMetric

config = {{
    'runner': SupervisedSingleTaskTrainer,
    'work_dir': './logs/{rel}',
    'epochs': {epochs},
    'metric': {{'class': SemanticSegmentationMetric, 'args': {{}}}},
    'toy': {toy!r},
}}
"""

SETTINGS = """stall_floor = 1
stall_default = 30
tmux_output = false
output_globs = ["out/{name}.log"]
"""


class ToyProject:
    def __init__(self, root: Path, settings: str = SETTINGS) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        write_project_sources(str(root))
        shutil.copy(TOY, root / "main.py")
        (root / "runwatch.toml").write_text(settings)
        (root / "out").mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def config(self, rel: str, epochs: int = 3, **toy: Any) -> str:
        path = self.root / "configs" / f"{rel}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CONFIG.format(rel=rel, epochs=epochs, toy=toy))
        return str(path)

    def launch(self, rel: str) -> subprocess.Popen[bytes]:
        """``python main.py --config-filepath ./configs/<rel>.py``, output to out/<name>.log (as a launcher would)."""
        out = open(self.root / "out" / f"{rel.rsplit('/', 1)[-1]}.log", "wb")
        p = subprocess.Popen([sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"], cwd=self.root, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(p)
        return p

    def work_dir(self, rel: str) -> Path:
        return self.root / "logs" / rel

    def wait_epochs(self, rel: str, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        f = self.work_dir(rel) / f"epoch_{n - 1}" / "validation_scores.json"
        while not f.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{rel}: epoch {n - 1} not written within {timeout}s")
            time.sleep(0.05)

    def api(self, rel: str, **kw: Any) -> Any:
        from runwatch import get_all_run_status

        cfg = str(self.root / "configs" / f"{rel}.py")
        return get_all_run_status([cfg], root=str(self.root), **kw)[cfg]

    def cli(self, rel: str, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        r = subprocess.run(
            [sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", str(self.root), *extra, f"configs/{rel}.py"],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=dict(env or os.environ, PYTHONPATH=ENV["PYTHONPATH"]),
            timeout=60,
            check=False,
        )
        assert r.returncode in (0, 1), r.stderr
        doc = json.loads(r.stdout)
        (run,) = [x for x in doc["runs"] if x["run"] == rel]
        return run

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, 18)  # SIGCONT: a stopped child cannot die of SIGKILL's wait otherwise
                except OSError:
                    pass
                p.kill()
            p.wait(timeout=10)
