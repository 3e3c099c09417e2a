"""A stdlib stand-in for Pylon's ``agents/launcher/remote_command.py``.

Runs the job's command, streams its output, and on a non-zero exit POSTs
``{host, timestamp, command, output_lines, work_dir}`` with ``Authorization: Bearer <token>``
to the collector URL, as the launcher does.

    python remote_command.py --collector URL --token T --work-dir ./logs/x -- python main.py --config-filepath ./configs/x.py
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--collector", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
        del lines[:-200]
    rc = proc.wait()
    if rc != 0:
        body = json.dumps(
            {"host": socket.gethostname(), "timestamp": time.time(), "command": " ".join(cmd), "output_lines": lines, "work_dir": args.work_dir}
        ).encode()
        req = urllib.request.Request(
            args.collector, data=body, method="POST", headers={"content-type": "application/json", "authorization": f"Bearer {args.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
    return rc


if __name__ == "__main__":
    sys.exit(main())
