"""The ``runwatch`` command line: status table, run detail, dashboard server and demo.

Startup time matters (``runwatch status --json`` runs from cron and agents), so this
module imports only click and the core at load time; rich, the server, SSH and the
demo are imported inside the commands that use them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from runwatch import __version__, json_out
from runwatch.cli_scan import SORT_KEYS, user_mistake
from runwatch.cli_watch import first_scan as _first_scan
from runwatch.cli_watch import make_console
from runwatch.cli_oneshot import WalkReport as _WalkReport
from runwatch.cli_watch import watch as _watch
from runwatch.terminal_text import terminal_safe

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAIL_ON = 1
EXIT_USAGE = 2


class CliError(click.ClickException):
    """A user mistake: printed as one ``Error: ...`` line, exit code 2, never a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(terminal_safe(message))  # messages name paths and runs: text from disk


def user_errors(fn: F) -> F:
    """Turn the core's input errors (bad settings file, bad path, bad pattern) into CliError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            message = user_mistake(e)
            if message is None:
                raise
            raise CliError(message) from None

    return wrapper  # type: ignore[return-value]


def source_options(fn: F) -> F:
    """Process-source options shared by every command that decides stuck vs failed.

    The command receives them as one ``sources`` argument (a ``ProcessSources``).
    """

    @functools.wraps(fn)
    def with_sources(*args: Any, local: bool, ssh: tuple[str, ...], no_ssh: bool, slurm: bool | None, **kwargs: Any) -> Any:
        from runwatch.cli_scan import ProcessSources

        return fn(*args, sources=ProcessSources(local=local, ssh=tuple(ssh), no_ssh=no_ssh, slurm=slurm), **kwargs)

    cmd: Any = with_sources
    cmd = click.option("--local/--no-local", default=True, show_default=True, help="Look for run processes on this machine.")(cmd)
    cmd = click.option(
        "--ssh",
        "ssh",
        multiple=True,
        metavar="HOST[,HOST]",
        help="Also look on these servers over SSH (repeatable; default: ssh_servers from the settings file).",
    )(cmd)
    cmd = click.option("--no-ssh", is_flag=True, help="Do not ask any SSH server, whatever the settings say.")(cmd)
    cmd = click.option("--slurm/--no-slurm", default=None, help="Also ask Slurm for jobs (default: the settings file's `slurm`).")(cmd)
    return cmd


def _remember_exec_configs(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["runwatch.exec_configs"] = True
    return value


def exec_configs_option(fn: F) -> F:
    return click.option(
        "--exec-configs",
        is_flag=True,
        expose_value=False,
        callback=_remember_exec_configs,
        help="Read configs by running each in a time-limited subprocess (for configs that compute values in loops; runs project code).",
    )(fn)


def project_options(fn: F) -> F:
    fn = exec_configs_option(fn)
    fn = click.option(
        "--root",
        type=click.Path(file_okay=False),
        default=None,
        help="Project root (default: the nearest folder with configs/ or runwatch.toml at or above the paths or the current dir).",
    )(fn)
    fn = click.option(
        "--sleep-time",
        type=click.IntRange(min=0),
        default=None,
        help="Seconds since the last log write for a run to count as running (default from settings: 86400).",
    )(fn)
    fn = click.option(
        "--outdated-days", type=click.FloatRange(min=0), default=None, help="Days after which a finished run counts as outdated (default from settings: 30)."
    )(fn)
    return fn


def open_project(root: str | None, paths: Sequence[str], sleep_time: int | None, outdated_days: float | None) -> Any:
    from runwatch.cli_scan import check_project, infer_root
    from runwatch.project import Project
    from runwatch.settings import load_settings

    r = infer_root(root, paths)
    overrides: dict[str, Any] = {}
    if sleep_time is not None:
        overrides["sleep_time"] = sleep_time
    if outdated_days is not None:
        overrides["outdated_days"] = outdated_days
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get("runwatch.exec_configs"):
        overrides["exec_configs"] = True
    project = Project.at(r, load_settings(r, **overrides))
    check_project(project)
    return project


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="runwatch")
def cli() -> None:
    """The state of every experiment run, from the files the runs already write.

    \b
    runwatch status              every run under the project, as a table
    runwatch status --json       the same, as one JSON document (see docs/cli.md)
    runwatch status --jsonl      one JSON record per run and line, for pipes
    runwatch show RUN            one run in depth: epochs, scores, log tail
    runwatch compare RUN...      runs side by side: curves, hyperparameters, datapoints
    runwatch serve               the web dashboard
    runwatch hub A=URL B=URL     one dashboard over many clusters' `serve` agents
    runwatch notify              messages and hooks when a run changes status
    runwatch demo                a live demo project with the dashboard
    """


def _layouts_help() -> str:
    """The layouts runwatch reads, from their registry (runwatch.layouts.LAYOUTS)."""
    from runwatch.layouts import LAYOUTS

    return (
        "\n\n\b\nRuns it finds (settings: layout = auto | "
        + " | ".join(layout.name for layout in LAYOUTS)
        + "):\n"
        + "\n".join(f"  {layout.name:<12} {layout.title}" for layout in LAYOUTS)
    )


cli.help = (cli.help or "") + _layouts_help()


# ---------------------------------------------------------------- status


@cli.command()
@click.argument("paths", nargs=-1)
@project_options
@click.option("--status", "status_filter", multiple=True, metavar="STATUS[,STATUS]", help="Only runs with these statuses, e.g. failed,stuck.")
@click.option("--sort", type=click.Choice(SORT_KEYS), default="run", show_default=True, help="Order of the rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (runs + summary, indented) instead of the table.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print one JSON record per run, one per line (for grep, jq, head).")
@click.option(
    "--columns",
    metavar="COL[,COL]",
    default=None,
    help="Table columns, in this order: run, kind, status, reason, progress, stop, metric, best, latest, updated, eta, process, flags (default: as many as the terminal width allows).",
)
@click.option(
    "--filter",
    "-q",
    "query_text",
    default=None,
    metavar="QUERY",
    help="Only runs the search finds: words in the name, reason or a metric's name (mean_IoU), or hyperparameter tests (lr=0.001, optimizer.args.lr>1e-3); all words must match.",
)
@click.option(
    "--hp",
    "hp",
    multiple=True,
    metavar="KEY[,KEY]",
    help="Show these hyperparameters as columns (and as `params` in --json/--jsonl): a full key (optimizer.args.lr) or its last parts (lr).",
)
@click.option("--watch", is_flag=True, help="Refresh the table in place until Ctrl-C (rows cut to the terminal's height, the cut counted).")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, help="Seconds between refreshes with --watch.")
@click.option("--fail-on", multiple=True, metavar="STATUS[,STATUS]", help="Exit with code 1 when any selected run has one of these statuses (for cron/CI).")
@click.option(
    "--refresh",
    is_flag=True,
    help="Read every run's files again, trusting no stored result (sees an in-place rewrite of an old epoch's file); never asks the agent.",
)
@source_options
@user_errors
def status(
    paths: tuple[str, ...],
    root: str | None,
    sleep_time: int | None,
    outdated_days: float | None,
    status_filter: tuple[str, ...],
    sort: str,
    as_json: bool,
    as_jsonl: bool,
    columns: str | None,
    query_text: str | None,
    hp: tuple[str, ...],
    watch: bool,
    interval: float,
    fail_on: tuple[str, ...],
    refresh: bool,
    sources: Any,
) -> None:
    """Status of every run under the project, or of the given PATHS.

    PATHS may be run folders, config files, folders under configs/, work dirs under
    logs/, globs (quoted) or run names such as trainers/group_0/run_3 or outputs/bert.
    """
    from runwatch.cli_scan import Scanner, build_monitor, json_output, parse_status_list, status_rows

    if (as_json or as_jsonl) and watch:
        raise CliError("--json/--jsonl and --watch cannot be combined")
    if as_json and as_jsonl:
        raise CliError("--json and --jsonl cannot be combined; --json is one document, --jsonl one run per line")
    chosen = None
    if columns is not None:  # rich is imported only for a table
        from runwatch.render import parse_columns

        chosen = parse_columns(columns)
    wanted = parse_status_list(status_filter)
    failing = parse_status_list(fail_on)
    query: Any = None
    hp_keys: list[str] = []
    if (query_text and query_text.strip()) or hp:  # (compare.query imported only for a search or --hp)
        from runwatch.compare.query import parse_columns as parse_hp
        from runwatch.compare.query import parse_query

        query = parse_query(query_text)
        hp_keys = parse_hp(hp)
    with _walk_report():  # a walk of a huge folder says how far it got (stderr) and can be interrupted
        project = open_project(root, paths, sleep_time, outdated_days)
    if not watch and not refresh and _agent_may_answer(sources, sleep_time, outdated_days):
        fmt = "json" if as_json else "jsonl" if as_jsonl else "table"
        request = {
            "command": "status",
            "paths": list(paths),
            "status": sorted(wanted),
            "fail_on": sorted(failing),
            "sort": sort,
            "format": fmt,
            "columns": columns,
            "q": query.text if query else None,
            "hp": hp_keys,
        }
        if _print_agent_answer(project, request):
            return
    monitor = build_monitor(project, sources)
    try:
        scanner = Scanner(project, paths, monitor, sleep_time, outdated_days, force_refresh=refresh, remember=watch)
        with _walk_report():
            configs = scanner.configs()
        if watch:
            _watch(scanner, wanted, sort, interval, chosen, query=query, hp=hp_keys)
            return
        result = _first_scan(scanner, configs)
        rows = status_rows(project, result, wanted, sort, query, hp_keys)
        if as_json or as_jsonl:  # (cli_oneshot makes the same text, from the same function)
            click.echo(json_output(project, result, rows, "json" if as_json else "jsonl"), nl=False)
        else:
            from runwatch.render import print_trimmed, status_view

            console = make_console()
            print_trimmed(console, status_view(rows, result, width=console.width, columns=chosen, hp=hp_keys))
        if failing and any(r.status.status in failing for r in rows):
            sys.exit(EXIT_FAIL_ON)
    finally:
        _close(monitor)


def _walk_report() -> _WalkReport:
    return _WalkReport()


def _agent_may_answer(sources: Any, sleep_time: Any, outdated_days: Any) -> bool:
    """Whether a running agent's answer is this command's: default process sources, no option that changes a decision."""
    from runwatch.cli_scan import ProcessSources

    return sources == ProcessSources() and sleep_time is None and outdated_days is None


def _agent_answer() -> Any:
    from runwatch.cli_agent import answer

    return answer


def _print_agent_answer(project: Any, request: dict[str, Any]) -> bool:
    """Print what the project's running agent answers (runwatch/cli_agent.py); False when there is none."""
    from runwatch.cli_agent import ask

    got = ask(project, request)
    if got is None:
        return False
    code, payload = got
    sys.stdout.buffer.write(payload)
    sys.stdout.flush()
    if code:
        sys.exit(code)
    return True


