"""``--exec-configs``: run a config in a separate, time-limited subprocess and report its ``config``.

For projects whose configs compute values (loops, helper functions) the static reader
cannot follow. The file is executed the way Pylon loads it (``importlib`` from the file,
project root on ``sys.path`` and as the working directory), but never inside the calling
process: a child interpreter runs it, encodes the ``config`` object as JSON (classes
with their real MRO names and ``DIRECTIONS``) into a temporary file, and is killed with
its whole process group when it overruns the time limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any

from runwatch.configs.values import Call, ExecClass, ModuleRef, Opaque, Ref, Unknown

DEFAULT_TIMEOUT = 30.0

_CHILD = r"""
import sys, os, json, types, functools, importlib.util
path, root, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, root)
def cls_info(c):
    d = getattr(c, "DIRECTIONS", None)
    try:
        json.dumps(d)
    except (TypeError, ValueError):
        d = None
    return {"module": getattr(c, "__module__", None), "qualname": getattr(c, "__qualname__", c.__name__),
            "mro": [k.__name__ for k in getattr(c, "__mro__", (c,))], "directions": d}
def enc(v, depth=0):
    if depth > 60:
        return {"__unknown__": "nested too deeply"}
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and abs(v) != float("inf") else {"__unknown__": repr(v)}
    if isinstance(v, dict):
        return {"__dict__": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
    if isinstance(v, list):
        return [enc(x, depth + 1) for x in v]
    if isinstance(v, tuple):
        return {"__tuple__": [enc(x, depth + 1) for x in v]}
    if isinstance(v, type):
        return {"__class__": cls_info(v)}
    if isinstance(v, functools.partial):
        return {"__call__": {"func": enc(v.func, depth + 1), "args": [enc(a, depth + 1) for a in v.args],
                             "kwargs": {k: enc(a, depth + 1) for k, a in v.keywords.items()}}}
    if isinstance(v, types.ModuleType):
        return {"__module__": v.__name__}
    if callable(v) and hasattr(v, "__qualname__"):
        return {"__ref__": [getattr(v, "__module__", None) or "", v.__qualname__]}
    return {"__object__": type(v).__qualname__ + ": " + repr(v)[:200]}
spec = importlib.util.spec_from_file_location("runwatch_exec_config", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
if not hasattr(mod, "config"):
    raise SystemExit("the module defines no `config`")
files = []
rootabs = os.path.abspath(root)
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if f and os.path.abspath(f).startswith(rootabs + os.sep):
        files.append(os.path.abspath(f))
with open(out, "w") as fh:
    json.dump({"config": enc(mod.config), "files": sorted(set(files))}, fh)
"""


class ExecError(Exception):
    """The config could not be executed; the message names the file and what went wrong."""


def exec_config(path: str, root: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[Any, list[str]]:
    """(config value decoded to reader values, project files the run imported); raises ExecError."""
    fd, out = tempfile.mkstemp(prefix="runwatch-exec-", suffix=".json")
    os.close(fd)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, os.path.abspath(path), root, out],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ExecError(f"{path}:0: executing the config took longer than {timeout:g} s") from None
        if proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()
            last = tail[-1] if tail else f"exit status {proc.returncode}"
            raise ExecError(f"{path}:{_error_line(tail, path)}: executing the config failed: {last}")
        try:
            with open(out, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ExecError(f"{path}:0: executing the config produced no result: {e}") from None
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass
    return decode(data.get("config")), [str(p) for p in data.get("files", [])]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def _error_line(tail: list[str], path: str) -> int:
    """The line of the config in the child's traceback, 0 when the failure was elsewhere."""
    target = os.path.abspath(path)
    line = 0
    for t in tail:
        t = t.strip()
        if t.startswith("File ") and target in t and ", line " in t:
            try:
                line = int(t.split(", line ", 1)[1].split(",", 1)[0])
            except ValueError:
                pass
    return line


def decode(v: Any) -> Any:
    """The child's JSON back into the values the static reader produces."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "__dict__" in v:
        out: dict[Any, Any] = {}
        for k, x in v["__dict__"]:
            key = decode(k)
            try:
                out[key] = decode(x)
            except TypeError:
                continue
        return out
    if "__tuple__" in v:
        return tuple(decode(x) for x in v["__tuple__"])
    if "__class__" in v:
        c = v["__class__"]
        return ExecClass(c.get("module"), c.get("qualname", "?"), list(c.get("mro", [])), c.get("directions"))
    if "__call__" in v:
        c = v["__call__"]
        func = decode(c.get("func"))
        return Call(Ref("functools", "partial"), [func, *[decode(a) for a in c.get("args", [])]], {k: decode(a) for k, a in c.get("kwargs", {}).items()})
    if "__module__" in v:
        return ModuleRef(v["__module__"])
    if "__ref__" in v:
        module, qual = v["__ref__"]
        return Ref(module, qual)
    if "__object__" in v:
        return Opaque(v["__object__"])
    if "__unknown__" in v:
        return Unknown(str(v["__unknown__"]))
    return Unknown("unrecognised value from the exec subprocess")
