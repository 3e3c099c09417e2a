"""The AST evaluator: exact on what real configs do, explicit Unknown elsewhere, bounded on hostile input."""

from __future__ import annotations

import ast
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runwatch.configs.evaluator import ModuleEvaluator, TooComplex
from runwatch.configs.values import Call, LocalClass, ModuleRef, Opaque, Ref, Unknown


def ev(src: str) -> dict[str, Any]:
    e = ModuleEvaluator("/x/configs/t.py", "configs.t")
    return e.run(ast.parse(src))


def test_imports_become_symbolic_references() -> None:
    ns = ev("import torch\nimport torch.nn as nn\nfrom a.b import C as D\nfrom . import sib\nx = torch.optim.SGD\ny = nn.Conv2d\n")
    assert ns["x"] == ModuleRef("torch.optim.SGD")
    assert ns["y"] == ModuleRef("torch.nn.Conv2d")
    assert ns["D"] == Ref("a.b", "C")
    assert ns["sib"] == Ref("configs", "sib")


def test_mutations_follow_python_aliasing() -> None:
    ns = ev(
        "import copy\n"
        "base = {'args': {'lr': 1}, 'l': [1]}\n"
        "alias = base['args']\nalias['lr'] = 2\n"
        "deep = copy.deepcopy(base)\ndeep['args']['lr'] = 3\n"
        "base['l'].append(2)\nbase['l'].extend((3, 4))\n"
        "base.update({'k': 1}, )\nbase.update(z=9)\n"
        "del base['k']\n"
        "a, (b, c) = 1, (2, 3)\n"
        "base['args']['lr'] *= 10\n"
    )
    assert ns["base"] == {"args": {"lr": 20}, "l": [1, 2, 3, 4], "z": 9}
    assert ns["deep"]["args"]["lr"] == 3
    assert (ns["a"], ns["b"], ns["c"]) == (1, 2, 3)


def test_calls_are_opaque_and_partial_kept() -> None:
    ns = ev("import functools, torch\np = functools.partial(torch.optim.SGD, lr=0.1)\nd = torch.device('cuda')\n")
    assert isinstance(ns["p"], Call) and ns["p"].func == ModuleRef("functools.partial")
    assert ns["p"].args == [ModuleRef("torch.optim.SGD")] and ns["p"].kwargs == {"lr": 0.1}
    assert isinstance(ns["d"], Call)


def test_pure_helpers_and_comprehensions() -> None:
    ns = ev(
        "import os\n"
        "seeds = [s * 2 for s in range(5) if s % 2 == 0]\n"
        "m = {k: v for k, v in zip('ab', (1, 2))}\n"
        "w = os.path.join('./logs', 'a', f'run_{seeds[1]:03d}')\n"
        "d = dict(a=1, **{'b': 2})\n"
        "n = sum(seeds) + len(m) + max(1, 5)\n"
        "s = '{}-{}'.format('x', 3)\n"
        "t = tuple(sorted([3, 1, 2]))\n"
    )
    assert ns["seeds"] == [0, 4, 8]
    assert ns["m"] == {"a": 1, "b": 2}
    assert ns["w"] == "./logs/a/run_004"
    assert ns["d"] == {"a": 1, "b": 2}
    assert ns["n"] == 12 + 2 + 5
    assert ns["s"] == "x-3" and ns["t"] == (1, 2, 3)


def test_control_flow() -> None:
    ns = ev(
        "import os\nconfig = {'epochs': 1, 'x': 0}\n"
        "if __name__ == '__main__':\n    config['epochs'] = 99\n"
        "if True:\n    config['x'] = 1\nelse:\n    config['x'] = 2\n"
        "for i in range(10):\n    if i == 3:\n        break\n    config['x'] += i\n"
        "if os.environ.get('A'):\n    config['epochs'] = 5\n    other = 1\n"
        "try:\n    import torch\nexcept ImportError:\n    torch = None\n"
        "while False:\n    pass\n"
    )
    assert isinstance(ns["config"]["epochs"], Unknown)
    assert isinstance(ns["other"], Unknown)
    assert ns["config"]["x"] == 1 + 0 + 1 + 2
    assert ns["torch"] == ModuleRef("torch")


def test_classes_and_functions() -> None:
    ns = ev(
        "from a import Base\n"
        "class M(Base):\n    DIRECTIONS = {'mae': -1}\n    class Inner:\n        X = 1\n"
        "def f():\n    raise SystemExit\n"
        "v = f()\nq = M.DIRECTIONS\n"
    )
    assert isinstance(ns["M"], LocalClass) and ns["M"].bases == [Ref("a", "Base")]
    assert ns["M"].namespace["Inner"].qualname == "M.Inner"
    assert isinstance(ns["f"], Opaque) and isinstance(ns["v"], Call)
    assert ns["q"] == {"mae": -1}


def test_unknown_names_and_operations_are_explicit() -> None:
    ns = ev("a = b + 1\nc = {'k': 1}['missing']\nimport torch\nd = torch.x + 1\ne = [1][5]\n")
    for name in "acde":
        assert isinstance(ns[name], Unknown), name
    assert "not defined" in ns["a"].reason and "t.py:1" in ns["a"].reason


@pytest.mark.parametrize(
    "src",
    [
        "x = 10 ** 10 ** 10",
        "x = [0] * 10 ** 9",
        "x = 'a' * 10 ** 9",
        "x = '%999999999d' % 1",
        "x = f'{1:>999999999}'",
        "x = '{:>999999999}'.format(1)",
        "x = list(range(10 ** 12))",
        "x = 1 << 10 ** 9",
        "x = [i for i in range(10 ** 9)]",
        "x = []\nfor i in range(10 ** 9):\n    x.append(i)",
        "while True:\n    x = 1",
        "x = int('9' * 100000)",
    ],
)
def test_hostile_input_is_bounded(src: str) -> None:
    t = time.perf_counter()
    ns = ev(src)
    assert time.perf_counter() - t < 2.0
    assert "x" not in ns or isinstance(ns["x"], Unknown) or ns["x"] == [] or ns["x"] == 1


def test_step_budget() -> None:
    src = "x = 0\n" + "for a in range(1000):\n    for b in range(1000):\n        for c in range(1000):\n            x += 1\n"
    with pytest.raises(TooComplex):
        ev(src)


literals = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=8) | st.integers(0, 100), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(literals)
def test_literal_round_trip(value: Any) -> None:
    assert ev(f"config = {value!r}\n")["config"] == value
