"""Hostile input never hangs, exhausts memory or takes the server down (issue 16).

Every case is real: FIFOs made with ``os.mkfifo`` and links to ``/dev/zero`` where runs
keep their files, configs read in a fresh process under ``resource.setrlimit`` and a
wall-clock limit, a real uvicorn server fed oversized handshakes and forged Host headers
over raw sockets, the project root renamed away under a live server, a real full tmpfs
under the cache, and SIGINT/SIGTERM sent to a real ``runwatch`` process that a reader has
blocked. The CLI is always a subprocess with a timeout: a hang fails the test, never the suite.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwatch.configs.cache import CACHE_FILE
from tests.cli_helpers import get_json
from runwatch.configs.evaluator import ModuleEvaluator
from runwatch.configs.reader import read_config
from runwatch.readers.scores import read_aggregated
from runwatch.server import BackgroundServer, build_server
from runwatch.server.security import TokenError, is_loopback, parse_host_header

from .conftest import examples
from .helpers import mismatches, pick, scan, small_tree, work_dir
from .hostile_cases import _PEAK, BIG_CASES, CASES, read_in_subprocess, write_case, write_project

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
GiB = 1 << 30


def rw(*args: str, timeout: float = 90, memory: int | None = None) -> subprocess.CompletedProcess[str]:
    """``runwatch ARGS`` in a subprocess; ``memory`` sets RLIMIT_AS on it."""

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    pre = limit if memory is not None else None
    return subprocess.run([sys.executable, "-m", "runwatch.cli", *args], capture_output=True, text=True, env=ENV, timeout=timeout, check=False, preexec_fn=pre)


def _status_json(root: str, **kw) -> dict:
    r = rw("status", "--json", "--no-local", "--root", root, **kw)
    assert r.returncode == 0, r.stderr[-2000:]
    return {row["run"]: row for row in json.loads(r.stdout)["runs"]}


def _said(row: dict) -> str:
    return "\n".join([*(row.get("warnings") or []), row.get("error_message") or ""])


def _cli_status(exp) -> str:
    return "failed" if exp.status == "stuck" else exp.status  # --no-local: no live process for stuck runs


def _replace(path: str, how: str) -> None:
    os.unlink(path)
    if how == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(how, path)


def _last_epoch_dir(tree, rel: str) -> str:
    d = work_dir(tree, rel)
    return os.path.join(d, sorted((n for n in os.listdir(d) if n.startswith("epoch_")), key=lambda n: int(n.split("_")[1]))[-1])


def _victim_file(tree, where: str) -> tuple[str, str]:
    """(run rel, path of the file to replace) for each place a run keeps a file runwatch opens."""
    if where == "config":
        run = pick(tree, "finished")
        return run.rel, os.path.join(tree.root, run.config_path)
    if where == "log":
        run = pick(tree, "failed")
        d = work_dir(tree, run.rel)
        return run.rel, os.path.join(d, next(n for n in os.listdir(d) if n.endswith(".log") and n.startswith("train")))
    if where == "progress_json":
        run = pick(tree, "finished")
        return run.rel, os.path.join(work_dir(tree, run.rel), "progress.json")
    if where == "scores":
        run = pick(tree, "finished")
        return run.rel, os.path.join(_last_epoch_dir(tree, run.rel), "validation_scores.json")
    if where == "expected":
        run = pick(tree, "finished")
        return run.rel, os.path.join(_last_epoch_dir(tree, run.rel), "training_losses.pt")
    if where == "evaluation_scores":
        run = pick(tree, "evaluator_finished")
        return run.rel, os.path.join(work_dir(tree, run.rel), "evaluation_scores.json")
    raise AssertionError(where)


WHERE = ["config", "log", "progress_json", "scores", "expected", "evaluation_scores"]


# ----------------------------------------------------------------- special files


@pytest.mark.parametrize("how", ["fifo", "/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("where", WHERE)
def test_special_file_is_a_warning_not_a_hang(tmp_path, where, how, tally):
    """A FIFO or a device where a run keeps a file: the CLI finishes (1 GiB address space, 90 s),
    the run says which path, and every other run is exact."""
    tree = small_tree(str(tmp_path / "p"))
    rel, path = _victim_file(tree, where)
    _replace(path, how)
    tally["hostile_special_files"] += 1
    rows = _status_json(tree.root, memory=GiB)
    said = _said(rows[rel])
    if where != "progress_json":  # progress.json is a hint: the epochs on disk still give the answer
        assert path in said, said
    if where == "config":
        assert rows[rel]["status"] == "failed" or "not a regular file" in said
    others = [e for e in tree.runs if e.rel != rel]
    assert [(e.rel, rows[e.rel]["status"]) for e in others] == [(e.rel, _cli_status(e)) for e in others]
    # The API agrees, exactly, for every run the damage does not touch.
    by_rel = scan(tree)
    assert mismatches(tree, by_rel, skip=[rel]) == []


def test_fifo_in_place_of_an_epoch_file_is_explained(tmp_path, tally):
    tree = small_tree(str(tmp_path / "p"))
    rel, path = _victim_file(tree, "expected")
    _replace(path, "fifo")
    tally["hostile_special_files"] += 1
    p = scan(tree)[rel].progress
    assert any(path in w and "FIFO" in w for w in p.warnings or []), p.warnings


# ----------------------------------------------------------------- config budgets


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_config_is_bounded(tmp_path, name, tally):
    """Each case once took minutes or gigabytes; now: a fresh process with 1 GiB of address space
    reads it in seconds and the config's other facts (epochs) still read."""
    root = str(tmp_path / "proj")
    write_project(root)
    got = read_in_subprocess(write_case(root, name), root, memory_bytes=GiB, timeout=30)
    tally["hostile_configs"] += 1
    assert not got.get("timeout") and "crash" not in got, got
    assert got["epochs"] == 7 and got["error"] is None, got
    assert got["seconds"] < 10, got


