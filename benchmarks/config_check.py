"""CPU time of the changed-config check per compared config, for partial and whole launch records.

A run whose config file is newer than its ``config.json`` (85 % of the generated runs; every run
after a ``git pull``) has its config compared with that launch record. The generator writes a
partial record (``{'epochs', 'runner'}``); Pylon writes the whole config as a Python repr, so
``--records whole`` compares each config with a Pylon-style repr of its own full evaluation
(classes as ``<class '...'>``, calls as ``functools.partial(...)``, 100-int seed lists),
written under ``--tree-dir`` (the tree itself is not touched).

Measured (user + sys CPU of this process, per compared config):
- the full path: ``config_changed._compare`` (read and parse the record, evaluate the config in
  full, compare): what a scan paid per config before, and pays now where the facts came from the
  cache;
- with code that has it, the scan's path: the check the facts batch makes on its own evaluation
  (``_compare_live``), plus the full comparison where it leaves a config to it. The facts reading
  itself is not counted (a scan does it anyway).

``--code CHECKOUT`` runs another checkout's runwatch (an interleaved A/B: alternate invocations).

    python benchmarks/config_check.py --records partial
    python benchmarks/config_check.py --records whole --code <checkout of the code before>
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import resource
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pylon_repr(v: object, skip: object) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_pylon_repr(x, skip)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_pylon_repr(x, skip) for x in v) + "]"
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "class":
        return f"<class 'runners.trainers.{v[1]}'>"
    if v is skip:
        return "functools.partial(<class 'torch.optim.SGD'>, lr=0.1)"
    return repr(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--tree-dir", default=os.path.join(tempfile.gettempdir(), "runwatch-bench"))
    ap.add_argument("--max-tree-age", type=float, default=12.0)
    ap.add_argument("--records", choices=("partial", "whole"), default="partial")
    ap.add_argument("--code", default=REPO, help="the checkout whose runwatch compares")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    from run import get_tree, import_runwatch_from

    code = import_runwatch_from(args.code)
    bt = get_tree(args.tree_dir, args.runs, args.max_tree_age, False)
    root = bt.root

    import runwatch
    from runwatch.configs.loader import ModuleLoader
    from runwatch.progress_tracking import config_changed as cc
    from runwatch.readers.launch_config import SKIP

    pairs = []
    for e in bt.expected:
        cfg = os.path.join(root, e.config_path)
        rec = os.path.join(root, "logs", e.rel, "config.json")
        if os.path.exists(rec) and os.stat(cfg).st_mtime > os.stat(rec).st_mtime:
            pairs.append((cfg, rec))
    if args.records == "whole":
        out_dir = os.path.join(args.tree_dir, f"whole-records-{args.runs}")
        os.makedirs(out_dir, exist_ok=True)
        loader = ModuleLoader(root, "configs")
        loader.lazy = False
        whole = []
        for i, (cfg, _) in enumerate(pairs):
            path = os.path.join(out_dir, f"{i}.json")
            if not os.path.exists(path):
                today = cc.today_value(loader.evaluate_config(cfg).namespace["config"])
                with open(path, "w") as f:
                    f.write(_pylon_repr(today, SKIP))
            whole.append((cfg, path))
        pairs = whole

    def digest(answers: list[object]) -> str:
        return hashlib.sha1(repr(answers).encode()).hexdigest()[:8]

    gc.disable()
    runwatch.reset()
    c = _cpu()
    full = [cc._compare(cfg, rec, root, "configs") for cfg, rec in pairs]
    full_ms = (_cpu() - c) / len(pairs) * 1000
    line = f"{len(pairs)} {args.records} records, code {code}: full path {full_ms:.3f} ms CPU per config (answers {digest(full)})"
    if hasattr(cc, "_compare_live"):
        from runwatch.configs.reader import _Batch
        from runwatch.project import Project

        runwatch.reset()
        project = Project.at(root)
        batch = _Batch(root, project.settings, None)
        spent, left, answers = 0.0, 0, []
        for cfg, rec in pairs:
            _, _, result = batch._read_with(batch.loader, cfg)  # the facts batch's evaluation: not counted
            c = _cpu()
            answer, launch = cc._compare_live(rec, result)
            if answer is cc._UNSURE:
                left += 1
                answer = cc._compare(cfg, rec, root, "configs", launch)
            spent += _cpu() - c
            answers.append(answer)
        line += f"; the scan's check {spent / len(pairs) * 1000:.3f} ms ({left} left to the full path, answers {digest(answers)})"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
