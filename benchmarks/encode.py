"""The big documents' encoder: the standard library against ``runwatch.json_out`` (orjson), on a real document.

The document is what ``runwatch status --json`` prints for a project (every run's record,
the summary), re-encoded the ways runwatch writes it: indented and ASCII-only (the CLI),
compact (``/api/runs``, the WebSocket snapshot). Best of ``--repeat`` each, same process.

    python benchmarks/encode.py --tree /tmp/runwatch-bench/tree-10000-v3/project
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from run import best_of as best  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-m", "runwatch.cli", "status", "--json", "--root", args.tree, "--no-ssh"], capture_output=True, text=True, env=env)
    doc = json.loads(out.stdout)
    from runwatch import json_out

    rows = [
        ("CLI --json (indent 2, ASCII)", lambda: json.dumps(doc, indent=2, allow_nan=False), lambda: json_out.dumps(doc, indent=True, ascii=True)),
        (
            "/api/runs, WebSocket snapshot (compact)",
            lambda: json.dumps(doc, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode(),
            lambda: json_out.dumps_bytes(doc),
        ),
    ]
    print(f"{len(doc['runs']):,} runs, {len(json.dumps(doc, indent=2)) / 1e6:.1f} MB indented")
    print("| document | json (s) | json_out (s) | speed-up |")
    print("|---|---:|---:|---:|")
    for name, std, fast in rows:
        assert json.loads(std()) == json.loads(fast())
        a, b = best(std, args.repeat), best(fast, args.repeat)
        print(f"| {name} | {a:.3f} | {b:.3f} | {a / b:.1f}x |")


if __name__ == "__main__":
    main()