@pytest.mark.parametrize("name", list(BIG_CASES))
def test_config_over_the_source_budget_is_refused_before_parsing(tmp_path, name, tally):
    root = str(tmp_path / "proj")
    write_project(root)
    path = write_case(root, name)
    got = read_in_subprocess(path, root, memory_bytes=GiB, timeout=30)
    tally["hostile_configs"] += 1
    assert "crash" not in got and not got.get("timeout"), got
    assert got["error"] and path in got["error"] and ("too large" in got["error"] or "larger than" in got["error"]), got
    assert got["peak_mb"] < 400, got


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_config_symlink_to_a_device_is_refused_unread(tmp_path, device, tally):
    root = str(tmp_path / "proj")
    write_project(root)
    path = os.path.join(root, "configs", "h", "dev.py")
    os.symlink(device, path)
    got = read_in_subprocess(path, root, memory_bytes=GiB, timeout=30)
    tally["hostile_configs"] += 1
    assert got.get("error") and path in got["error"] and "character device" in got["error"], got


def test_budget_overrun_is_a_warning_with_file_and_line_and_later_names_unknown(tmp_path, tally):
    root = str(tmp_path / "proj")
    write_project(root)
    body = CASES["append loop"] + "config['epochs'] = 9\n"
    path = write_case(
        root,
        "overrun",
        "from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer\n"
        "config = {'runner': SupervisedSingleTaskTrainer, 'epochs': 7}\n" + body,
    )
    facts = read_config(path, root=root, use_cache=False)
    tally["hostile_configs"] += 1
    assert facts.error is None
    assert any(w.startswith(f"{path}:") and "too complex" in w for w in facts.warnings), facts.warnings
    # The statement that went over and every later one are unknown, never silently skipped:
    # epochs may have been changed after the loop, so it is not reported as 7.
    assert facts.epochs is None and facts.runner is not None


