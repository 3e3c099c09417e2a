"""Hand-written mutants of the ETA lines (trainer_progress_tracker.py), each run against the ETA tests.

mutmut over the whole trainer tracker takes longer than the suite's budget on a shared 2-core machine
(about 1,000 mutants of one large function); these are the mutants of the lines that compute the ETA,
applied one at a time to a temporary copy of the package. Run from the repository root:

    python3 benchmarks/eta_mutants.py

Prints each mutant and whether tests/test_status_rules.py (-k eta) killed it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

FILE = "runwatch/progress_tracking/trainer_progress_tracker.py"
MUTANTS = [
    ("ETA_WINDOW = 5", "ETA_WINDOW = 4"),
    ("ETA_WINDOW = 5", "ETA_WINDOW = 6"),
    ("if not early and total is not None and completed < total:", "if not early and total is not None and completed <= total:"),
    ("if not early and total is not None and completed < total:", "if total is not None and completed < total:"),
    ("r.index < completed and r.duration is not None][-ETA_WINDOW:]", "r.index <= completed and r.duration is not None][-ETA_WINDOW:]"),
    ("[-ETA_WINDOW:]", "[ETA_WINDOW:]"),
    ("eta = sum(recent) / len(recent) * (total - completed)", "eta = sum(recent) / len(recent) * (total - completed - 1)"),
    ("eta = sum(recent) / len(recent) * (total - completed)", "eta = sum(recent) / len(recent) * (total - completed + 1)"),
    ("eta = sum(recent) / len(recent) * (total - completed)", "eta = sum(recent) / (len(recent) + 1) * (total - completed)"),
    ("eta = sum(recent) / len(recent) * (total - completed)", "eta = max(recent) * (total - completed)"),
    ("r.duration = max(r.finish_time - prev, 0.0)", "r.duration = max(r.finish_time - prev, 1.0)"),
]


def main() -> int:
    root = os.getcwd()
    killed = 0
    for old, new in MUTANTS:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(root, "runwatch"), os.path.join(tmp, "runwatch"))
            shutil.copytree(os.path.join(root, "tests"), os.path.join(tmp, "tests"))
            path = os.path.join(tmp, FILE)
            text = open(path).read()
            assert old in text, old
            open(path, "w").write(text.replace(old, new, 1))
            r = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/test_status_rules.py", "-k", "eta"],
                cwd=tmp,
                env=dict(os.environ, PYTHONPATH=tmp),
                capture_output=True,
                text=True,
            )
            status = "killed" if r.returncode != 0 else "SURVIVED"
            killed += r.returncode != 0
            print(f"{status:8} {old!r} -> {new!r}")
    print(f"{killed}/{len(MUTANTS)} killed")
    return 0 if killed == len(MUTANTS) else 1


if __name__ == "__main__":
    sys.exit(main())