def _close(monitor: Any) -> None:
    close = getattr(monitor, "close", None)
    if close is not None:
        close()


# ---------------------------------------------------------------- show


@cli.command()
@click.argument("run")
@project_options
@click.option("--lines", "-n", type=click.IntRange(min=0), default=20, show_default=True, help="Lines of the newest log to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record with per-epoch details and config facts as JSON.")
@source_options
@user_errors
def show(
    run: str,
    root: str | None,
    sleep_time: int | None,
    outdated_days: float | None,
    lines: int,
    as_json: bool,
    sources: Any,
) -> None:
    """One run in depth: config facts, epochs, scores, early stopping, error, log tail.

    RUN is a config path, a work dir or a run name such as trainers/group_0/run_3.
    """
    from runwatch.cli_scan import Scanner, build_monitor, find_one

    project = open_project(root, [run], sleep_time, outdated_days)
    config = find_one(project, run)
    if _agent_may_answer(sources, sleep_time, outdated_days):
        if _print_agent_answer(project, {"command": "show", "run": config, "lines": lines, "format": "json" if as_json else "table"}):
            return
    monitor = build_monitor(project, sources)
    try:
        result = Scanner(project, [], monitor, sleep_time, outdated_days).scan(configs=[config])
    finally:
        _close(monitor)
    row = result.rows[0]
    if as_json:  # the same detail as the server's /api/runs/{id}
        from runwatch.view_model import run_detail as detail_record

        click.echo(json_out.dumps(detail_record(row.status, row.facts, log_lines=lines, project=project), indent=True, ascii=True))
        return
    from runwatch.render import print_trimmed, run_detail

    print_trimmed(make_console(), run_detail(row, project.root, lines, project=project))