def test_import_cycle_graph_is_memoised(tmp_path, tally):
    """12 configs that all import each other: every simple path was evaluated (12! of them);
    now each module is evaluated at most twice, and the answer does not depend on the order."""
    root = str(tmp_path / "proj")
    write_project(root)
    n = 12
    paths = []
    for i in range(n):
        lines = [f"from configs.g.m{j} import config as c{j}" for j in range(n) if j != i]
        lines.append(f"config = {{'epochs': {i + 1}}}")
        p = os.path.join(root, "configs", "g", f"m{i}.py")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("\n".join(lines) + "\n")
        paths.append(p)
    t = time.monotonic()
    first = {p: read_config(p, root=root, use_cache=False) for p in paths}
    assert time.monotonic() - t < 10
    backwards = {p: read_config(p, root=root, use_cache=False) for p in reversed(paths)}
    tally["hostile_configs"] += 1
    for i, p in enumerate(paths):
        assert first[p].epochs == i + 1
        assert any("import cycle" in w for w in first[p].warnings)
        assert first[p] == backwards[p]


# Hypothesis: configs built from arithmetic and string-building operations on values chosen
# to be large, alone and in loops. Each example must finish in 8 s (about 2 s alone; CI shares its cores); the whole run happens in
# a child process limited to 2 GiB of address space, whose peak must stay under 700 MB.
_ints = st.sampled_from(["0", "1", "-1", "2", "3", "7", "99", "9999", "10 ** 9", "10 ** 4000", "2 ** 60000", "(1 << 65000)", "x", "n"])
_strs = st.sampled_from(["''", "'a'", "'ab' * 9999", "s", "'{}'", "'{:9999}'", "'%s'", "'%9999d'", "'\\t'"])


@st.composite
def _expr(draw, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["int", "str", "binop", "method", "fstring", "percent", "list", "builtin"] if depth < 3 else ["int", "str"]))
    if kind == "int":
        return draw(_ints)
    if kind == "str":
        return draw(_strs)
    sub = lambda: draw(_expr(depth + 1))
    if kind == "binop":
        return f"({sub()} {draw(st.sampled_from(['**', '<<', '*', '+', '%', '//', '-']))} {sub()})"
    if kind == "method":
        m = draw(
            st.sampled_from(
                [
                    "zfill({})",
                    "ljust({})",
                    "rjust({})",
                    "center({})",
                    "replace('a', {})",
                    "join([{}] * 99)",
                    "format({})",
                    "expandtabs({})",
                    "split({})",
                    "upper()",
                ]
            )
        )
        return f"({sub()}).{m.format(sub())}"
    if kind == "fstring":
        part = st.sampled_from(["x", "n", "s", "10 ** 4000", "'ab' * 9999", "[s] * 99999", "y"])  # no quotes of the outer kind, no backslash
        return f'f"{{{draw(part)}}}{{{draw(part)}:{draw(st.sampled_from(["", ">99", "9999", "x"]))}}}"'
    if kind == "percent":
        return f"({sub()} % ({sub()},))"
    if kind == "list":
        return f"[{sub()}] * {draw(_ints)}"
    return f"{draw(st.sampled_from(['str', 'len', 'sum', 'max', 'sorted', 'list', 'int']))}({sub()})"


@st.composite
def _config(draw) -> str:
    lines = ["x = 3", "n = 99999", "s = 'abc' * 99", "config = {'epochs': 7}"]
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(["x", "s", "y", "config['k']"]))
        e = draw(_expr())
        if draw(st.booleans()):
            lines.append(f"for i in range({draw(st.sampled_from(['3', '99', '99999']))}):\n    {target} = {e}")
        else:
            lines.append(f"{target} = {e}")
    return "\n".join(lines) + "\n"


