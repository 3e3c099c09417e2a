"""Processes of GPU servers reached over SSH, where labs launch runs in tmux.

One round trip per server runs ps, lists process working dirs and runs both
nvidia-smi queries, so a refresh costs one command per server no matter how many
runs there are; all servers are asked at once and connections are kept between
snapshots because the SSH handshake costs more than the query. Only the user's own
SSH setup is used (ssh config, keys, agent, known_hosts) and host keys are always
checked: a server whose key is not known is reported, never trusted on first sight.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncssh

from runwatch.process_info import ProcessInfo, ProcessSnapshot
from runwatch.processes import nvidia_smi
from runwatch.processes.matching import CommandMatcher
from runwatch.processes.ps_parse import PS_COMMAND, parse_ps

_MARK = "@@runwatch:"

# POSIX sh, because the login shell of a server may be anything (fish, tcsh).
REMOTE_SCRIPT = f"""
echo '{_MARK}ps@@'; {PS_COMMAND}; echo "{_MARK}rc ps $?@@"
echo '{_MARK}cwd@@'; ls -l /proc/[0-9]*/cwd 2>/dev/null
if command -v nvidia-smi >/dev/null 2>&1; then
  echo '{_MARK}apps@@'; {nvidia_smi.APPS_COMMAND} 2>&1; echo "{_MARK}rc apps $?@@"
  echo '{_MARK}gpus@@'; {nvidia_smi.GPUS_COMMAND} 2>&1; echo "{_MARK}rc gpus $?@@"
else
  echo '{_MARK}nogpu@@'
fi
echo '{_MARK}end@@'
"""

_SECTION = re.compile(re.escape(_MARK) + r"(\w+)(?: (\w+) (-?\d+))?@@$")
_CWD_LINE = re.compile(r"/proc/(\d+)/cwd -> (.*)$")


class ServerSpecError(ValueError):
    """A server entry that is not ``[user@]host[:port]``."""


@dataclass(frozen=True)
class ServerSpec:
    """``user@host:port``; user and port are optional and then come from the ssh config."""

    spec: str
    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, spec: str) -> ServerSpec:
        s = spec.strip()
        s = s.removeprefix("ssh://")
        user = None
        if "@" in s:
            user, s = s.rsplit("@", 1)
            if not user:
                raise ServerSpecError(f"ssh server {spec!r}: empty user before '@'")
        port: int | None = None
        if s.startswith("["):  # [ipv6]:port
            end = s.find("]")
            if end < 0:
                raise ServerSpecError(f"ssh server {spec!r}: unclosed '[' in an IPv6 address")
            host, rest = s[1:end], s[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ServerSpecError(f"ssh server {spec!r}: expected ':port' after ']'")
                port = _port(rest[1:], spec)
        elif s.count(":") == 1:
            host, p = s.split(":")
            port = _port(p, spec)
        else:
            host = s
        if not host or any(c.isspace() for c in host):
            raise ServerSpecError(f"ssh server {spec!r}: expected [user@]host[:port]")
        return cls(spec=spec.strip(), host=host, user=user, port=port)


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ServerSpecError(f"ssh server {spec!r}: port must be a number from 1 to 65535, got {text!r}")
    return int(text)


@dataclass
class RemoteOutput:
    """The sections of one round trip's output."""

    ps: str = ""
    ps_rc: int | None = None
    cwds: dict[int, str] | None = None
    apps: str | None = None
    apps_rc: int | None = None
    gpus: str | None = None
    gpus_rc: int | None = None
    complete: bool = False


def split_output(text: str) -> RemoteOutput:
    out = RemoteOutput()
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    rcs: dict[str, int] = {}
    for line in text.splitlines():
        m = _SECTION.match(line.strip())
        if m:
            name, rc_name, rc = m.groups()
            if name == "rc" and rc_name:
                rcs[rc_name] = int(rc)
                current = None
            elif name == "end":
                out.complete = True
                current = None
            else:
                current = sections.setdefault(name, [])
            continue
        if current is not None:
            current.append(line)
    out.ps = "\n".join(sections.get("ps", []))
    out.ps_rc = rcs.get("ps")
    cwds: dict[int, str] = {}
    for line in sections.get("cwd", []):
        m2 = _CWD_LINE.search(line)
        if m2:
            cwds[int(m2.group(1))] = m2.group(2)
    out.cwds = cwds
    if "apps" in sections:
        out.apps, out.apps_rc = "\n".join(sections["apps"]), rcs.get("apps")
    if "gpus" in sections:
        out.gpus, out.gpus_rc = "\n".join(sections["gpus"]), rcs.get("gpus")
    return out