# ---------------------------------------------------------------- compare


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@project_options
@click.option("--metric", "-m", default=None, help="The metric to compare (default: the one most runs have); a sub-metric is NAME[i].")
@click.option(
    "--x",
    "x",
    type=click.Choice(["epoch", "step"]),
    default="epoch",
    show_default=True,
    help="Curves per epoch, or per step (HF, Lightning, MMEngine; YOLO/timm by their epoch rows).",
)
@click.option("--epoch", default=None, metavar="N|latest|best", help="The epoch of the per-datapoint maps (default: each run's latest).")
@click.option(
    "--percentile", type=click.FloatRange(0, 100), default=25.0, show_default=True, help="A datapoint fails in a run when worse than this percentile."
)
@click.option("--hardest", type=click.IntRange(0, 1000), default=10, show_default=True, help="How many of the hardest datapoints to list.")
@click.option("--datapoint", type=click.IntRange(min=0), default=None, help="Show this datapoint's scores in every run and epoch.")
@click.option("--sort", default=None, metavar="KEY", help="Sort the hyperparameter table by a key, best, latest or name (-KEY: descending).")
@click.option("--what", default=None, metavar="DOC[,DOC]", help="Documents: metrics, curves, hparams, failures, hardest, map, datapoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the documents as one JSON object (the same as /api/compare/...).")
@source_options
@user_errors
def compare(
    runs: tuple[str, ...],
    root: str | None,
    sleep_time: int | None,
    outdated_days: float | None,
    metric: str | None,
    x: str,
    epoch: str | None,
    percentile: float,
    hardest: int,
    datapoint: int | None,
    sort: str | None,
    what: str | None,
    as_json: bool,
    sources: Any,
) -> None:
    """Compare runs: curves of a metric, differing hyperparameters, common failures, hardest datapoints.

    RUNS are run names, config paths, work dirs or folders (every run under them).
    """
    from runwatch.cli_compare import DEFAULT_WHAT, WHAT, documents, parse_epoch, scan_runs
    from runwatch.cli_scan import build_monitor

    wanted = tuple(w.strip() for w in what.split(",") if w.strip()) if what else DEFAULT_WHAT
    unknown = [w for w in wanted if w not in WHAT]
    if unknown:
        raise CliError(f"--what: unknown document {', '.join(unknown)}; known: {', '.join(WHAT)}")
    try:
        ep = parse_epoch(epoch)
    except ValueError as e:
        raise CliError(str(e)) from None
    project = open_project(root, runs, sleep_time, outdated_days)
    monitor = build_monitor(project, sources)
    try:
        found = scan_runs(project, runs, monitor)
    finally:
        _close(monitor)
    if not found:
        raise CliError(f"{' '.join(runs)}: no runs found")
    from runwatch.compare.views import CompareError

    try:
        docs = documents(project, found, wanted, metric, x, ep, percentile, hardest, datapoint, sort)
    except CompareError as e:
        raise CliError(str(e)) from None
    if as_json:
        click.echo(json_out.dumps(docs, indent=True, ascii=True))
        return
    from runwatch.cli_compare import render
    from runwatch.render import print_trimmed

    console = make_console()
    print_trimmed(console, render(docs, console.width, color=not console.no_color))


