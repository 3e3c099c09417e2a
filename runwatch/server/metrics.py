"""Prometheus text exposition of the index, so labs can graph their runs in Grafana.

Every series carries ``cluster`` (the agent's ``--name``; a hub gives each agent's
series that agent's name and its own series its own), so one Prometheus can scrape a
fleet of agents, or one hub, and tell the clusters apart. Label cardinality is
bounded: per-status, per-cluster series are fixed in number, and the per-run series
(``runwatch_run_*``) exist only for active runs (running, stuck, queued); finished,
failed and outdated runs are counted in ``runwatch_runs`` but get no series of their own.
"""

from __future__ import annotations

from typing import Any

from runwatch.run_status.rules import STATUSES

# Runs whose per-run series are exported: those whose progress can still change.
ACTIVE_STATUSES = frozenset({"running", "stuck", "queued"})


def _label(value: Any) -> str:
    """A label value escaped per the text format (backslash, double quote, newline)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: Any) -> str:
    if v is None:
        return "NaN"
    f = float(v)
    return repr(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def _groups(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per cluster: its summary. A hub's summary has them under ``clusters``; an agent is one."""
    clusters = summary.get("clusters")
    if isinstance(clusters, dict):
        return clusters
    return {str(summary.get("cluster") or ""): summary}


def render_metrics(index: Any, ws: Any = None, notifier: Any = None) -> str:
    """The text format over an index-like object (a LiveIndex or a hub's merged index)."""
    seq, records = index.records()
    summary = index.summary()
    own = _label(summary.get("cluster") or "")
    groups = {_label(name): s for name, s in _groups(summary).items()}
    out: list[str] = []

    def family(name: str, kind: str, help_: str) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")

    family("runwatch_runs", "gauge", "Runs per status.")
    for c, s in groups.items():
        counts = s.get("by_status") or {}
        for st in STATUSES:
            out.append(f'runwatch_runs{{cluster="{c}",status="{st}"}} {counts.get(st, 0)}')
    family("runwatch_progress_percent", "gauge", "Mean progress over all runs (0-100).")
    for c, s in groups.items():
        out.append(f'runwatch_progress_percent{{cluster="{c}"}} {_num(s.get("progress_percentage") or 0.0)}')
    family("runwatch_epochs_done", "gauge", "Completed epochs summed over all runs (epochs per hour: delta over 1h).")
    for c, s in groups.items():
        out.append(f'runwatch_epochs_done{{cluster="{c}"}} {_num(s.get("completed_epochs") or 0)}')
    active = [(_label(r.get("cluster") or summary.get("cluster") or ""), r) for r in records if r.get("status") in ACTIVE_STATUSES]
    family("runwatch_run_progress", "gauge", "Progress of each active (running, stuck, queued) run in percent (0-100).")
    for c, r in active:
        out.append(
            f'runwatch_run_progress{{cluster="{c}",run="{_label(r.get("run"))}",status="{_label(r.get("status"))}"}} {_num(r.get("progress_percentage") or 0.0)}'
        )
    family("runwatch_run_completed_epochs", "gauge", "Completed epochs of each active run.")
    for c, r in active:
        out.append(f'runwatch_run_completed_epochs{{cluster="{c}",run="{_label(r.get("run"))}"}} {_num(r.get("completed_epochs") or 0)}')
    family("runwatch_run_eta_seconds", "gauge", "Estimated seconds to completion of active runs.")
    for c, r in active:
        if r.get("eta_seconds") is not None:
            out.append(f'runwatch_run_eta_seconds{{cluster="{c}",run="{_label(r.get("run"))}"}} {_num(r["eta_seconds"])}')
    family("runwatch_index_seq", "counter", "Sequence number of the newest change to the index.")
    out.append(f'runwatch_index_seq{{cluster="{own}"}} {seq}')
    family("runwatch_process_source_errors", "gauge", "Process sources that could not be asked in the last snapshot.")
    for c, s in groups.items():
        out.append(f'runwatch_process_source_errors{{cluster="{c}"}} {len(s.get("process_errors") or {})}')
    if isinstance(summary.get("clusters"), dict):
        family("runwatch_agent_up", "gauge", "1 while the hub holds a live subscription to the agent, else 0.")
        for c, s in groups.items():
            out.append(f'runwatch_agent_up{{cluster="{c}"}} {1 if s.get("reachable") else 0}')
        family("runwatch_agent_stale_runs", "gauge", "Runs shown with their last status because their agent is unreachable.")
        for c, s in groups.items():
            out.append(f'runwatch_agent_stale_runs{{cluster="{c}"}} {0 if s.get("reachable") else int(s.get("total") or 0)}')
    if ws is not None:
        family("runwatch_ws_clients", "gauge", "Connected WebSocket clients.")
        out.append(f'runwatch_ws_clients{{cluster="{own}"}} {len(ws.clients)}')
        family("runwatch_ws_resyncs_total", "counter", "Snapshots re-sent to clients that fell behind or asked.")
        out.append(f'runwatch_ws_resyncs_total{{cluster="{own}"}} {ws.resyncs}')
        family("runwatch_ws_drops_total", "counter", "Clients disconnected for being too slow.")
        out.append(f'runwatch_ws_drops_total{{cluster="{own}"}} {ws.drops}')
    if notifier is not None:
        _notify_metrics(notifier.health(), family, out, own)
    return "\n".join(out) + "\n"


def _notify_metrics(health: dict[str, Any], family: Any, out: list[str], cluster: str) -> None:
    """The notifier's counters (runwatch.live.notify.Notifier.health), one series per target."""
    targets = health["targets"]
    for name, key, kind, help_ in (
        ("runwatch_notify_messages_sent_total", "messages_sent", "counter", "Messages delivered to each notification target."),
        ("runwatch_notify_failures_total", "failures", "counter", "Failed deliveries to each notification target (each is retried with back-off)."),
        ("runwatch_notify_consecutive_failures", "consecutive_failures", "gauge", "Failed deliveries in a row to each target (0: the last one worked)."),
        ("runwatch_notify_pending", "pending", "gauge", "Transitions waiting for each target."),
        ("runwatch_notify_dropped_total", "dropped", "counter", "Transitions dropped for a target that kept failing."),
    ):
        family(name, kind, help_)
        for t in targets:
            out.append(f'{name}{{cluster="{cluster}",target="{_label(t["target"])}"}} {_num(t[key])}')
    for name, key, kind, help_ in (
        ("runwatch_notify_transitions_total", "transitions_seen", "counter", "Status transitions seen by the notifier."),
        ("runwatch_notify_notified_total", "transitions_notified", "counter", "Transitions sent to at least one target."),
        ("runwatch_notify_held_back_total", "held_back", "counter", "Transitions of flapping runs held back."),
        ("runwatch_notify_hooks_total", "hooks_run", "counter", "Command hooks run."),
        ("runwatch_notify_hook_failures_total", "hook_failures", "counter", "Command hooks that failed, timed out or could not start."),
    ):
        family(name, kind, help_)
        out.append(f'{name}{{cluster="{cluster}"}} {_num(health[key])}')
