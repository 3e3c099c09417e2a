"""The config reader under hostile files: syntax errors, import cycles, huge files, fuzz.

A config is arbitrary Python written by people and generators; the reader must give
facts or an error naming the file and line, never raise, hang or execute anything.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwatch.configs import read_config
from runwatch.testing.generator import write_project_sources

from .conftest import examples


def _project(tmp_path) -> str:
    root = str(tmp_path / "proj")
    os.makedirs(os.path.join(root, "configs", "c"), exist_ok=True)
    write_project_sources(root)
    return root


def _cfg(root: str, rel: str, text: str | bytes) -> str:
    path = os.path.join(root, "configs", rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)
    return path


GOOD = (
    "from runners.trainers.supervised_single_task_trainer import SupervisedSingleTaskTrainer\n"
    "from metrics.depth_metric import DepthMetric\n"
    "config = {'runner': SupervisedSingleTaskTrainer, 'epochs': 7, 'metric': {'class': DepthMetric, 'args': {}}}\n"
)


@pytest.mark.parametrize(
    "text,line",
    [
        ("config = {\n  'epochs': 3,\n  'runner': (\n", None),
        ("config = {'epochs': 3}\nif True:\nprint(1)\n", 3),
        ("config = {'epochs': 3}\n\n\n\n  x = 1\n", 5),
        ("config = {'epochs': 3\n", None),
        ("\x00config = {}", None),
    ],
)
def test_syntax_error_names_file_and_line(tmp_path, text, line, tally):
    root = _project(tmp_path)
    path = _cfg(root, "c/bad.py", text)
    tally["config_cases"] += 1
    facts = read_config(path, root=root)
    assert facts.error, facts
    assert "bad.py" in facts.error
    if line is not None:
        assert f":{line}" in facts.error, facts.error


def test_import_cycle_terminates(tmp_path, tally):
    """configs importing each other (a <-> b, and a 3-cycle) finish quickly with facts or an error."""
    root = _project(tmp_path)
    a = _cfg(root, "c/a.py", "from configs.c.b import config as other\nconfig = dict(other)\nconfig['epochs'] = 5\n")
    _cfg(root, "c/b.py", "from configs.c.a import config as other\nconfig = dict(other)\n")
    x = _cfg(root, "c/x.py", "from configs.c.y import config\nconfig['epochs'] = 2\n")
    _cfg(root, "c/y.py", "from configs.c.z import config\n")
    _cfg(root, "c/z.py", "from configs.c.x import config\n")
    selfie = _cfg(root, "c/self.py", "from configs.c.self import config\nconfig['epochs'] = 1\n")
    for path in (a, x, selfie):
        tally["config_cases"] += 1
        t0 = time.monotonic()
        facts = read_config(path, root=root, use_cache=False)
        assert time.monotonic() - t0 < 10
        assert facts.error or facts.warnings or facts.epochs is not None, facts
    # The cycle must be named, not turned into a silent wrong answer.
    facts = read_config(a, root=root, use_cache=False)
    text = (facts.error or "") + " ".join(facts.warnings)
    assert "import cycle" in text and "a.py" in text, facts


@pytest.mark.parametrize("shape", ["seed_list", "many_statements", "long_dict"])
def test_fifty_thousand_line_config(tmp_path, shape, tally):
    root = _project(tmp_path)
    n = 50_000
    if shape == "seed_list":
        body = "seeds = [\n" + "".join(f"    {i},\n" for i in range(n)) + "]\n" + GOOD + "config['train_seeds'] = seeds\n"
    elif shape == "many_statements":
        body = GOOD + "".join(f"config['k{i}'] = {i}\n" for i in range(n))
    else:
        body = GOOD.replace("'epochs': 7,", "'epochs': 7,\n" + "".join(f"    'k{i}': {i},\n" for i in range(n)))
    path = _cfg(root, "c/huge.py", body)
    assert body.count("\n") >= n
    tally["config_cases"] += 1
    t0 = time.monotonic()
    facts = read_config(path, root=root, use_cache=False)
    elapsed = time.monotonic() - t0
    assert facts.error is None, facts.error
    assert facts.epochs == 7 and facts.runner_kind == "trainer"
    assert facts.directions == {"mae": -1}
    assert elapsed < 20, f"{shape}: {elapsed:.1f}s"


def test_deeply_nested_expression(tmp_path, tally):
    """A config with 100k nested brackets: an error naming the file, no RecursionError, no crash."""
    root = _project(tmp_path)
    path = _cfg(root, "c/deep.py", "config = " + "[" * 100_000 + "]" * 100_000 + "\n")
    tally["config_cases"] += 1
    facts = read_config(path, root=root, use_cache=False)
    assert facts.error and "deep.py" in facts.error


def test_config_code_is_never_executed(tmp_path, tally):
    root = _project(tmp_path)
    marker = tmp_path / "EXECUTED"
    path = _cfg(root, "c/evil.py", f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w')\n" + GOOD)
    tally["config_cases"] += 1
    facts = read_config(path, root=root, use_cache=False)
    assert not marker.exists()
    assert facts.epochs == 7


# ----------------------------------------------------------------- fuzz

_python_ish = st.text(
    alphabet=st.sampled_from(list("config=[]{}()'\":,.#\\\n 0123456789abcdeEpochsrunerimport*+-_%@!\t") + ["\x00", "é", "\ud7ff"]),
    max_size=300,
)


@settings(max_examples=examples(150, 3000), deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_python_ish)
def test_fuzz_config_reader_never_raises(tmp_path_factory, text):
    root = str(tmp_path_factory.getbasetemp() / "fuzzcfg")
    if not os.path.isdir(os.path.join(root, "runners")):
        os.makedirs(os.path.join(root, "configs", "c"), exist_ok=True)
        write_project_sources(root)
    path = _cfg(root, "c/fuzz.py", text.encode("utf-8", "surrogatepass"))
    facts = read_config(path, root=root, use_cache=False)
    assert facts.error is None or "fuzz.py" in facts.error
    if facts.epochs is not None:
        assert isinstance(facts.epochs, int)


_config_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=20,
)


@settings(max_examples=examples(100, 2000), deadline=None, suppress_health_check=list(HealthCheck))
@given(epochs=st.integers(0, 10**6), extra=st.dictionaries(st.text(min_size=1, max_size=10), _config_values, max_size=5))
def test_fuzz_literal_configs_read_exactly(tmp_path_factory, epochs, extra):
    """Any literal config with an int ``epochs`` is read with exactly that epochs value."""
    root = str(tmp_path_factory.getbasetemp() / "fuzzlit")
    if not os.path.isdir(os.path.join(root, "runners")):
        os.makedirs(os.path.join(root, "configs", "c"), exist_ok=True)
        write_project_sources(root)
    body = {**extra, "epochs": epochs}
    text = GOOD.replace("'epochs': 7", "'epochs': 7, **" + repr(body))
    path = _cfg(root, "c/lit.py", text)
    facts = read_config(path, root=root, use_cache=False)
    assert facts.error is None, (text, facts.error)
    assert facts.epochs == epochs, (text, facts)
