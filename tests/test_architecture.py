"""Layering and import weight: data flows one way, and the core stays light."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "runwatch")

# Lower number = lower layer. A module may import only from its own layer or below.
LAYERS = {
    "runwatch.settings": 0,
    "runwatch.layout": 0,
    "runwatch.process_info": 0,
    "runwatch.sharing": 0,
    "runwatch.state": 0,
    "runwatch.forking": 0,
    "runwatch.notify_targets": 0,
    "runwatch.readers": 1,
    "runwatch.configs": 1,
    "runwatch.progress_tracking": 2,
    "runwatch.layouts": 2,
    "runwatch.run_status": 3,
    "runwatch.view_model": 3,
    "runwatch.processes": 4,
    "runwatch.testing": 4,
    "runwatch.live": 5,
    "runwatch.server": 6,
    "runwatch.hub": 7,
    "runwatch.demo": 8,
    "runwatch.cli": 8,
}


def layer_of(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best[1] if best else None


def modules():
    for dirpath, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    rel = rel[: -len(".__init__")]
                yield rel, path


def test_lower_layers_never_import_higher_ones():
    violations = []
    for mod, path in modules():
        own = layer_of(mod)
        if own is None:
            continue
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if not n.startswith("runwatch"):
                    continue
                other = layer_of(n)
                if other is not None and other > own:
                    violations.append(f"{mod} (layer {own}) imports {n} (layer {other}) at line {node.lineno}")
    assert not violations, "\n".join(violations)


def test_core_import_is_light():
    code = (
        "import sys, runwatch; "
        "heavy = [m for m in ('torch', 'starlette', 'uvicorn', 'asyncssh', 'watchfiles', 'rich', 'psutil', 'pynvml', 'numpy', 'apprise') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"importing runwatch pulled in: {out.stdout.strip()}"


def test_public_api_reexported():
    import runwatch

    for name in ("ProgressInfo", "BaseProgressTracker", "create_progress_tracker", "detect_runner_type",
                 "get_run_status", "get_all_run_status", "RunStatus", "ProcessInfo", "get_session_progress",
                 "check_epoch_finished", "get_log_last_update", "get_epoch_last_update"):
        assert hasattr(runwatch, name), name
    assert set(runwatch.__all__) <= set(dir(runwatch))