# ---------------------------------------------------------------- serve


def check_port(host: str, port: int) -> None:
    """A clear error, before anything starts, when the port is taken (instead of uvicorn's Errno 98)."""
    import errno
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CliError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a socket in TIME_WAIT is no obstacle
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is already in use (another runwatch serve or demo?); choose another with --port N, or --port 0 for any free port"
                ) from None
            if e.errno in (errno.EACCES, errno.EPERM):
                raise CliError(f"port {port} on {host}: permission denied (ports below 1024 need root); choose another with --port N") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise CliError(f"--host {host}: not an address of this machine") from None
            raise CliError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def _load_server() -> Callable[..., None] | None:
    try:
        from runwatch.server import run_server
    except ImportError:
        return None
    return run_server


@cli.command()
@click.argument("root", required=False, type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for every interface; then use --token).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="TCP port to listen on (0: any free port; the URL printed says which)."
)
@click.option("--token", default=None, envvar="RUNWATCH_TOKEN", help="Require this token (also RUNWATCH_TOKEN).")
@click.option("--polling/--no-polling", default=None, help="Poll the file system instead of watching it (network file systems).")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True, help="Open the dashboard in a web browser once it listens.")
@click.option("--no-browser", "no_browser", is_flag=True, hidden=True, help="Same as --no-open (the demo's spelling).")
@click.option("--name", default=None, help="This agent's stable name, in every record and the summary as `cluster` (default: the host name).")
@exec_configs_option
@source_options
@user_errors
def serve(
    root: str | None,
    host: str,
    port: int,
    token: str | None,
    polling: bool | None,
    open_browser: bool,
    no_browser: bool,
    name: str | None,
    sources: Any,
) -> None:
    """Serve the live dashboard for the project at ROOT (default: the current project)."""
    from runwatch.cli_scan import build_monitor

    project = open_project(root, [], None, None)
    check_port(host, port)
    open_browser = open_browser and not no_browser
    run_server = _load_server()
    if run_server is None:
        raise CliError("the dashboard server (runwatch.server) is not available in this installation; use `runwatch status --watch`")
    monitor = build_monitor(project, sources)
    try:
        run_server(
            project.root,
            host=host,
            port=port,
            token=token,
            open_browser=open_browser,
            settings=project.settings,
            monitor=monitor,
            polling=polling,
            on_ready=lambda url: click.echo(f"runwatch dashboard: {url}  (Ctrl-C to stop)"),
            name=name,
            # One-shot commands on this machine ask this agent (only when it sees processes as they would).
            agent_answer=_agent_answer() if _agent_may_answer(sources, None, None) else None,
        )
    except KeyboardInterrupt:
        pass
    finally:
        _close(monitor)


