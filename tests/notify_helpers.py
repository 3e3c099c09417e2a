"""Real receivers on loopback and a real ``runwatch notify`` process, for the notification tests."""

from __future__ import annotations

import email
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runwatch.testing.generator import config_text, write_project_sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINER = os.path.join(ROOT, "tests", "notify_trainer.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JsonReceiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it (Apprise's ``json://``)."""

    def __init__(self, port: int = 0) -> None:
        self.messages: list[dict[str, Any]] = []
        self._cv = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer._cv:
                    outer.messages.append(json.loads(body))
                    outer._cv.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        with self._cv:
            while len(self.messages) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.messages)} of {n} messages arrived: {self.messages!r}")
                self._cv.wait(left)
            return list(self.messages)

    def text(self) -> str:
        return "\n".join(f"{m.get('title')}\n{m.get('message')}" for m in self.messages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1: every mail delivered to it, parsed (Apprise's ``mailto://``)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.mails: list[email.message.Message] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.mails.append(email.message_from_bytes(envelope.original_content or envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"mailto://127.0.0.1:{self.port}?from=runwatch@example.org&to=lab@example.org&secure=no&mode=insecure"

    def bodies(self) -> list[str]:
        out = []
        for m in self.mails:
            parts = [p for p in m.walk() if p.get_content_type() == "text/plain"] or [m]
            out.append(f"{m['Subject']}\n" + "\n".join(p.get_payload(decode=True).decode("utf-8", "replace") for p in parts))
        return out

    def wait(self, n: int, timeout: float = 30.0) -> list[str]:
        end = time.monotonic() + timeout
        while len(self.mails) < n:
            if time.monotonic() > end:
                raise AssertionError(f"{len(self.mails)} of {n} mails arrived")
            time.sleep(0.05)
        return self.bodies()

    def close(self) -> None:
        self.controller.stop()


def make_project(root: str, plan: dict[str, dict[str, Any]], notify_toml: str, *, sleep_time: int = 1) -> str:
    """A Pylon project: framework sources, one config per planned run, the trainer as main.py."""
    os.makedirs(root, exist_ok=True)
    write_project_sources(root)
    rng = random.Random(0)
    for rel, p in plan.items():
        path = os.path.join(root, "configs", *rel.split("/")) + ".py"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(config_text(rel, "SupervisedSingleTaskTrainer", p["epochs"], "SemanticSegmentationMetric", None, rng, "logs", 3))
    shutil.copyfile(TRAINER, os.path.join(root, "main.py"))
    with open(os.path.join(root, "notify_plan.json"), "w") as f:
        json.dump(plan, f)
    with open(os.path.join(root, "runwatch.toml"), "w") as f:
        f.write(f"sleep_time = {sleep_time}\n\n[notify]\n{notify_toml}\n")
    return root


def launch(root: str, rel: str) -> subprocess.Popen[bytes]:
    """Start a run as Pylon does; its stderr (where a crash's traceback goes) is kept by the test."""
    return subprocess.Popen(
        [sys.executable, "main.py", "--config-filepath", f"./configs/{rel}.py"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class NotifyProcess:
    """``runwatch notify ROOT`` as a subprocess, with its log lines collected as they come."""

    def __init__(self, root: str, *args: str, interval: float = 0.5) -> None:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runwatch.cli", "notify", root, "--interval", str(interval), "--no-ssh", "--no-slurm", *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
        self.lines.append("<eof>")

    def running(self, rel: str) -> bool:
        """Whether this notifier has seen the run become running (from never started, or from
        stuck: a process found before its first log line is stuck for a moment with sleep_time = 1)."""
        return any(f" {rel}: " in ln and ln.endswith("-> running") for ln in self.lines)

    def wait_running(self, rel: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not self.running(rel):
            if time.monotonic() > end or "<eof>" in self.lines:
                raise AssertionError(f"{rel} never seen running:\n" + "\n".join(self.lines[-60:]))
            time.sleep(0.05)

    def wait_for(self, needle: str, timeout: float = 60.0, count: int = 1) -> str:
        end = time.monotonic() + timeout
        while True:
            hits = [ln for ln in self.lines if needle in ln]
            if len(hits) >= count:
                return hits[count - 1]
            if time.monotonic() > end or "<eof>" in self.lines:
                raise AssertionError(f"{needle!r} x{count} not in the notifier's log:\n" + "\n".join(self.lines[-60:]))
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
