"""``NAME=URL``: which agents a hub subscribes to, and how it reaches each.

URL is what ``runwatch serve`` prints (``http://host:port/?token=...``; ``https``,
``ws`` and ``wss`` are taken too), or ``ssh://[user@]login-node[:sshport]/PORT[?token=...]``
for an agent listening on the login node's loopback port PORT, reached through an
SSH port forward the hub opens itself. The token is kept apart from the URL, which
is what the summary, the page and the log show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from runwatch.processes.ssh import ServerSpec, ServerSpecError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


class AgentSpecError(ValueError):
    """An agent argument that is not ``NAME=URL``; the message says what is wrong."""


@dataclass(frozen=True)
class AgentSpec:
    name: str
    base: str  # http(s)://host:port/ of the agent; for ssh: the remote port's own view, for display
    token: str | None = field(default=None, repr=False)
    ssh: ServerSpec | None = None  # reach it through this login node
    remote_port: int | None = None  # the agent's port on the login node (ssh only)

    @property
    def shown(self) -> str:
        """The URL without its token: safe for logs, the summary and the page."""
        if self.ssh is not None:
            user = f"{self.ssh.user}@" if self.ssh.user else ""
            port = f":{self.ssh.port}" if self.ssh.port else ""
            return f"ssh://{user}{self.ssh.host}{port}/{self.remote_port}"
        return self.base

    @classmethod
    def parse(cls, arg: str) -> AgentSpec:
        name, sep, url = arg.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not url:
            raise AgentSpecError(f"agent {_safe(arg)!r}: expected NAME=URL, e.g. cluster-a=http://login-a:8765/?token=...")
        if not NAME_RE.match(name):
            raise AgentSpecError(f"agent name {name!r}: use letters, digits, '_', '.' and '-' (at most 64, starting with a letter or digit)")
        parts = urlsplit(url)
        tokens = parse_qs(parts.query).get("token")
        token = tokens[0] if tokens else None
        scheme = parts.scheme.lower()
        if scheme == "ssh":
            remote = parts.path.strip("/")
            if not remote.isdigit() or not 0 < int(remote) < 65536:
                raise AgentSpecError(f"agent {name}: expected ssh://[user@]login-node[:sshport]/PORT, with PORT the agent's port on that node")
            try:
                server = ServerSpec.parse(parts.netloc)
            except ServerSpecError as e:
                raise AgentSpecError(f"agent {name}: {e}") from None
            return cls(name, f"http://127.0.0.1:{remote}/", token, server, int(remote))
        if scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise AgentSpecError(f"agent {name}: expected an http:// URL as `runwatch serve` prints it, or ssh://user@login-node/PORT")
        try:
            port = parts.port
        except ValueError:
            raise AgentSpecError(f"agent {name}: bad port in the URL") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        http = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        return cls(name, f"{http}://{host}{f':{port}' if port else ''}/", token)


def ws_url(base: str) -> str:
    """The agent's WebSocket, from its http(s) base URL (the token travels in a header)."""
    scheme, rest = base.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "ws"


def _safe(arg: str) -> str:
    """An argument as it may appear in a message: a token in it is cut out."""
    return re.sub(r"token=[^&\s]*", "token=...", arg)