def _check_config_examples(n_examples: int) -> None:
    """Run in a child process (see test_fuzz_hostile_configs_under_time_and_memory_budgets)."""
    slow: list[tuple[float, str]] = []

    @settings(max_examples=n_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(src=_config())
    def check(src: str) -> None:
        t = time.monotonic()
        ev = ModuleEvaluator("fuzz.py", "configs.fuzz")
        ns = ev.run_bounded(ast.parse(src))
        took = time.monotonic() - t
        if took > 8.0:
            slow.append((took, src))
        assert ns["config"]["epochs"] == 7, src  # the facts the hostile lines do not touch still read

    check()
    namespace: dict = {}
    exec(_PEAK, namespace)
    print(json.dumps({"slow": slow[:3], "peak_mb": namespace["peak_mb"]()}))


def test_fuzz_hostile_configs_under_time_and_memory_budgets(tally):
    n = examples(150, 3000)
    code = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({2 * GiB}, {2 * GiB}))\nfrom tests.torture.test_hostile import _check_config_examples\n_check_config_examples({n})\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=REPO, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    tally["hypothesis_hostile_configs"] += n
    assert got["slow"] == [], "\n\n".join(f"{t:.1f} s:\n{src}" for t, src in got["slow"])
    assert got["peak_mb"] < 700, got


# ----------------------------------------------------------------- scores decoding


def test_forty_megabyte_aggregated_value_decodes_in_linear_time(tmp_path, tally):
    """A 40 MB ``aggregated`` (first key, as Pylon writes it): re-decoding it per 256 KiB chunk
    took minutes; the buffer now doubles, so decoding costs about twice the value's size."""
    path = str(tmp_path / "validation_scores.json")
    agg = {f"k{i}": [0.123456789] * 50 for i in range(64_000)}
    with open(path, "w") as f:
        json.dump({"aggregated": agg, "per_datapoint": {}}, f)
    assert os.path.getsize(path) > 40 * 1024 * 1024
    t = time.monotonic()
    value, problem = read_aggregated(path)
    took = time.monotonic() - t
    tally["hostile_score_files"] += 1
    assert problem is None and value == agg
    assert took < 20, f"{took:.1f} s"


# ----------------------------------------------------------------- server edges


def _raw(base: str, request: bytes, *, read_timeout: float = 10) -> tuple[bytes, bool]:
    """(response head, whether the server closed the connection after it)."""
    host, port = base.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=read_timeout)
    try:
        s.sendall(request)
        data = b""
        closed = False
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            data += chunk
        return data, closed
    finally:
        s.close()


