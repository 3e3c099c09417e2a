"""Nothing in a run folder or on the wire can read outside the project, write outside runwatch's
files, hang a scan or exhaust memory (issue 25).

Every case is built as an attacker or an accident would (``hostile_runs.py``): FIFOs made with
``os.mkfifo``, links to ``/dev/zero`` and to a file outside the project, torch zips written byte
by byte (a pickle whose objects share references sixty levels deep, a storage inflating to
2 GiB), a 2,000,000-column metrics.csv, a billion-laughs hparams.yaml, an event record claiming
1 TiB. The CLI always runs in a subprocess under ``RLIMIT_AS`` (512 MiB) and a timeout; server
attacks go over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runwatch.settings import SettingsError, load_settings

from .helpers import pick, small_tree, work_dir
from .hostile_runs import CASES, SECRET, lightning_run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
MiB = 1 << 20


def rw(*args: str, timeout: float = 60, memory: int = 512 * MiB, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "runwatch.cli", *args], capture_output=True, text=True, env=ENV, timeout=timeout, check=False, preexec_fn=limit, cwd=cwd
    )


def status_rows(root: str, **kw) -> tuple[dict[str, dict], float]:
    t = time.monotonic()
    r = rw("status", "--json", "--no-local", "--root", root, **kw)
    took = time.monotonic() - t
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    return {row["run"]: row for row in json.loads(r.stdout)["runs"]}, took


def said(row: dict) -> str:
    return "\n".join([*(row.get("warnings") or []), row.get("error_message") or ""])


CONTROL = "lightning_logs/control/version_0"


def _control_ok(rows: dict[str, dict]) -> None:
    c = rows[CONTROL]
    assert (c["completed_epochs"], c["total_epochs"]) == (2, 3), c
    assert not c.get("warnings"), c


@pytest.mark.parametrize("name", list(CASES))
def test_each_hostile_case_costs_only_its_run(tmp_path, name, tally):
    """One case beside a healthy Lightning run: ``runwatch status`` finishes within 512 MiB and
    30 s, the healthy run is exact, and the damaged run (when the case belongs to one) says which
    file and why."""
    root = str(tmp_path / "proj")
    os.makedirs(root)
    lightning_run(os.path.join(root, CONTROL))
    build, kind = CASES[name]
    run, path = build(root)
    tally["hostile_run_cases"] += 1
    rows, took = status_rows(root, timeout=30)
    assert took < 20, took
    _control_ok(rows)
    blob = json.dumps(rows)
    assert SECRET not in blob
    if run is not None:
        assert run in rows, sorted(rows)
        text = said(rows[run])
        if name != "checkpoint storage inflating to 2 GiB":  # read correctly without inflating: no warning due
            assert path in text, text
        if kind == "fifo" or kind == "device":
            assert "not a regular file" in text or "outside the project" in text, text
        if kind == "outside":
            assert "outside the project" in text, text
    if kind == "device" and run is None:  # runwatch's own file linked to a device: never read through the link;
        assert not os.path.islink(path) or os.readlink(path) == "/dev/zero"  # a save replaces the link itself


def test_every_case_at_once_under_512_mib(tmp_path, tally):
    """A Pylon tree of every scenario, a healthy Lightning run and every hostile case in one project:
    ``runwatch status`` finishes in seconds under 512 MiB with every other run exact."""
    tree = small_tree(str(tmp_path / "proj"))
    root = tree.root
    lightning_run(os.path.join(root, CONTROL))
    planted = {}
    for name, (build, _) in CASES.items():
        planted[name] = build(root)
    tally["hostile_run_cases_at_once"] += len(planted)
    rows, took = status_rows(root, timeout=60)
    assert took < 30, took
    _control_ok(rows)
    for exp in tree.runs:  # every Pylon run exact (no live process: a stuck run reads failed)
        want = "failed" if exp.status == "stuck" else exp.status
        got = rows[exp.rel]
        assert (got["status"], got["completed_epochs"], got["total_epochs"]) == (want, exp.completed_epochs, exp.total_epochs), (exp.rel, got)
    for name, (run, path) in planted.items():
        if run is not None:
            assert run in rows, name
    assert SECRET not in json.dumps(rows)


# ------------------------------------------------------------------ reading outside the project


def _log_link_project(tmp_path) -> tuple[str, str, str]:
    tree = small_tree(str(tmp_path / "proj"))
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "id_rsa"
    secret.write_text(f"-----BEGIN KEY-----\n{SECRET}\nTraceback (most recent call last):\nRuntimeError: {SECRET}\n")
    run = pick(tree, "failed")
    d = work_dir(tree, run.rel)
    log = os.path.join(d, next(n for n in os.listdir(d) if n.startswith("train") and n.endswith(".log")))
    os.unlink(log)
    os.symlink(str(secret), log)
    later = time.time() + 5
    os.utime(secret, (later, later))
    return tree.root, run.rel, log


def test_a_log_linked_outside_the_project_is_never_served(tmp_path, tally):
    """``show --json`` and ``GET /api/runs/{id}`` never carry a file outside the project; the run says why."""
    from runwatch.server import BackgroundServer

    root, rel, log = _log_link_project(tmp_path)
    tally["hostile_outside_reads"] += 1
    r = rw("show", rel, "--json", "--no-local", "--root", root)
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout
    detail = json.loads(r.stdout)
    assert "outside the project" in json.dumps(detail), detail.get("warnings")
    with BackgroundServer(root, sweep_interval=3600) as srv:
        with urllib.request.urlopen(srv.base + "api/runs", timeout=30) as resp:
            runs = json.loads(resp.read())
        runs = runs["runs"] if isinstance(runs, dict) else runs
        rid = next(x["id"] for x in runs if x.get("run") == rel)
        with urllib.request.urlopen(srv.base + f"api/runs/{rid}", timeout=30) as resp:
            body = resp.read().decode()
    assert SECRET not in body
    assert "outside the project" in body


def test_a_run_folder_linked_out_of_the_project_is_not_read(tmp_path):
    from runwatch.layout import Project
    from runwatch.readers.logs import read_tail_checked
    from runwatch.readers.safe_open import OutsideProject, confine_to

    root = tmp_path / "proj"
    (root / "logs").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(SECRET)
    os.symlink(tmp_path / "etc", root / "logs" / "run")  # a whole folder linked out
    (root / "logs" / "inside").mkdir()
    (root / "logs" / "inside" / "a.log").write_text("fine\n")
    os.symlink(root / "logs" / "inside" / "a.log", root / "logs" / "inside" / "b.log")  # a link that stays inside
    confine_to(Project.at(str(root)).root)
    with pytest.raises(OutsideProject):
        read_tail_checked(str(root / "logs" / "run" / "passwd"))
    assert read_tail_checked(str(root / "logs" / "inside" / "b.log")) == "fine\n"


# ------------------------------------------------------------------ writing outside runwatch's files


def _collector_project(tmp_path, token: str = "collector-token-0123456789") -> str:
    tree = small_tree(str(tmp_path / "proj"))
    with open(os.path.join(tree.root, "runwatch.toml"), "a") as f:
        f.write(f'collector_token = "{token}"\n')
    return tree.root


def _post(url: str, body: bytes, token: str, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": "application/json", "authorization": f"Bearer {token}", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_collector_never_appends_through_a_planted_link(tmp_path, tally):
    from runwatch.server import BackgroundServer

    root = _collector_project(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    cache = os.path.join(root, ".runwatch-cache")
    os.makedirs(cache, exist_ok=True)
    os.symlink(victim, os.path.join(cache, "collector-events.jsonl"))
    tally["hostile_outside_writes"] += 1
    with BackgroundServer(root, sweep_interval=3600) as srv:
        code = _post(srv.base + "api/collector", json.dumps({"command": "python main.py", "output_lines": ["x"]}).encode(), "collector-token-0123456789")
        assert code == 503
        with urllib.request.urlopen(srv.base + "healthz", timeout=10) as r:
            assert r.status == 200
    assert victim.read_text() == "untouched\n"


def test_own_files_are_never_written_through_a_link(tmp_path):
    from runwatch.atomic_files import replace_atomically
    from runwatch.readers.safe_open import LinkRefused, append_own, read_own

    (tmp_path / "cache").mkdir()
    outside = tmp_path / "outside"
    outside.write_text("keep\n")
    os.symlink(outside, tmp_path / "cache" / "f")
    with pytest.raises(LinkRefused):
        append_own(str(tmp_path / "cache" / "f"), b"x")
    with pytest.raises(LinkRefused):
        read_own(str(tmp_path / "cache" / "f"))
    os.symlink(tmp_path, tmp_path / "linked-cache")  # the folder itself a link
    with pytest.raises(OSError):
        replace_atomically(str(tmp_path / "linked-cache" / "store"), lambda f: f.write(b"x"))
    with pytest.raises(OSError):
        append_own(str(tmp_path / "linked-cache" / "events"), b"x")
    assert outside.read_text() == "keep\n" and not (tmp_path / "store").exists() and not (tmp_path / "events").exists()
    replace_atomically(str(tmp_path / "cache" / "f"), lambda f: f.write(b"new"))  # a link at the name is replaced, not followed
    assert outside.read_text() == "keep\n" and (tmp_path / "cache" / "f").read_bytes() == b"new"
    append_own(str(tmp_path / "cache" / "g"), b"line\n")
    assert os.stat(tmp_path / "cache" / "g").st_mode & 0o777 == 0o600


# ------------------------------------------------------------------ server inputs


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _chunked_post(host: str, port: int, path: str, token: str, total: int) -> int:
    """POST ``total`` bytes chunked (no Content-Length), stopping when the server answers."""
    s = socket.create_connection((host, port), timeout=30)
    try:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"[" * (1 << 20)
        sent = 0
        s.settimeout(0.001)
        answer = b""
        try:
            while sent < total:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                try:
                    answer += s.recv(4096)
                    if answer:
                        break
                except (TimeoutError, BlockingIOError):
                    pass
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: its answer is waiting
        s.settimeout(30)
        while b"\r\n" not in answer:
            more = s.recv(4096)
            if not more:
                break
            answer += more
        return int(answer.split()[1])
    finally:
        s.close()


def test_collector_bodies_are_capped_before_buffering(tmp_path, tally):
    """A chunked body without Content-Length is counted as it arrives: 413 once over 4 MiB, the
    server's memory does not grow by the body; deep JSON, a foreign work_dir: 400."""
    from runwatch.server import BackgroundServer

    token = "collector-token-0123456789"
    root = _collector_project(tmp_path, token)
    with BackgroundServer(root, sweep_interval=3600) as srv:
        host, port = srv.base.split("//")[1].rstrip("/").split(":")
        before = _rss_mb()
        assert _chunked_post(host, int(port), "/api/collector", token, 256 * MiB) == 413
        assert _rss_mb() - before < 64
        url = srv.base + "api/collector"
        assert _post(url, b"[" * 100_000 + b"]" * 100_000, token) == 400
        assert _post(url, json.dumps({"work_dir": "../../..", "output_lines": ["x"]}).encode(), token) == 400
        assert _post(url, json.dumps({"work_dir": "/etc", "output_lines": ["x"]}).encode(), token) == 400
        # A Content-Length over the cap is answered before a byte of the body is read.
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(f"POST /api/collector HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Length: {5 * MiB}\r\n\r\n".encode())
            assert s.recv(4096).split()[1] == b"413"
        with urllib.request.urlopen(srv.base + "healthz", timeout=10) as r:
            assert r.status == 200
    tally["hostile_server_inputs"] += 5


