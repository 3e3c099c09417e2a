"""Layering and import weight: data flows one way, and the core stays light."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "runwatch")

# Lower number = lower layer. A module may import only from its own layer or below.
# Every module of the package is in exactly one of these (test_every_module_has_a_layer).
LAYERS = {
    # 0, foundations: data types, path arithmetic, settings, process-wide state
    "runwatch.settings": 0,
    "runwatch.project": 0,
    "runwatch.layout": 0,
    "runwatch.pylon_paths": 0,
    "runwatch.process_info": 0,
    "runwatch.sharing": 0,
    "runwatch.state": 0,
    "runwatch.errors": 0,
    "runwatch.status_names": 0,
    "runwatch.atomic_files": 0,
    "runwatch.forking": 0,
    "runwatch.fork_stream": 0,
    "runwatch.claims": 0,
    "runwatch.gc_promote": 0,
    "runwatch.notify_targets": 0,
    "runwatch.terminal_text": 0,
    "runwatch.json_out": 0,
    "runwatch.agent_client": 0,
    "runwatch.project_root": 0,
    "runwatch.settings_source": 0,
    "runwatch.closed_pipe": 0,
    "runwatch.argv_split": 0,
    # 1, readers: one file into facts
    "runwatch.readers": 1,
    "runwatch.configs": 1,
    # 2, progress: one run's progress; the layouts behind the Layout protocol
    "runwatch.progress_tracking": 2,
    "runwatch.layouts": 2,
    # 3, status: the decision, the scan engine, the view model
    "runwatch.run_status": 3,
    "runwatch.run_status.verdict_store": 3,  # a new process's reuse of a run's kept verdict (in the progress store)
    "runwatch.view_model": 3,
    "runwatch.compare": 3,
    # 4, sources of processes and jobs; the tree generator
    "runwatch.processes": 4,
    "runwatch.testing": 4,
    "runwatch.records_api": 4,
    # 5, live: index, watcher, notifications
    "runwatch.live": 5,
    # 6-8, surfaces
    "runwatch.server": 6,
    "runwatch.hub": 7,
    "runwatch.cli_scan": 8,
    "runwatch.cli_agent": 8,
    "runwatch.render": 8,
    "runwatch.cli_watch": 8,
    "runwatch.cli_compare": 8,
    "runwatch.settings_doc": 8,
    "runwatch.demo": 8,
    "runwatch.cli": 8,
    "runwatch.cli_oneshot": 8,  # a status --json/--jsonl without an agent, without click
    "runwatch.cli_entry": 8,  # the console script: the agent's answer before any heavy import, else runwatch.cli
    "runwatch.__main__": 8,
    "runwatch.pylon": 8,  # the drop-in for the API Pylon shipped (docs/pylon.md)
    "runwatch": 4,  # the package's own __init__: the public API, re-exported (its default monitor asks layer 4)
}


def layer_of(module: str) -> int | None:
    best = None
    for prefix, layer in LAYERS.items():
        if prefix == "runwatch" and module != "runwatch":
            continue  # the package root is its own entry, not a prefix of everything
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best[1] if best else None


def modules():
    for dirpath, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    rel = rel[: -len(".__init__")]
                yield rel, path


def test_lower_layers_never_import_higher_ones():
    """Deferred imports included; ``from runwatch.pkg import sub`` is an import of ``sub``."""
    violations = []
    for mod, deps in sorted(import_graph().items()):
        own = layer_of(mod)
        for dep in sorted(deps):
            other = layer_of(dep)
            if own is not None and other is not None and other > own:
                violations.append(f"{mod} (layer {own}) imports {dep} (layer {other})")
    assert not violations, "\n".join(violations)


def test_every_module_has_a_layer():
    missing = sorted(mod for mod, _ in modules() if layer_of(mod) is None)
    assert not missing, f"modules in no layer (add them to LAYERS and docs/ARCHITECTURE.md): {missing}"


def _packages_run_first(dep: str, importer: str) -> list[str]:
    """The packages whose ``__init__`` importing ``dep`` runs first: ``runwatch.a.b.c`` runs ``runwatch.a`` and
    ``runwatch.a.b``. The package root (imported before anything) and the importer's own packages (already
    being imported) are left out."""
    parts = dep.split(".")
    own = {importer.rsplit(".", n)[0] for n in range(importer.count("."))} | {importer}
    return [p for p in (".".join(parts[:i]) for i in range(2, len(parts))) if p not in own]


def import_graph() -> dict[str, set[str]]:
    """module -> the runwatch modules it imports, at module level or inside functions (deferred).

    ``from runwatch.pkg import sub`` names the submodule ``sub``, not the package; but importing
    ``runwatch.pkg.sub`` runs ``runwatch/pkg/__init__.py`` first, so the package is an import too
    (a module of a lower layer cannot reach a low module kept inside a higher package). In a module that
    calls ``importlib.import_module``, every string naming a runwatch module counts as an import of it.
    """
    mods = dict(modules())
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        source = open(path, encoding="utf-8").read()
        tree = ast.parse(source, path)
        lazy = "import_module" in source
        package = mod if path.endswith("__init__.py") else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("runwatch"):
                    continue
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                deps.update(subs)
                if target in mods and len(subs) < len(node.names):
                    deps.add(target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif lazy and isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods:
                deps.add(node.value)  # a module named for importlib.import_module (a lazy import table)
        deps |= {parent for dep in deps for parent in _packages_run_first(dep, mod) if parent in mods}
        deps.discard(mod)
        graph[mod] = deps
    return graph


def test_no_import_cycles_deferred_imports_included():
    """No module reaches itself through imports: not two modules importing each other, not a longer loop."""
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, "modules that import each other (directly or in a loop): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_core_import_is_light():
    code = (
        "import sys, runwatch; "
        "heavy = [m for m in ('torch', 'starlette', 'uvicorn', 'asyncssh', 'watchfiles', 'rich', 'psutil', 'pynvml', 'numpy', 'apprise') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"importing runwatch pulled in: {out.stdout.strip()}"


def test_public_api_reexported():
    import runwatch

    for name in (
        "ProgressInfo",
        "BaseProgressTracker",
        "create_progress_tracker",
        "detect_runner_type",
        "get_run_status",
        "get_all_run_status",
        "RunStatus",
        "ProcessInfo",
        "get_session_progress",
        "check_epoch_finished",
        "get_log_last_update",
        "get_epoch_last_update",
    ):
        assert hasattr(runwatch, name), name
    assert set(runwatch.__all__) <= set(dir(runwatch))
