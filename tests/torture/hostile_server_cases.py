"""Before/after figures of the server, hub, config and log classes of issue 25, in one process.

    python tests/torture/hostile_server_cases.py            # this checkout (run from anywhere)
    PYTHONPATH=/path/to/older/checkout python tests/torture/hostile_server_cases.py

Run by path (not ``-m``), so that the ``runwatch`` imported is the one on PYTHONPATH. Each line
is one case and what happened; docs/RELIABILITY.md quotes them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MiB = 1 << 20
TOKEN = "collector-token-0123456789"
SECRET = "TOPSECRET-a-file-outside-the-project"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def project(tmp: str, token: str = TOKEN) -> str:
    from runwatch.testing import generate_tree

    tree = generate_tree(os.path.join(tmp, "proj"), n_runs=13, seed=1, max_epochs=8, n_points=4, n_seeds=8)
    with open(os.path.join(tree.root, "runwatch.toml"), "a") as f:
        f.write(f'collector_token = "{token}"\n')
    return tree.root


def post(url: str, body: bytes) -> int | str:
    req = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return type(e).__name__


def chunked(host: str, port: int, total: int) -> tuple[int | str, float]:
    s = socket.create_connection((host, port), timeout=120)
    s.sendall(f"POST /api/collector HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"[" * MiB
    sent = 0
    t = time.monotonic()
    try:
        while sent < total:
            s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    s.settimeout(120)
    try:
        answer = s.recv(4096)
        code: int | str = int(answer.split()[1]) if answer else "closed"
    except OSError as e:
        code = type(e).__name__
    s.close()
    return code, time.monotonic() - t


class Endless(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        try:
            self.wfile.write(b'{"a": "')
            for _ in range(512):
                self.wfile.write(b"x" * MiB)
            self.wfile.write(b'"}')
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    import runwatch
    from runwatch.server import BackgroundServer

    print(f"runwatch from {os.path.dirname(runwatch.__file__)}")
    tmp = tempfile.mkdtemp(prefix="rw-hostile-")
    try:
        root = project(tmp)
        # A log linked to a file outside the project.
        outside = os.path.join(tmp, "outside")
        os.makedirs(outside)
        secret = os.path.join(outside, "id_rsa")
        with open(secret, "w") as f:
            f.write(f"{SECRET}\nTraceback (most recent call last):\nRuntimeError: {SECRET}\n")
        logs = os.path.join(root, "logs")
        run_dir = next(os.path.join(d, n) for d, ds, fs in os.walk(logs) for n in fs if n.startswith("train") and n.endswith(".log"))
        rel = os.path.relpath(os.path.dirname(run_dir), logs)
        os.unlink(run_dir)
        os.symlink(secret, run_dir)
        later = time.time() + 5
        os.utime(secret, (later, later))
        env = dict(os.environ)
        r = subprocess.run(
            [sys.executable, "-m", "runwatch.cli", "show", rel, "--json", "--no-local", "--root", root], capture_output=True, text=True, env=env, cwd=tmp
        )
        print(f"| log linked outside, `show --json` | {'the outside file served' if SECRET in r.stdout else 'not served'} |")
        # A link planted at the collector's own file.
        cache = os.path.join(root, ".runwatch-cache")
        os.makedirs(cache, exist_ok=True)
        victim = os.path.join(tmp, "victim.txt")
        with open(victim, "w") as f:
            f.write("untouched\n")
        os.symlink(victim, os.path.join(cache, "collector-events.jsonl"))
        with BackgroundServer(root, sweep_interval=3600) as srv:
            with urllib.request.urlopen(srv.base + "api/runs", timeout=60) as resp:
                runs = json.loads(resp.read())
            runs = runs["runs"] if isinstance(runs, dict) else runs
            rid = next(x["id"] for x in runs if x.get("run") == rel)
            with urllib.request.urlopen(srv.base + f"api/runs/{rid}", timeout=60) as resp:
                body = resp.read().decode()
            print(f"| log linked outside, `GET /api/runs/{{id}}` | {'the outside file served' if SECRET in body else 'not served'} |")
            url = srv.base + "api/collector"
            code = post(url, json.dumps({"command": "python main.py", "output_lines": ["x"]}).encode())
            with open(victim) as f:
                written = f.read() != "untouched\n"
            print(f"| collector append through a planted link | HTTP {code}, {'the outside file written' if written else 'outside file untouched'} |")
            os.unlink(os.path.join(cache, "collector-events.jsonl"))
            print(f"| nested JSON (100,000 levels) to the collector | HTTP {post(url, b'[' * 100_000 + b']' * 100_000)} |")
            print(f"| `work_dir: ../../..` to the collector | HTTP {post(url, json.dumps({'work_dir': '../../..', 'output_lines': ['x']}).encode())} |")
            host, port = srv.base.split("//")[1].rstrip("/").split(":")
            before = rss_mb()
            code, took = chunked(host, int(port), 512 * MiB)
            print(f"| chunked body of 512 MiB, no Content-Length | HTTP {code} after {took:.1f} s, server RSS +{rss_mb() - before:.0f} MB |")
        # Hub: an agent's endless answer.
        try:
            from runwatch.hub.subscriber import MAX_MESSAGE, _get_json

            httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            before = rss_mb()
            t = time.monotonic()
            got = _get_json(f"http://127.0.0.1:{httpd.server_address[1]}/api/runs/x", {}, 60)
            print(f"| hub reads a 512 MiB agent answer | {'parsed' if got else 'refused'} in {time.monotonic() - t:.1f} s, RSS +{rss_mb() - before:.0f} MB |")
            print(f"| hub WebSocket message limit | {MAX_MESSAGE // MiB} MiB |")
            httpd.shutdown()
        except ImportError as e:
            print(f"| hub | not importable ({e}) |")
        # collector_token of one character.
        one = os.path.join(tmp, "one")
        os.makedirs(one)
        with open(os.path.join(one, "runwatch.toml"), "w") as f:
            f.write('collector_token = "x"\n')
        from runwatch.settings import load_settings

        try:
            load_settings(one)
            print('| `collector_token = "x"` | accepted |')
        except Exception as e:
            print(f'| `collector_token = "x"` | refused ({type(e).__name__}) |')
        # Config semantics.
        from runwatch.configs.reader import read_config

        good = "from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer\nconfig = {'runner': SupervisedSingleTaskTrainer, 'epochs': 7}\n"
        for label, body in (
            (
                "`try: x = len(range(10**30))` / `except OverflowError: x = 0`, then `epochs = 8 + x`",
                "try:\n    x = len(range(10**30))\nexcept OverflowError:\n    x = 0\nconfig['epochs'] = 8 + x\n",
            ),
            ("bare `x = len(range(10**30))`, then `epochs = 9`", "x = len(range(10**30))\nconfig['epochs'] = 9\n"),
        ):
            cfg = os.path.join(root, "configs", "semantics.py")
            with open(cfg, "w") as f:
                f.write(good + body)
            facts = read_config(cfg, root=root, use_cache=False)
            print(f"| {label} | epochs {facts.epochs}, error {'none' if facts.error is None else repr(facts.error[-60:])} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
