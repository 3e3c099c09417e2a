"""Prometheus text exposition of the index, so labs can graph their runs in Grafana."""

from __future__ import annotations

from typing import Any

from runwatch.live.index import LiveIndex
from runwatch.run_status.rules import STATUSES


def _label(value: Any) -> str:
    """A label value escaped per the text format (backslash, double quote, newline)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: Any) -> str:
    if v is None:
        return "NaN"
    f = float(v)
    return repr(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def render_metrics(index: LiveIndex, ws: Any = None, notifier: Any = None) -> str:
    seq, records = index.records()
    summary = index.summary()
    out: list[str] = []

    def family(name: str, kind: str, help_: str) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")

    family("runwatch_runs", "gauge", "Runs per status.")
    for s in STATUSES:
        out.append(f'runwatch_runs{{status="{s}"}} {summary["counts"].get(s, 0)}')
    family("runwatch_progress_percent", "gauge", "Mean progress over all runs (0-100).")
    out.append(f"runwatch_progress_percent {_num(summary['progress'])}")
    family("runwatch_run_progress", "gauge", "Progress of each run in percent (0-100).")
    for r in records:
        out.append(f'runwatch_run_progress{{run="{_label(r.get("run"))}",status="{_label(r.get("status"))}"}} {_num(r.get("progress_percentage") or 0.0)}')
    family("runwatch_run_completed_epochs", "gauge", "Completed epochs of each run.")
    for r in records:
        out.append(f'runwatch_run_completed_epochs{{run="{_label(r.get("run"))}"}} {_num(r.get("completed_epochs") or 0)}')
    family("runwatch_run_eta_seconds", "gauge", "Estimated seconds to completion of running runs.")
    for r in records:
        if r.get("eta_seconds") is not None:
            out.append(f'runwatch_run_eta_seconds{{run="{_label(r.get("run"))}"}} {_num(r["eta_seconds"])}')
    family("runwatch_index_seq", "counter", "Sequence number of the newest change to the index.")
    out.append(f"runwatch_index_seq {seq}")
    family("runwatch_process_source_errors", "gauge", "Process sources that could not be asked in the last snapshot.")
    out.append(f"runwatch_process_source_errors {len(summary.get('process_errors') or {})}")
    if ws is not None:
        family("runwatch_ws_clients", "gauge", "Connected WebSocket clients.")
        out.append(f"runwatch_ws_clients {len(ws.clients)}")
        family("runwatch_ws_resyncs_total", "counter", "Snapshots re-sent to clients that fell behind or asked.")
        out.append(f"runwatch_ws_resyncs_total {ws.resyncs}")
        family("runwatch_ws_drops_total", "counter", "Clients disconnected for being too slow.")
        out.append(f"runwatch_ws_drops_total {ws.drops}")
    if notifier is not None:
        _notify_metrics(notifier.health(), family, out)
    return "\n".join(out) + "\n"


def _notify_metrics(health: dict[str, Any], family: Any, out: list[str]) -> None:
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
            out.append(f'{name}{{target="{_label(t["target"])}"}} {_num(t[key])}')
    for name, key, kind, help_ in (
        ("runwatch_notify_transitions_total", "transitions_seen", "counter", "Status transitions seen by the notifier."),
        ("runwatch_notify_notified_total", "transitions_notified", "counter", "Transitions sent to at least one target."),
        ("runwatch_notify_held_back_total", "held_back", "counter", "Transitions of flapping runs held back."),
        ("runwatch_notify_hooks_total", "hooks_run", "counter", "Command hooks run."),
        ("runwatch_notify_hook_failures_total", "hook_failures", "counter", "Command hooks that failed, timed out or could not start."),
    ):
        family(name, kind, help_)
        out.append(f"{name} {_num(health[key])}")