def describe_error(server: str, exc: BaseException, timeout: float) -> str:
    """A message a researcher can act on, naming the server."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return (
            f"{server}: host key not trusted ({exc.reason}); runwatch never accepts unknown host keys: "
            f"check the key and add it to known_hosts (e.g. by connecting once with ssh)"
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return f"{server}: SSH authentication failed ({exc.reason}); runwatch uses your ssh keys and agent, no passwords"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"{server}: no answer within {timeout:g}s (ssh_timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return f"{server}: connection refused (is sshd running on that port?)"
    if isinstance(exc, OSError):
        return f"{server}: cannot connect: {exc.strerror or exc}"
    if isinstance(exc, asyncssh.Error):
        return f"{server}: SSH error: {exc.reason}"
    return f"{server}: {type(exc).__name__}: {exc}"


async def connect(
    server: ServerSpec,
    *,
    config: Sequence[str] = (),
    known_hosts: str | Sequence[str] = (),
    client_keys: Sequence[str] = (),
    timeout: float = 10.0,
    keepalive_interval: float = 30.0,
) -> asyncssh.SSHClientConnection:
    """An SSH connection the way runwatch makes them: the user's ssh config, keys and agent
    (or the paths given), host keys always checked, never a password prompt."""
    kwargs: dict[str, Any] = {
        "config": config,  # () means the user's own ~/.ssh/config
        "known_hosts": known_hosts,
        "connect_timeout": timeout,
        "login_timeout": timeout,
        "keepalive_interval": keepalive_interval,
        "password": None,
        "kbdint_auth": False,
    }
    if server.user:
        kwargs["username"] = server.user
    if server.port:
        kwargs["port"] = server.port
    if client_keys:
        kwargs["client_keys"] = list(client_keys)
    return await asyncssh.connect(server.host, **kwargs)


class _LoopThread:
    """An event loop of our own, so connections outlive a snapshot whoever calls it (CLI or server)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="runwatch-ssh", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class SshSource:
    """Processes of several servers over SSH, each in one round trip, all in parallel.

    ``config``, ``known_hosts`` and ``client_keys`` default to the user's own
    (~/.ssh/config, ~/.ssh/known_hosts, ~/.ssh/id_* and the agent); tests and unusual
    setups pass paths. Passing ``known_hosts=None`` is refused: that would disable
    host key checking.
    """

    def __init__(
        self,
        servers: Sequence[str],
        timeout: float = 10.0,
        name: str = "ssh",
        config: Sequence[str] | None = None,
        known_hosts: str | Sequence[str] | None = (),
        client_keys: Sequence[str] | None = None,
        keepalive_interval: float = 30.0,
    ) -> None:
        if known_hosts is None:
            raise ValueError("known_hosts=None would disable host key checking; runwatch never does that")
        self.name = name
        self.servers = [ServerSpec.parse(s) for s in servers]
        self.timeout = float(timeout)
        self._config = list(config) if config is not None else ()
        self._known_hosts = known_hosts
        self._client_keys = list(client_keys) if client_keys is not None else ()
        self._keepalive = keepalive_interval
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: _LoopThread | None = None
        self._guard = threading.Lock()
        self.connects = 0  # connections opened so far; reuse keeps it at one per server

    # -- public ------------------------------------------------------------------
    def collect(self, project: Any) -> ProcessSnapshot:
        matcher = CommandMatcher(project, remote=True)
        snap = ProcessSnapshot()
        if not self.servers:
            return snap
        with self._guard:
            if self._loop is None:
                self._loop = _LoopThread()
            loop = self._loop
        results = loop.run(self._query_all(), timeout=self.timeout * 2 + 5)
        for server, outcome in zip(self.servers, results, strict=True):
            if isinstance(outcome, BaseException):
                snap.errors[server.spec] = describe_error(server.spec, outcome, self.timeout)
                continue
            self._add(server.spec, outcome, matcher, snap)
        return snap

    def close(self) -> None:
        with self._guard:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run(self._close_all(), timeout=5)
        except Exception:
            pass
        loop.stop()

    # -- parsing -----------------------------------------------------------------
    def _add(self, server: str, text: str, matcher: CommandMatcher, snap: ProcessSnapshot) -> None:
        out = split_output(text)
        if not out.complete:
            snap.errors[server] = f"{server}: the remote command stopped before finishing (output cut short)"
            return
        parsed = parse_ps(out.ps)
        if out.ps_rc not in (0, None) or (not parsed.rows and (parsed.problems or out.ps_rc)):
            detail = parsed.problems[0] if parsed.problems else out.ps.strip()[:200]
            snap.errors[server] = f"{server}: ps failed (exit {out.ps_rc}): {detail}"
            return
        usage: dict[int, nvidia_smi.GpuUsage] = {}
        if out.apps is not None and out.gpus is not None:
            if out.apps_rc == 0 and out.gpus_rc == 0:
                try:
                    usage = nvidia_smi.usage_by_pid(nvidia_smi.parse_compute_apps(out.apps), nvidia_smi.parse_gpus(out.gpus))
                except nvidia_smi.NvidiaSmiError as e:
                    snap.errors[f"{server}:gpu"] = f"{server}: unreadable nvidia-smi output: {e}"
            else:
                first = (out.apps if out.apps_rc else out.gpus or "").strip().splitlines()
                snap.errors[f"{server}:gpu"] = f"{server}: nvidia-smi failed (exit {out.apps_rc or out.gpus_rc}): {first[0] if first else ''}"
        cwds = out.cwds or {}
        snap.hosts.append(server)
        for row in parsed.rows:
            if row.stat is not None and row.stat.startswith(("Z", "X")):
                continue  # exited (a zombie's command line is gone anyway): the run's remembered process tells it
            if not matcher.is_candidate(row.cmd):
                continue
            info = ProcessInfo(
                pid=row.pid,
                user=row.user,
                cmd=row.cmd,
                start_time=row.start_time,
                server=server,
                cwd=cwds.get(row.pid),
                source=self.name,
                state="stopped" if row.stat is not None and row.stat.startswith(("T", "t")) else "running",
            )
            if matcher.apply(info) is None:
                continue
            u = usage.get(row.pid)
            if u is not None:
                info.gpu_indices, info.gpu_memory_mib = u.indices, u.memory_mib
            snap.processes.append(info)

    # -- SSH, on the loop thread -------------------------------------------------------
    async def _query_all(self) -> list[Any]:
        return await asyncio.gather(*(self._query(s) for s in self.servers), return_exceptions=True)

    async def _query(self, server: ServerSpec) -> str:
        lock = self._locks.setdefault(server.spec, asyncio.Lock())
        async with lock:
            try:
                return await asyncio.wait_for(self._round_trip(server), self.timeout)
            except BaseException:
                await self._drop(server.spec)
                raise

    async def _round_trip(self, server: ServerSpec) -> str:
        conn = self._conns.get(server.spec)
        if conn is not None:
            try:
                return await self._run(conn)
            except (asyncssh.Error, OSError):
                # The kept connection died (server restart, network blip): one fresh try.
                await self._drop(server.spec)
        conn = await self._connect(server)
        self._conns[server.spec] = conn
        return await self._run(conn)

    async def _run(self, conn: asyncssh.SSHClientConnection) -> str:
        result = await conn.run("sh -c " + shlex.quote(REMOTE_SCRIPT), check=False)
        stdout = result.stdout
        if isinstance(stdout, bytes):
            stdout = stdout.decode("utf-8", "replace")
        return stdout or ""

    async def _connect(self, server: ServerSpec) -> asyncssh.SSHClientConnection:
        conn = await connect(
            server, config=self._config, known_hosts=self._known_hosts, client_keys=self._client_keys, timeout=self.timeout, keepalive_interval=self._keepalive
        )
        self.connects += 1
        return conn

    async def _drop(self, spec: str) -> None:
        conn = self._conns.pop(spec, None)
        if conn is not None:
            conn.close()

    async def _close_all(self) -> None:
        for spec in list(self._conns):
            await self._drop(spec)