# ---------------------------------------------------------------- hub


@cli.command()
@click.argument("agents", nargs=-1, required=True, metavar="NAME=URL...")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (anything but loopback needs --token, or one is generated).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="TCP port to listen on (0: any free port; the URL printed says which)."
)
@click.option("--token", default=None, envvar="RUNWATCH_HUB_TOKEN", help="Require this token of the hub's own clients (also RUNWATCH_HUB_TOKEN).")
@click.option("--open/--no-open", "open_browser", default=False, help="Open the hub's page in a web browser once it listens.")
@user_errors
def hub(agents: tuple[str, ...], host: str, port: int, token: str | None, open_browser: bool) -> None:
    """One dashboard over many `runwatch serve` agents, one per cluster.

    Each agent is NAME=URL: the URL `runwatch serve` prints (token included), or
    ssh://user@login-node/PORT for an agent on that node's loopback port, reached
    through an SSH port forward the hub opens (your ssh config, keys and known_hosts).
    """
    from runwatch.hub import AgentSpecError, run_hub

    check_port(host, port)
    try:
        run_hub(
            list(agents),
            host=host,
            port=port,
            token=token,
            open_browser=open_browser,
            on_ready=lambda url: click.echo(f"runwatch hub: {url}  (Ctrl-C to stop)"),
        )
    except AgentSpecError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------- notify