@pytest.mark.parametrize("token", ["x", "short-token", "has a space in it!!"])
def test_every_token_setting_holds_the_minimum(tmp_path, token):
    (tmp_path / "runwatch.toml").write_text(f'collector_token = "{token}"\n')
    with pytest.raises(SettingsError, match="collector_token"):
        load_settings(tmp_path)


# ------------------------------------------------------------------ hub


class _Endless(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            self.wfile.write(b'{"a": "')
            chunk = b"x" * MiB
            for _ in range(2560):  # 2.5 GiB, if anyone reads it
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_hub_reads_an_agents_answer_with_a_cap(tally):
    from runwatch.hub.subscriber import MAX_DETAIL, _get_json

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        before = _rss_mb()
        t = time.monotonic()
        assert _get_json(f"http://127.0.0.1:{httpd.server_address[1]}/api/runs/x", {}, 30) is None
        assert time.monotonic() - t < 20
        assert _rss_mb() - before < MAX_DETAIL / MiB + 64
    finally:
        httpd.shutdown()
    tally["hostile_hub_inputs"] += 1


def test_hub_blames_an_agent_for_a_message_it_cannot_use(caplog):
    from runwatch.hub.agents import AgentSpec
    from runwatch.hub.index import HubIndex
    from runwatch.hub.subscriber import Subscriber

    spec = AgentSpec.parse("lab=http://127.0.0.1:9/")
    index = HubIndex([(spec.name, spec.shown)])
    sub = Subscriber(spec, index)
    with caplog.at_level("WARNING", logger="runwatch.hub"):
        assert asyncio.run(sub._on_message(None, "[" * 200_000)) is False
        assert asyncio.run(sub._on_message(None, json.dumps({"type": "snapshot", "seq": 1, "runs": [{"id": 5, "x": [[[1]]]}] * 3, "summary": 7}))) in (
            True,
            False,
        )
    assert any("agent lab" in r.getMessage() for r in caplog.records)


def test_hub_closes_an_agents_oversized_websocket_message(tally):
    """A fake agent sends a 65 MiB message: the hub closes that connection (1009) before buffering
    it, marks the agent unreachable with the reason, and its own memory stays put."""
    from websockets.asyncio.server import serve

    from runwatch.hub.agents import AgentSpec
    from runwatch.hub.index import HubIndex
    from runwatch.hub.subscriber import MAX_MESSAGE, Backoff, Subscriber

    assert MAX_MESSAGE <= 64 * MiB
    big = "[" + " " * (MAX_MESSAGE + MiB) + "]"

    async def agent(ws) -> None:
        try:
            await ws.send(big)
            await ws.wait_closed()
        except Exception:
            pass

    async def go() -> str | None:
        async with serve(agent, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            spec = AgentSpec.parse(f"big=http://127.0.0.1:{port}/")
            index = HubIndex([(spec.name, spec.shown)])
            sub = Subscriber(spec, index, backoff=Backoff(5, 5))
            task = asyncio.create_task(sub.run())
            for _ in range(300):
                await asyncio.sleep(0.1)
                if index.agents["big"].error:
                    break
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return index.agents["big"].error

    before = _rss_mb()
    error = asyncio.run(go())
    assert error is not None and "1009" in error, error
    assert _rss_mb() - before < 2 * MAX_MESSAGE / MiB + 64  # the sender's copy of the message; never the hub's decode of it
    tally["hostile_hub_inputs"] += 1


# ------------------------------------------------------------------ a huge folder


def test_a_walk_reports_progress_and_stays_bounded(tmp_path):
    from runwatch.layouts.base import MAX_FOLDER_ENTRIES, set_walk_progress, walk_for_runs

    for i in range(600):
        (tmp_path / f"d{i:04d}" / "x").mkdir(parents=True)
    seen: list[int] = []
    set_walk_progress(lambda n, d: seen.append(n))
    try:
        assert walk_for_runs(str(tmp_path), lambda p, names: "marker" in names) == []
    finally:
        set_walk_progress(None)
    assert seen and seen[-1] >= 1024
    assert MAX_FOLDER_ENTRIES <= 100_000


def test_status_in_a_huge_folder_says_it_is_walking_and_stops_on_ctrl_c(tmp_path):
    """A folder of 20,000 folders (like a home dir): after a second, stderr says how far the walk got;
    SIGINT then ends the command within seconds, without a traceback."""
    import signal

    base = tmp_path / "home"
    for i in range(200):
        for j in range(100):
            (base / f"u{i}" / f"p{j}").mkdir(parents=True)
    p = subprocess.Popen(
        [sys.executable, "-m", "runwatch.cli", "status", "--no-local", "--root", str(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in p.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "looking for runs" in line:
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    if not seen.wait(30):
        p.wait(30)
        pytest.skip(f"the walk ended within a second on this machine: {''.join(lines)[-300:]}")
    p.send_signal(signal.SIGINT)
    p.wait(10)
    assert p.returncode != 0
    err = "".join(lines)
    assert "folders so far" in err and "Traceback" not in err, err


# ------------------------------------------------------------------ config semantics


def test_a_value_python_cannot_compute_costs_only_that_value(tmp_path):
    from runwatch.configs.reader import read_config

    from .hostile_cases import GOOD

    cfg = tmp_path / "configs" / "c.py"
    cfg.parent.mkdir()
    cfg.write_text(GOOD + "try:\n    x = len(range(10**30))\nexcept OverflowError:\n    x = 0\nconfig['epochs'] = 8 + x\n")
    facts = read_config(str(cfg), root=str(tmp_path), use_cache=False)
    assert facts.error is None and facts.epochs == 8, facts
    cfg.write_text(GOOD + "x = len(range(10**30))\nconfig['epochs'] = 9\n")
    facts = read_config(str(cfg), root=str(tmp_path), use_cache=False)
    assert facts.error is None and facts.epochs == 9, facts


# ------------------------------------------------------------------ the per-run guard


def test_a_runaway_read_fails_one_run_never_the_command(tmp_path, monkeypatch):
    from runwatch import get_all_run_status
    from runwatch.layouts import lightning

    root = tmp_path / "proj"
    good = lightning_run(str(root / "lightning_logs" / "good" / "version_0"))
    bad = lightning_run(str(root / "lightning_logs" / "bad" / "version_0"))
    real = lightning.LightningProgressTracker.calculate_progress

    def runaway(self):
        if self.work_dir == bad:
            raise MemoryError
        return real(self)

    monkeypatch.setattr(lightning.LightningProgressTracker, "calculate_progress", runaway)
    out = get_all_run_status([good, bad], root=str(root), use_store=False)
    assert out[good].progress.completed_epochs == 2
    assert out[bad].status == "failed" and "ran out of memory" in (out[bad].progress.error_message or "")


def test_progress_json_is_never_written_into_a_work_dir_linked_out_of_the_project(tmp_path):
    """A Pylon work dir that is a link to a folder outside the project: runwatch writes nothing there."""
    tree = small_tree(str(tmp_path / "proj"))
    run = pick(tree, "running")
    wd = work_dir(tree, run.rel)
    outside = tmp_path / "elsewhere"
    os.rename(wd, outside)
    for name in ("progress.json", "progress.runwatch.json"):
        if (outside / name).exists():
            (outside / name).unlink()
    os.symlink(outside, wd)
    before = sorted(os.listdir(outside))
    with open(os.path.join(tree.root, "runwatch.toml"), "a") as f:
        f.write('progress_json = "missing"\n')
    rows, _ = status_rows(tree.root)
    assert run.rel in rows
    assert sorted(os.listdir(outside)) == before


def test_link_targets_lets_a_run_folder_live_on_another_disk(tmp_path):
    """``logs/`` linked to a scratch disk: refused by default, read once ``link_targets`` names the disk."""
    tree = small_tree(str(tmp_path / "proj"))
    scratch = tmp_path / "scratch"
    os.rename(os.path.join(tree.root, "logs"), scratch)
    os.symlink(scratch, os.path.join(tree.root, "logs"))
    run = pick(tree, "finished")
    rows, _ = status_rows(tree.root)
    assert "outside the project" in said(rows[run.rel])
    with open(os.path.join(tree.root, "runwatch.toml"), "a") as f:
        f.write(f'link_targets = ["{scratch}"]\n')
    rows, _ = status_rows(tree.root)
    for exp in tree.runs:
        want = "failed" if exp.status == "stuck" else exp.status
        assert (rows[exp.rel]["status"], rows[exp.rel]["completed_epochs"]) == (want, exp.completed_epochs), rows[exp.rel]
