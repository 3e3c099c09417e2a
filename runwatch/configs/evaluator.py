"""Evaluate a module's top-level statements over its syntax tree, without running it.

Config files are Python, but importing one needs the whole framework and GPU stack and
runs arbitrary code. Real configs are almost all literals, imported names and a few
mutations, so a small evaluator recovers them exactly. The rules:

- literals, containers, arithmetic and comparisons on known values are computed;
- imported names stay symbolic (``Ref``/``ModuleRef``); calls are kept opaque (``Call``),
  except a short list of pure helpers (``copy.deepcopy``, ``dict(...)``, ``os.path.join``...);
- mutations (``config['a']['b'] = v``, ``config.update(x)``, ``append``...) are applied;
- ``for`` loops over known, small iterables are unrolled; a branch whose condition is not
  known poisons what it assigns (those targets become ``Unknown``) instead of guessing;
- every size is bounded so a hostile file cannot make the reader allocate or loop forever.

The interpreter is one class made of one part per concept:

- ``core``: the evaluation's state (namespace, budgets spent, warnings, taints);
- ``statements``: statements, imports, assignment, poisoning;
- ``expressions``: expression nodes and deferred dict values;
- ``operators``: operator tables and their application, truthiness;
- ``calls`` (with ``builtin_names``): the builtins and helpers computed, methods that mutate;
- ``budgets`` and ``bounds``: the limits, the cost of a value, bounds of a result;
- ``signals``: control flow (break, continue, a module that stops).

Source text is prepared (dict-literal blocks cut out, long literal lists elided) by
``source_prep`` before it is parsed; nothing here reads or rewrites source text.
"""

from __future__ import annotations

import ast
from typing import Any

from runwatch.configs.budgets import MAX_INT_BITS, MAX_SEQ, MAX_STEPS, MAX_STR, MAX_WORK, TooComplex, is_plain
from runwatch.configs.calls import Calls
from runwatch.configs.core import ImportHook
from runwatch.configs.expressions import Expressions
from runwatch.configs.operators import Operators
from runwatch.configs.signals import MISSING
from runwatch.configs.source_prep import LAZY_PREFIX, parse, parse_elided, split_lazy
from runwatch.configs.statements import Statements
from runwatch.configs.values import ElidedList

__all__ = [
    "LAZY_PREFIX",
    "MAX_INT_BITS",
    "MAX_SEQ",
    "MAX_STEPS",
    "MAX_STR",
    "MAX_WORK",
    "MISSING",
    "ElidedUses",
    "ImportHook",
    "ModuleEvaluator",
    "TooComplex",
    "is_plain",
    "parse",
    "parse_elided",
    "split_lazy",
]


class ModuleEvaluator(Statements, Expressions, Operators, Calls):
    """Evaluates one module (a config or a project source) into a namespace dict."""


class ElidedUses(ModuleEvaluator):
    """A config module's evaluator whose long int lists were elided (``parse_elided``): counts each time
    an elided list is an operand (anything but being stored: assigned, put in a dict or list display).

    An operation on an ``ElidedList`` gives an unknown (often that very object), and may behave
    otherwise than on the real list (raise, take another branch); with no use counted, every elided
    list in the namespace is exactly its literal, and the rest of the namespace is what a full read gives.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uses = [0]  # shared with the EvalResult (a deferred block forced later still counts)

    def eval(self, node: ast.expr, statement: bool = False) -> Any:
        value = ModuleEvaluator.eval(self, node, statement)
        if type(value) is ElidedList:
            self.uses[0] += 1
        return value
