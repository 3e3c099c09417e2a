"""HubIndex: the merged index of many agents, a run being ``(cluster, run)``.

It has the reading side of a LiveIndex (``seq``, ``records()``, ``summary()``,
``len()``, ``on_delta``), so the server's app, WebSocket fan-out and /metrics serve
it unchanged; it is written by the subscribers, one per agent, from the agents' own
snapshots and deltas. A hub record is the agent's record with ``id`` made unique
across clusters (``<cluster>:<agent id>``), ``cluster`` set to the hub's name for that
agent and ``stale``: true while the agent is unreachable. An unreachable agent's runs
keep their last status: the hub never decides a status itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runwatch.live.index import Delta
from runwatch.run_status.rules import STATUSES
from runwatch.view_model import merge_summaries

SEP = ":"


def hub_id(cluster: str, agent_id: str) -> str:
    return f"{cluster}{SEP}{agent_id}"


def split_id(run_id: str) -> tuple[str, str] | None:
    cluster, sep, agent_id = run_id.partition(SEP)
    return (cluster, agent_id) if sep and cluster and agent_id else None


@dataclass
class AgentState:
    """What the hub knows about one agent, as the summary's ``clusters[name]`` shows it."""

    name: str
    url: str  # without any token
    reachable: bool = False
    synced: bool = False  # a snapshot has arrived at least once
    since: float | None = None  # unreachable since (hub start if never reached)
    last_seen: float | None = None
    error: str | None = None
    agent_seq: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # the agent's last summary

    def to_dict(self) -> dict[str, Any]:
        """The agent's own summary (so flags it adds pass through) with the hub's view of it."""
        s = self.summary
        return {
            **{k: v for k, v in s.items() if k not in ("seq", "cluster", "clusters", "unreachable", "stale")},
            "url": self.url,
            "reachable": self.reachable,
            "since": None if self.reachable else self.since,
            "last_seen": self.last_seen,
            "error": None if self.reachable else self.error,
            "agent_name": s.get("cluster"),
            "seq": self.agent_seq,
            "total": int(s.get("total") or 0),
            "by_status": {st: int((s.get("by_status") or {}).get(st, 0)) for st in STATUSES},
            "progress_percentage": s.get("progress_percentage") or 0.0,
            "completed_epochs": int(s.get("completed_epochs") or 0),
            "total_epochs": int(s.get("total_epochs") or 0),
            "with_warnings": int(s.get("with_warnings") or 0),
            "updated_at": s.get("updated_at"),
            "process_errors": dict(s.get("process_errors") or {}),
            "scanning": bool(s.get("scanning")),
        }


