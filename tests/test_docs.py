"""Every code block of the docs runs, and the generated references are complete and current.

Blocks of README.md and docs/*.md, by language:

* ``python``: the blocks of one file run in order in one fresh interpreter (later blocks
  use names the earlier ones defined), in a folder where ``path/to/pylon`` is a demo
  project and ``configs/``/``logs/`` are that project's (so ``configs/x.py`` and
  ``logs/x`` name real runs).
* ``bash``/``sh``: every line that starts with ``runwatch`` runs in the demo project and
  must exit 0 (1 for ``--fail-on``, which is its purpose) without a traceback.
* ``toml``: parses, and a ``runwatch.toml`` holding it loads through the settings loader.
* ``json``: parses, unless it is a schema sketch (it names ``RunRecord``).
* anything else (no language: captures of output, usage lines): shown, not run.

Skipped, by the rules in ``SKIP_PYTHON`` and ``SKIP_BASH`` below (each says why).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# (pattern in a python block, why it is not run)
SKIP_PYTHON = (
    ("run_server(", "starts a server that blocks until Ctrl-C (tests/test_server.py runs it)"),
    ("ssh=[", "asks SSH servers of a lab (tests/test_processes_ssh.py uses a real sshd)"),
    ("SshSource([", "asks SSH servers of a lab (tests/test_processes_ssh.py uses a real sshd)"),
)
# (pattern in a bash line, why it is not run)
SKIP_BASH = (
    ("--watch", "redraws until Ctrl-C (tests/test_cli_terminal.py runs it in tmux)"),
    ("runwatch serve", "serves until Ctrl-C (tests/test_server.py)"),
    ("runwatch demo", "runs until Ctrl-C (tests/test_demo.py)"),
    ("--ssh", "asks SSH servers of a lab"),
    ("--slurm", "asks a Slurm cluster (tests/test_processes_slurm.py)"),
    ("runwatch notify", "sends to outside services or runs until Ctrl-C (its own tests use local receivers)"),
    ("runwatch hub", "subscribes to agents on other clusters and serves until Ctrl-C (tests/test_hub.py)"),
)


def blocks(doc: str) -> list[tuple[str, str, int]]:
    text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
    return [(m.group(1), m.group(2), text[: m.start()].count("\n") + 1) for m in BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with path/to/pylon (a demo project without its live processes) and configs/, logs/ of it."""
    from runwatch.demo.project import create_demo_project

    ws = tmp_path_factory.mktemp("docs")
    project = ws / "path" / "to" / "pylon"
    demo = create_demo_project(str(project), n_runs=36, n_live=6)
    for name in ("configs", "logs"):
        os.symlink(project / name, ws / name)
    # The names the docs use for "a trainer", "an evaluator", "a benchmark config".
    by_kind = {}
    for rel in sorted(os.path.relpath(p, project / "configs")[:-3] for p in glob.glob(str(project / "configs" / "*" / "*" / "*.py"))):
        wd = project / "logs" / rel
        kind = "evaluator" if (wd / "evaluation_scores.json").exists() else "trainer" if (wd / "epoch_0").exists() else None
        if kind and rel.startswith(("trainers/", "evals/")) and kind not in by_kind:
            by_kind[kind] = rel
    for alias, kind in (("x", "trainer"), ("eval_x", "evaluator"), ("benchmarks/cd/BiFA_run_0", "trainer"), ("benchmarks/cd/x", "trainer")):
        src = by_kind[kind]
        os.makedirs(os.path.dirname(project / "configs" / alias), exist_ok=True)
        shutil.copy(project / "configs" / f"{src}.py", project / "configs" / f"{alias}.py")
        shutil.copytree(project / "logs" / src, project / "logs" / alias)
    assert demo.plan
    return ws, project


def _python_blocks(doc: str) -> list[tuple[str, int]]:
    out = []
    for lang, body, line in blocks(doc):
        if lang == "python" and not any(p in body for p, _ in SKIP_PYTHON):
            out.append((body, line))
    return out


