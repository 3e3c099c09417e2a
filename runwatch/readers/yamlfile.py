"""Tolerant YAML reading (Lightning's ``hparams.yaml`` and LightningCLI's ``config.yaml``).

Like ``jsonfile``: ``(value, problem)``, never an exception; ``yaml.safe_load`` only,
so a YAML file is data, never code. Bounded: the file is opened through the checked
opener (a regular file inside the project, at most ``MAX_YAML_BYTES``), nesting is limited
by the interpreter's stack (``RecursionError`` is a problem, not a crash), and aliases
cannot blow the value up ("billion laughs"): the value is refused past ``MAX_EXPANDED``
values once its shared references are expanded.
"""

from __future__ import annotations

import itertools
from typing import Any

from runwatch.readers.budgets import BudgetExceeded, expanded_size
from runwatch.readers.safe_open import LIMITS, FileTooLarge, NotRegularFile, read_regular

MAX_YAML_BYTES = LIMITS["yaml"]
# An hparams.yaml holds hundreds of values; a million is far beyond any real one.
MAX_EXPANDED = 1_000_000
# Nesting of ``[`` / ``{`` (a real file: under ten levels).
MAX_DEPTH = 500


def _loader(yaml: Any, data: bytes) -> Any:
    """libyaml's safe loader (10x faster, same values) when the text cannot nest deeply, else Python's.

    libyaml recurses in C and crashes the process (SIGSEGV) on a few hundred thousand levels;
    Python's loader raises RecursionError. Every level of nesting needs one of ``[{-?:``, so
    their count bounds the depth.
    """
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is None:
        return yaml.SafeLoader
    indicators = sum(data.count(ch) for ch in (b"[", b"{", b"-", b"?", b":"))
    return c_loader if indicators < 10_000 else yaml.SafeLoader


_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
_KEEP = bytes(i for i in range(256) if i not in (1, 2))
_STEP = (0, 1, -1)


def flow_depth(data: bytes) -> int:
    """The deepest ``[``/``{`` nesting of the text (quotes not considered: an upper bound), in C loops."""
    marks = data.translate(_BRACKETS).translate(None, _KEEP) if (b"[" in data or b"{" in data) else b""
    return max(itertools.accumulate(map(_STEP.__getitem__, marks)), default=0)


def read_yaml_tolerant(path: str) -> tuple[Any, str | None]:
    """Parse a YAML file; missing, oversized, unreadable or malformed -> (None, problem naming the file)."""
    try:
        data = read_regular(path, MAX_YAML_BYTES)
    except FileNotFoundError:
        return None, f"{path}: missing"
    except FileTooLarge:
        return None, f"{path}: larger than {MAX_YAML_BYTES} bytes, not parsed"
    except NotRegularFile as e:
        return None, f"{path}: {e.strerror}"
    except OSError as e:
        return None, f"{path}: cannot read ({e.strerror or e})"
    import yaml  # deferred: only runs of YAML-writing layouts need it

    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and flow_depth(data) > MAX_DEPTH:  # refused unparsed: Python's loader would take seconds to find out
        return None, f"{path}: YAML nested more than {MAX_DEPTH} levels deep; not parsed"
    loader = _loader(yaml, data)
    try:
        value = yaml.load(data, Loader=loader)  # a safe loader: data, never code
        expanded_size(value, MAX_EXPANDED)
        return value, None
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, f"{path}: malformed YAML ({first})"
    except RecursionError:
        return None, f"{path}: YAML nested too deeply"
    except BudgetExceeded as e:
        return None, f"{path}: YAML too large to use ({e}); not used"
    except (ValueError, TypeError, OverflowError) as e:  # a constructor's own error (a bad date, a huge int)
        return None, f"{path}: YAML value cannot be read ({type(e).__name__}: {e})"