class HubIndex:
    """Records of every agent's runs, keyed by hub id, with a summary over all and per cluster."""

    def __init__(self, agents: Iterable[tuple[str, str]], name: str = "hub", clock: Callable[[], float] = time.time) -> None:
        self.cluster = name
        self.clock = clock
        self.on_delta: Callable[[Delta], None] | None = None
        self.store = None
        self.seq = 0
        self.updated_at: float | None = None
        now = clock()
        self.agents: dict[str, AgentState] = {n: AgentState(n, url, since=now) for n, url in agents}
        self._records: dict[str, dict[str, Any]] = {}
        self._ids: dict[str, set[str]] = {n: set() for n in self.agents}
        self._lock = threading.RLock()
        self._summary = self._compute_summary()

    # ------------------------------------------------------------------ reading

    def records(self) -> tuple[int, list[dict[str, Any]]]:
        """(seq, every record). Records are replaced, never changed, so they are shared, not copied."""
        with self._lock:
            return self.seq, list(self._records.values())

    def record(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._records.get(run_id)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._summary)

    @property
    def scanning(self) -> bool:
        return bool(self._summary["scanning"])

    def __len__(self) -> int:
        return len(self._records)

    # ------------------------------------------------------------------ writing (the subscribers)

    def apply_snapshot(self, cluster: str, seq: int, runs: list[dict[str, Any]], summary: dict[str, Any]) -> Delta | None:
        """The agent's whole state: replaces everything the hub held for it; the agent is reachable."""
        with self._lock:
            a = self.agents[cluster]
            a.reachable, a.synced, a.error, a.agent_seq, a.summary = True, True, None, seq, dict(summary)
            a.last_seen = self.clock()
            fresh = {r["id"]: r for r in (self._import(cluster, rec) for rec in runs) if r is not None}
            old = self._ids[cluster]
            removed = [i for i in old if i not in fresh]
            added: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            for i, r in fresh.items():
                prev = self._records.get(i)
                if prev is None:
                    added.append(r)
                elif prev != r:
                    changed.append(r)
                else:
                    continue
                self._records[i] = r
            for i in removed:
                self._records.pop(i, None)
            self._ids[cluster] = set(fresh)
            # Always a delta: the agent's reachability and counts are news even if no record changed.
            return self._commit(added, changed, removed, force=True)

    def apply_delta(self, cluster: str, msg: dict[str, Any]) -> Delta | None:
        """One agent delta (already checked to follow the last seq) applied to that agent's runs."""
        with self._lock:
            a = self.agents[cluster]
            a.agent_seq = msg.get("seq", a.agent_seq)
            a.last_seen = self.clock()
            if isinstance(msg.get("summary"), dict):
                a.summary = dict(msg["summary"])
            ids = self._ids[cluster]
            added: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            removed: list[str] = []
            for rec in list(msg.get("added") or []) + list(msg.get("changed") or []):
                r = self._import(cluster, rec)
                if r is None:
                    continue
                (changed if r["id"] in self._records else added).append(r)
                self._records[r["id"]] = r
                ids.add(r["id"])
            for agent_id in msg.get("removed") or []:
                i = hub_id(cluster, str(agent_id))
                if self._records.pop(i, None) is not None:
                    ids.discard(i)
                    removed.append(i)
            return self._commit(added, changed, removed)

    def mark_unreachable(self, cluster: str, error: str) -> Delta | None:
        """The agent went away (or was never reached): its runs stay, with ``stale``: true."""
        with self._lock:
            a = self.agents[cluster]
            first = a.reachable or a.error is None
            if a.reachable:
                a.since = self.clock()
            a.reachable, a.error = False, error
            changed = []
            for i in self._ids[cluster]:
                r = self._records[i]
                if not r.get("stale"):
                    r = self._records[i] = {**r, "stale": True}
                    changed.append(r)
            if not changed and not first:
                self._summary = self._compute_summary()  # a new error message; not worth a delta
                return None
            return self._commit([], changed, [], force=True)

    def note_error(self, cluster: str, error: str) -> None:
        """A failed reconnection attempt: the summary shows the newest reason."""
        with self._lock:
            self.agents[cluster].error = error
            self._summary = self._compute_summary()

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _import(cluster: str, rec: Any) -> dict[str, Any] | None:
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            return None
        out = dict(rec)
        out["id"] = hub_id(cluster, rec["id"])
        out["cluster"] = cluster
        out["stale"] = False
        return out

    def _commit(self, added: list[dict[str, Any]], changed: list[dict[str, Any]], removed: list[str], force: bool = False) -> Delta | None:
        if not (added or changed or removed or force):
            self._summary = self._compute_summary()
            return None
        self.seq += 1
        self.updated_at = self.clock()
        self._summary = self._compute_summary()
        delta = Delta(self.seq, added, changed, removed, dict(self._summary))
        if self.on_delta is not None:
            self.on_delta(delta)  # under the lock: listeners get deltas in seq order
        return delta

    def _compute_summary(self) -> dict[str, Any]:
        """The agents' summaries merged (runwatch.view_model.merge_summaries: stale runs included), plus the hub's own fields.

        Merged, not recomputed over the records: a delta costs a few operations per agent, not per run.
        """
        clusters = {n: a.to_dict() for n, a in self.agents.items()}
        errors: dict[str, Any] = {}
        for n, c in clusters.items():
            for src, msg in c["process_errors"].items():
                errors[f"{n}: {src}"] = msg
        # Agents tried and not reached; one not yet tried is neither (``scanning`` covers it).
        unreachable = [{"cluster": n, "since": c["since"], "error": c["error"]} for n, c in clusters.items() if not c["reachable"] and c["error"] is not None]
        return {
            **merge_summaries(clusters.values()),
            "seq": self.seq,
            "updated_at": self.updated_at,
            "process_errors": errors,
            # Until every agent has answered once (or failed to), and while any agent scans.
            "scanning": any(
                (not a.synced and a.error is None) or (a.reachable and c["scanning"]) for a, c in zip(self.agents.values(), clusters.values(), strict=True)
            ),
            "cluster": self.cluster,
            "clusters": clusters,
            "unreachable": unreachable,
            "stale": sum(c["total"] for c in clusters.values() if not c["reachable"]),
        }
