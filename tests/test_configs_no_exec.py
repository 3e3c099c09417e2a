"""Reading the whole corpus runs none of its code, with torch (and the framework) absent."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

CORPUS = Path(__file__).parent / "config_corpus" / "project"


def test_corpus_read_with_torch_unimportable_runs_no_config_code(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(CORPUS, root)
    markers = tmp_path / "markers"
    markers.mkdir()
    code = textwrap.dedent(
        """
        import json, os, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "runners", "metrics", "configs", "data"):
                    raise ImportError("blocked by the test: " + name)
        sys.meta_path.insert(0, Block())
        sys.modules["torch"] = None
        try:
            import torch
            raise SystemExit("torch importable")
        except ImportError:
            pass
        from runwatch.configs import read_configs
        from pathlib import Path
        paths = sorted(str(p) for p in Path("configs").rglob("*.py"))
        facts = read_configs(paths)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("runners", "metrics", "configs", "data"))
        print(json.dumps({"n": len(paths), "leaked": leaked,
                          "kinds": {p: f.runner_kind for p, f in facts.items()},
                          "errors": {p: f.error for p, f in facts.items() if f.error}}))
        """
    )
    env = {"RUNWATCH_MARKER_DIR": str(markers), "PATH": "/usr/bin:/bin"}
    import os

    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] >= 20
    assert result["leaked"] == []
    assert list(markers.iterdir()) == []
    assert list(root.glob("EXECUTED-*")) == []
    assert result["kinds"]["configs/benchmarks/cd/package_reexport.py"] == "trainer"
    assert result["kinds"]["configs/evaluators/eval_registration.py"] == "evaluator"
    assert result["kinds"]["configs/multi_stage/two_stage.py"] == "multi_stage"
    assert set(result["errors"]) == {
        "configs/broken/syntax_error.py",
        "configs/broken/no_config.py",
        "configs/broken/config_not_dict.py",
    }