@cli.command()
@click.argument("root", required=False, type=click.Path(file_okay=False))
@click.option(
    "--url", "urls", multiple=True, metavar="URL", help="Also send to this Apprise URL (repeatable), e.g. mailto://..., json://host/path, ntfy://topic."
)
@click.option("--test", "send_test", is_flag=True, help="Send one test message to each target, say which failed, and exit (code 1 if any failed).")
@click.option(
    "--dashboard-url", default=None, metavar="URL", help="The dashboard's address, for a link to each run in messages (default: [notify] dashboard_url)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=5.0,
    show_default=True,
    help="Seconds between sweeps (changes no file event shows: a log going quiet, a process ending).",
)
@click.option("--polling/--no-polling", default=None, help="Poll the file system instead of watching it (network file systems).")
@click.option("--quiet", "-q", is_flag=True, help="Log only problems (failed deliveries, failing hooks).")
@exec_configs_option
@source_options
@user_errors
def notify(
    root: str | None,
    urls: tuple[str, ...],
    send_test: bool,
    dashboard_url: str | None,
    interval: float,
    polling: bool | None,
    quiet: bool,
    sources: Any,
) -> None:
    """Send a message (and run the [notify] commands) whenever a run changes status, until Ctrl-C.

    Watches the project at ROOT like the dashboard does. On its first start it records
    every run's status and sends nothing; after that each transition the [notify]
    section asks for is sent once, even across restarts. See docs/notify.md.
    """
    import asyncio
    import logging

    from runwatch.cli_scan import build_monitor
    from runwatch.live.index import LiveIndex
    from runwatch.live.notify import Notifier, watch_and_notify

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING if quiet else logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apprise").propagate = False  # its errors are in our own failure lines
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    if dashboard_url is not None and not dashboard_url.startswith(("http://", "https://")):
        raise CliError(f"--dashboard-url must be an http:// or https:// URL, got {dashboard_url!r}")
    project = open_project(root, [], None, None)
    notifier = Notifier(project, project.settings.notify, extra_urls=urls, dashboard_url=dashboard_url)
    checked = [(w.label, w.target.check()) for w in notifier.targets.values()]
    bad = [(label, why) for label, why in checked if why]
    if bad:
        raise CliError("; ".join(why for _, why in bad))
    if send_test:
        if not notifier.targets:
            raise CliError("no targets to test: give --url URL or set [notify] urls in runwatch.toml")
        failed = 0
        for label, error in notifier.send_test():
            click.echo(f"{label}: " + ("sent" if error is None else f"FAILED: {error}"))
            failed += error is not None
        sys.exit(EXIT_FAIL_ON if failed else 0)
    if not notifier.enabled:
        raise CliError("nothing to notify: give --url URL or set [notify] urls or commands in runwatch.toml (see docs/notify.md)")
    monitor = build_monitor(project, sources)
    try:
        agent_answer = _agent_answer() if _agent_may_answer(sources, None, None) else None
        scanned = asyncio.run(
            watch_and_notify(LiveIndex(project, monitor=monitor), notifier, polling=polling, sweep_interval=interval, agent_answer=agent_answer)
        )
    except KeyboardInterrupt:
        scanned = True
    finally:
        _close(monitor)
    if not scanned:  # stopped during the first scan: leave now, not when the scan would have ended
        logging.shutdown()
        os._exit(0)


# ---------------------------------------------------------------- demo


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="TCP port of the dashboard (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the dashboard listens on.")
@click.option("--open/--no-open", "open_browser", default=True, show_default=True, help="Open the dashboard in a web browser.")
@click.option("--no-browser", "no_browser", is_flag=True, help="Do not open a browser; just print the URL (same as --no-open).")
@click.option("--runs", type=click.IntRange(min=13, max=2000), default=36, show_default=True, help="Generated runs besides the live ones.")
@click.option("--live", "n_live", type=click.IntRange(min=0, max=32), default=6, show_default=True, help="Runs trained live by writer processes.")
@click.option("--terminal", is_flag=True, help="Show the live table in the terminal instead of serving the dashboard.")
@user_errors
def demo(directory: str | None, port: int, host: str, open_browser: bool, no_browser: bool, runs: int, n_live: int, terminal: bool) -> None:
    """A demo project with live runs, and the dashboard on it (Ctrl-C stops everything).

    DIRECTORY is created (or reused if it holds an earlier demo) and kept; without
    it the demo lives in a temporary folder removed on exit.
    """
    from runwatch.demo.session import run_demo

    if not terminal:
        check_port(host, port)  # before any run is started
    run_demo(
        directory, host=host, port=port, open_browser=open_browser and not no_browser, n_runs=runs, n_live=n_live, terminal=terminal, load_server=_load_server
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="runwatch")


if __name__ == "__main__":  # pragma: no cover
    main()