def _ws_request(host: str, path: str = "/ws", extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tree = small_tree(str(tmp_path_factory.mktemp("srv") / "p"))
    with BackgroundServer(tree.root, sweep_interval=3600) as srv:
        yield srv


@pytest.mark.parametrize(
    "case,path,extra,status",
    [
        ("long request line", "/ws?" + "a" * 20_000, "", b"414"),
        ("long header", "/ws", "X-Big: " + "b" * 20_000 + "\r\n", b"431"),
        ("many headers", "/ws", "".join(f"X-H{i}: v\r\n" for i in range(300)), b"431"),
        ("10 KiB header line", "/ws", "X-Big: " + "b" * 10_000 + "\r\n", b"431"),
    ],
)
def test_oversized_websocket_handshake_is_answered_and_closed(server, case, path, extra, status, tally):
    host = server.base.split("//", 1)[1].rstrip("/")
    head, closed = _raw(server.base, _ws_request(host, path, extra))
    tally["hostile_server_requests"] += 1
    assert head.startswith(b"HTTP/1.1 " + status), head[:80]
    assert closed, "the server kept the socket open after refusing the handshake"
    # and the server still serves a well-formed handshake
    ok, _ = _raw(server.base, _ws_request(host), read_timeout=1)
    assert ok.startswith(b"HTTP/1.1 101"), ok[:80]


@pytest.mark.parametrize("host", ["localhost:{port}@evil.com", "evil.com#@localhost:{port}", "localhost:{port}/x", "local host:{port}", "[::1:{port}"])
def test_host_header_with_userinfo_or_garbage_is_refused(server, host, tally):
    port = server.base.rstrip("/").rsplit(":", 1)[1]
    h = host.format(port=port)
    head, _ = _raw(server.base, f"GET /api/summary HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n".encode())
    tally["hostile_server_requests"] += 1
    assert head.split(b" ", 2)[1] in (b"400", b"403"), head[:120]
    assert b'"runs"' not in head and b'"total"' not in head
    head, _ = _raw(server.base, _ws_request(h))
    assert not head.startswith(b"HTTP/1.1 101"), head[:80]


def test_host_parsing_follows_rfc_9110():
    assert parse_host_header("localhost:8765") == "localhost"
    assert parse_host_header("[::1]:8765") == "::1"
    assert parse_host_header("Example.ORG") == "example.org"
    for bad in ("localhost:8765@evil.com", "user@localhost", "localhost:80/x", "a b", "[::1", "[zz]:1", "x:99999999", ""):
        assert parse_host_header(bad) is None, bad


def test_loopback_means_loopback_addresses_and_localhost():
    for h in ("localhost", "127.0.0.1", "127.3.2.1", "::1", "[::1]", "::ffff:127.0.0.1"):
        assert is_loopback(h), h
    for h in ("127.evil.com", "127.0.0.1.nip.io", "localhost.evil.com", "0.0.0.0", "10.0.0.1", "::"):
        assert not is_loopback(h), h
    # a --host name that merely starts with 127. is not loopback: a token is generated
    _, _, token = build_server(".", host="127.evil.example", port=0)
    assert token and len(token) >= 16


@pytest.mark.parametrize("token", ["", "short", "x" * 15, "has space in it!!"])
def test_weak_tokens_are_refused(tmp_path, token):
    with pytest.raises(TokenError):
        build_server(str(tmp_path), token=token)
    small_tree(str(tmp_path / "p"), n_runs=2)
    r = rw("serve", str(tmp_path / "p"), "--port", "0", "--token", token, timeout=60)
    assert r.returncode != 0 and "--token" in r.stderr, (r.returncode, r.stderr[-500:])


# ----------------------------------------------------------------- recovery


def _get(url: str) -> tuple[int, dict]:
    return get_json(url, timeout=10)


def test_root_renamed_away_and_back(tmp_path, tally):
    """/healthz is not ok (503, root_missing) while the project is gone, the summary carries the
    banner flag, and its return is rescanned at once (not at the next full sweep, minutes later)."""
    tree = small_tree(str(tmp_path / "p"))
    root = tree.root
    with BackgroundServer(root, sweep_interval=3600) as srv:
        code, health = _get(srv.base + "healthz")
        assert code == 200 and health["ok"] and health["runs"] == len(tree.runs)
        os.rename(root, root + ".away")
        # Noticed within a second or two; the flag waits behind any scan in flight (a loaded CI machine: 30 s).
        deadline = time.monotonic() + 30
        while _get(srv.base + "healthz")[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        code, health = _get(srv.base + "healthz")
        assert code == 503 and health["ok"] is False and health["root_missing"] is True, health
        assert _get(srv.base + "api/summary")[1]["root_missing"] is True
        os.rename(root + ".away", root)
        # a run added while it was away must appear too: a rescan, not a replay of old entries
        t = time.monotonic()
        while time.monotonic() - t < 10:
            code, health = _get(srv.base + "healthz")
            if code == 200 and health["runs"] == len(tree.runs):
                break
            time.sleep(0.1)
        tally["hostile_recoveries"] += 1
        assert code == 200 and health["ok"] and health["runs"] == len(tree.runs), health
        assert time.monotonic() - t < 5
        assert _get(srv.base + "api/summary")[1]["root_missing"] is False


def test_full_disk_under_the_cache_is_a_warning_and_no_litter(tmp_path, tally):
    from .test_faults import _fill, tmpfs

    tree = small_tree(str(tmp_path / "p"))
    with tmpfs(str(tmp_path / "mnt"), "2m") as mnt:
        cache = os.path.join(mnt, "cache")
        with open(os.path.join(tree.root, "runwatch.toml"), "w") as f:
            f.write(f"cache_dir = {json.dumps(cache)}\n")
        first = _status_json(tree.root)  # the cache is created with room to spare
        assert os.path.exists(os.path.join(cache, CACHE_FILE))
        _fill(mnt)
        for cfg in glob.glob(os.path.join(tree.root, "configs", "**", "*.py"), recursive=True):
            os.utime(cfg)  # every config must be read again and written to the cache
        stderrs = []
        for _ in range(3):
            r = rw("status", "--json", "--no-local", "--root", tree.root)
            assert r.returncode == 0, r.stderr[-2000:]
            stderrs.append(r.stderr)
            rows = {row["run"]: row for row in json.loads(r.stdout)["runs"]}
            assert {k: v["status"] for k, v in rows.items()} == {k: v["status"] for k, v in first.items()}
        tally["hostile_full_disk_scans"] += 3
        litter = [n for n in os.listdir(cache) if "corrupt" in n or n.endswith(".tmp")]
        assert litter == [], litter
        assert os.path.exists(os.path.join(cache, CACHE_FILE)), "the cache was moved aside"
        assert any("cache" in e and ("cannot be written" in e or "not usable" in e or "not written" in e) for e in stderrs), stderrs


# ----------------------------------------------------------------- interruptibility

# A reader blocked for good: the config's open() made blocking again (as a reader on a hung
# network file system would be), then the real CLI, which blocks in it on a FIFO.
_BLOCKED_CLI = (
    "import os, sys\n"
    "import runwatch.readers.safe_open as so\n"
    "so._FLAGS &= ~os.O_NONBLOCK\n"
    "from runwatch.cli import main\n"
    "sys.argv = ['runwatch'] + sys.argv[1:]\n"
    "main()\n"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_cli_blocked_in_a_reader(tmp_path, sig, tally):
    tree = small_tree(str(tmp_path / "p"), n_runs=4)
    rel, path = _victim_file(tree, "config")
    _replace(path, "fifo")
    p = subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_CLI, "status", "--no-local", "--root", tree.root], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        time.sleep(3)  # it is now blocked in the FIFO's open()
        assert p.poll() is None, "the injected reader did not block"
        t = time.monotonic()
        p.send_signal(sig)
        p.wait(timeout=10)
        tally["hostile_signals"] += 1
        assert time.monotonic() - t < 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_serve_with_a_reader_blocked(tmp_path, sig, tally):
    """``runwatch serve`` whose first scan is blocked for good: it answers at once (the scan runs
    in the background), and SIGINT/SIGTERM still end the process within a few seconds."""
    tree = small_tree(str(tmp_path / "p"), n_runs=4)
    rel, path = _victim_file(tree, "config")
    _replace(path, "fifo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_CLI, "serve", tree.root, "--no-local", "--port", str(port)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                code, health = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        else:
            raise AssertionError("serve did not start")
        time.sleep(1)
        assert p.poll() is None
        t = time.monotonic()
        p.send_signal(sig)
        p.wait(timeout=15)
        tally["hostile_signals"] += 1
        assert time.monotonic() - t < 8, time.monotonic() - t
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_c_in_a_fanned_out_scan_kills_the_workers(tally):
    """Ctrl-C while forked workers are blocked: the parent leaves at once and no worker outlives it."""
    from runwatch.forking import can_fork, fork_map

    if not can_fork():
        pytest.skip("threads alive: this process never forks")
    pids_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rw-fork-{os.getpid()}")

    def share(n: int) -> int:
        if n == 0:
            time.sleep(0.5)  # the workers are blocked by now
            raise KeyboardInterrupt
        with open(pids_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(600)  # a reader blocked for good
        return n

    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fork_map(share, [0, 1, 2])
    tally["hostile_signals"] += 1
    assert time.monotonic() - t < 5
    with open(pids_file) as f:
        pids = [int(x) for x in f.read().split()]
    os.unlink(pids_file)
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