@pytest.mark.parametrize("doc", [d for d in DOCS if _python_blocks(d)])
def test_python_blocks_run(workspace, doc) -> None:
    ws, _ = workspace
    driver = textwrap.dedent(
        """
        import json, sys, traceback
        blocks = json.load(open(sys.argv[1]))
        ns = {"__name__": "__docs__"}
        for code, line in blocks:
            try:
                exec(compile(code, f"%s:{line}", "exec"), ns)
            except Exception:
                traceback.print_exc()
                print(f"BLOCK FAILED at %s line {line}", file=sys.stderr)
                sys.exit(1)
        """
        % (doc, doc)
    )
    (ws / "blocks.json").write_text(json.dumps(_python_blocks(doc)))
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", driver, str(ws / "blocks.json")], cwd=ws, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-3000:]


def _bash_lines(doc: str) -> list[tuple[str, int]]:
    out = []
    for lang, body, line in blocks(doc):
        if lang not in ("bash", "sh", "shell", "console"):
            continue
        for i, raw in enumerate(body.splitlines()):
            cmd = re.sub(r"\s+#\s.*$", "", raw).strip()
            if cmd.startswith("runwatch ") and not any(p in cmd for p, _ in SKIP_BASH):
                out.append((cmd, line + 1 + i))
    return out


@pytest.mark.parametrize("doc", [d for d in DOCS if _bash_lines(d)])
def test_bash_runwatch_commands_run(workspace, doc) -> None:
    _, project = workspace
    env = dict(os.environ, PYTHONPATH=ROOT, COLUMNS="120", NO_COLOR="1")
    for cmd, line in _bash_lines(doc):
        args = shlex.split(cmd)[1:]
        r = subprocess.run([sys.executable, "-m", "runwatch.cli", *args], cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False)
        ok = (0, 1) if "--fail-on" in args else (0,)
        assert r.returncode in ok and "Traceback" not in r.stderr, f"{doc}:{line}: {cmd}\n{r.stderr[-2000:]}"
        assert r.stdout.strip(), f"{doc}:{line}: {cmd} printed nothing"


@pytest.mark.parametrize("doc", DOCS)
def test_toml_and_json_blocks_parse(tmp_path, doc) -> None:
    from runwatch.settings import load_settings

    for lang, body, line in blocks(doc):
        if lang == "toml":
            data = tomllib.loads(body)
            if doc.endswith("pyproject.toml") or "[tool.runwatch]" in body:
                continue
            (tmp_path / "runwatch.toml").write_text(body)
            load_settings(tmp_path)  # raises SettingsError naming a key a doc got wrong
            assert data is not None
        elif lang == "json" and "RunRecord" not in body:
            json.loads(body), f"{doc}:{line}"


def test_settings_reference_lists_every_key_and_is_current() -> None:
    from runwatch.settings_doc import render, settings_keys

    path = os.path.join(ROOT, "docs", "settings.md")
    text = open(path, encoding="utf-8").read()
    for key in settings_keys():  # read from the Settings dataclass: a key added there must appear here
        assert f"| `{key}` |" in text, f"docs/settings.md lacks {key}; run: python -m runwatch.settings_doc > docs/settings.md"
    assert text == render(), "docs/settings.md is stale; run: python -m runwatch.settings_doc > docs/settings.md"
    assert "(undocumented)" not in text


def test_every_docs_link_to_a_doc_resolves() -> None:
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if "://" in target:
                continue
            assert os.path.exists(os.path.join(ROOT, os.path.dirname(doc), target)), f"{doc}: broken link {target}"


def test_readme_example_says_so_on_a_path_that_is_not_a_project(tmp_path) -> None:
    """Run where path/to/pylon does not exist, the README's example prints why instead of nothing."""
    code = "\n".join(body for lang, body, _ in blocks("README.md") if lang == "python")
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    assert "no runs under" in r.stdout and "is it a project root?" in r.stdout
