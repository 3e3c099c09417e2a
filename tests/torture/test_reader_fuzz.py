"""Fuzz harness over every reader and decoder of run files (hypothesis; the slow tier).

Each property feeds a reader bytes an attacker or a crash could leave (random bytes, a valid
file cut at any byte, structured inputs with every budget pushed) and checks that it returns
``(value, problem)`` or its documented answer: no exception escapes, nothing runs away. The
cases found while building the budgets are kept as ``@example``s, so they run every time.

    python -m pytest tests/torture/test_reader_fuzz.py -q -m slow          # CI budgets
    python -m pytest tests/torture/test_reader_fuzz.py -q -m slow --soak   # 25x the examples
"""

from __future__ import annotations

import os
import pickle
import struct
import tempfile
import time
import zipfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runwatch.readers.budgets import BudgetExceeded, expanded_size
from runwatch.readers.csvmetrics import CsvTail
from runwatch.readers.jsonfile import loads_tolerant
from runwatch.readers.launch_config import parse_launch_config
from runwatch.readers.run_output import parse_events
from runwatch.readers.tfevents import EventTail
from runwatch.readers.torchpickle import plain, read_torch_file
from runwatch.readers.yamlfile import read_yaml_tolerant

from .conftest import examples
from .hostile_runs import CKPT_STATE, memo_bomb_pickle, torch_pickle

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=examples(150, 3750), deadline=None, suppress_health_check=list(HealthCheck))
SECONDS = 20.0  # any one input (a loaded 2-core machine): a reader that takes longer has lost its budget


# Every example's file goes in a folder of its own under one folder that the module removes when it is done
# (thousands of examples: one left in the system's temp folder each would pile up run after run).
_FOLDER = tempfile.TemporaryDirectory(prefix="rw-fuzz-")


@pytest.fixture(scope="module", autouse=True)
def _remove_the_examples_files():
    yield
    _FOLDER.cleanup()


def _write(data: bytes, name: str) -> str:
    d = tempfile.mkdtemp(dir=_FOLDER.name)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _timed(fn, *args):
    t = time.monotonic()
    out = fn(*args)
    assert time.monotonic() - t < SECONDS, f"{fn.__name__} took {time.monotonic() - t:.1f} s"
    return out


# ------------------------------------------------------------------ YAML

yaml_texts = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.sampled_from(["[", "]", "{", "}", "- ", ": ", "&a ", "*a ", "x", "\n", "  ", "!!python/object:os.system ", "'", '"', ",", "?"]), max_size=200
    ).map(lambda parts: "".join(parts).encode()),
)


@FUZZ
@given(data=yaml_texts)
@example(data=b"[" * 100_000 + b"]" * 100_000)  # libyaml recursed in C until SIGSEGV
@example(data=b"- " * 100_000 + b"x")
@example(data=b"a0: &a0 [x,x,x,x,x,x,x,x,x]\n" + b"".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n".encode() for i in range(1, 12)))
@example(data=b"!!python/object/apply:os.system ['touch /tmp/PWNED']\n")
@example(data=b"x: 2001-02-30\n")  # a date constructor's own ValueError
def test_yaml_reader(data):
    value, problem = _timed(read_yaml_tolerant, _write(data, "hparams.yaml"))
    assert problem is None or "hparams.yaml" in problem
    if problem is None:
        expanded_size(value)  # what it hands on is within the budget
    assert not os.path.exists("/tmp/PWNED")


# ------------------------------------------------------------------ CSV


@FUZZ
@given(
    header=st.lists(st.text(max_size=6), min_size=1, max_size=8),
    rows=st.lists(st.lists(st.text(max_size=8), max_size=10), max_size=20),
    cut=st.integers(0, 4000),
)
@example(header=["epoch"] * 3, rows=[["1"] * 50_000], cut=4000)
@example(header=["\r0"], rows=[], cut=0)  # found: csv.Error from the header escaped the reader (and the scan)
def test_csv_reader_any_rows_cut_anywhere(header, rows, cut):
    text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    data = text.encode("utf-8", "surrogatepass")[: cut or None]
    tail = CsvTail(_write(data, "metrics.csv"))
    out = _timed(tail.read)
    assert isinstance(out, list)
    assert all(len(r) <= len(tail.header or []) for r in out)


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"a" * 2_000_000 + b"\n")  # one header line past the row budget
@example(data=b"," * 50_000 + b"\n1\n")  # past the column budget
@example(data=b'epoch,step\n"' + b"x" * 200_000 + b'"\n')  # a field over csv's own limit
@example(data=b"epoch\n\x00\n")  # a NUL byte
def test_csv_reader_on_bytes(data):
    tail = CsvTail(_write(data, "metrics.csv"))
    assert isinstance(_timed(tail.read), list)
    assert tail.problem is None or "metrics.csv" in tail.problem


# ------------------------------------------------------------------ torch pickles

OPS = [
    b"(",
    b"t",
    b"l",
    b"d",
    b"}",
    b"]",
    b"e",
    b"u",
    b"a",
    b"s",
    b"0",
    b"2",
    b"N",
    b"\x88",
    b"\x89",
    b"K\x05",
    b"J\xff\xff\xff\x7f",
    b"h\x00",
    b"q\x00",
    b"R",
    b"b",
    b"\x81",
    b"\x85",
    b"\x86",
    b"\x87",
    b"Q",
]
GLOBALS = [
    b"cbuiltins\nbytearray\n",
    b"cbuiltins\nlist\n",
    b"cbuiltins\ndict\n",
    b"ccollections\nOrderedDict\n",
    b"ctorch._utils\n_rebuild_tensor_v2\n",
    b"ctorch\nFloatStorage\n",
    b"cos\nsystem\n",
    b"ccopyreg\n_reconstructor\n",
]
pickles = st.lists(st.sampled_from(OPS + GLOBALS) | st.binary(max_size=4), max_size=60).map(lambda ops: b"\x80\x02" + b"".join(ops) + b".")


def _torch_zip(data_pkl: bytes, storage: bytes = b"") -> str:
    d = tempfile.mkdtemp(dir=_FOLDER.name)
    path = os.path.join(d, "epoch=0-step=1.ckpt")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/data/0", storage)
    return path


@FUZZ
@given(data_pkl=pickles, storage=st.binary(max_size=16))
@example(data_pkl=memo_bomb_pickle(), storage=b"")  # 2^60 paths for a walker without a memo
@example(data_pkl=b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x7f\x85R.", storage=b"")  # bytearray(2 GiB)
@example(data_pkl=b"\x80\x02cos\nsystem\nX\x05\x00\x00\x00touch\x85R.", storage=b"")  # code: a stub, never run
@example(data_pkl=torch_pickle(CKPT_STATE), storage=b"\x00")  # a storage shorter than its tensor
@example(data_pkl=b"\x80\x02" + b"]" * 200_000 + b"a" * 199_999 + b".", storage=b"")  # nested 200,000 deep
@example(
    data_pkl=b"\x80\x02ctorch\nFloatStorage\nr\xe2\xabN.",
    storage=b"\xc0\xa7",
).via("discovered failure")
def test_torch_reader_on_pickles(data_pkl, storage):
    value, problem = _timed(read_torch_file, _torch_zip(data_pkl, storage))
    assert problem is None or ".ckpt" in problem
    _timed(plain, value)


@FUZZ
@given(data=st.binary(max_size=600), cut=st.integers(0, 600))
def test_torch_reader_on_bytes(data, cut):
    ok = open(_torch_zip(torch_pickle(CKPT_STATE), struct.pack("<f", 0.5)), "rb").read()
    for blob in (data, ok[:cut] + data, ok[: len(ok) - cut]):
        value, problem = _timed(read_torch_file, _write(blob, "training_args.bin"))
        assert problem is None or "training_args.bin" in problem
        _timed(plain, value)


# ------------------------------------------------------------------ event files


def _record(payload: bytes, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    return struct.pack("<Q", n) + b"\0" * 4 + payload + b"\0" * 4


@FUZZ
@given(records=st.lists(st.tuples(st.binary(max_size=40), st.none() | st.integers(0, 2**64 - 1)), max_size=8), tail=st.binary(max_size=20))
@example(records=[(b"x", 1 << 40)], tail=b"")  # a record claiming 1 TiB
@example(records=[(b"\x08" * 30, None)], tail=b"\xff")
def test_event_reader(records, tail):
    pytest.importorskip("tensorboard")
    data = b"".join(_record(p, n) for p, n in records) + tail
    et = EventTail(_write(data, "events.out.tfevents.1.host.1.0"))
    assert isinstance(_timed(et.read), list)
    assert et.problem is None or "events.out.tfevents" in et.problem


# ------------------------------------------------------------------ JSON, collector events, launch configs

json_texts = st.one_of(
    st.binary(max_size=500),
    st.lists(st.sampled_from(["[", "]", "{", "}", '"a"', ":", ",", "1e999", "NaN", "-Infinity", "null", "\n"]), max_size=300).map(
        lambda x: "".join(x).encode()
    ),
)


@FUZZ
@given(data=json_texts)
@example(data=b"[" * 100_000)
@example(data=b'{"events": [' + b"[" * 50_000 + b"]}")
def test_json_and_collector_events(data):
    loads_tolerant(data, "x.json")
    events = _timed(parse_events, data.decode("utf-8", "replace"))
    assert isinstance(events, list) and all(isinstance(e, dict) for e in events)


@FUZZ
@given(text=st.text(max_size=400))
@example(text="{" * 100_000)
@example(text="{'epochs': " + "9" * 100_000 + "}")
def test_launch_config(text):
    out = _timed(parse_launch_config, text)
    assert out is None or isinstance(out, list)


# ------------------------------------------------------------------ the budget walker itself

shared = st.recursive(st.integers() | st.text(max_size=3), lambda inner: st.lists(inner, max_size=4).flatmap(lambda xs: st.just(xs + xs)), max_leaves=40)


@FUZZ
@given(value=shared)
def test_expanded_size_counts_a_tree_exactly(value):
    def tree_size(v):
        return 1 + sum(tree_size(x) for x in v) if isinstance(v, list) else 1

    want = tree_size(value)
    try:
        assert expanded_size(value, 10_000) == want
    except BudgetExceeded:
        assert want > 10_000


def test_expanded_size_refuses_cycles_and_bombs():
    a: list[object] = []
    a.append(a)
    with pytest.raises(BudgetExceeded):
        expanded_size(a)
    with pytest.raises(BudgetExceeded):
        expanded_size(pickle.loads(memo_bomb_pickle()))


# ------------------------------------------------------------------ the framework layouts' readers (JSON lines, dumped configs)


@FUZZ
@given(data=json_texts | st.binary(max_size=500).map(lambda b: b.replace(b"\x00", b"\n")))
@example(data=b"[" * 100_000 + b"\n{}\n")
def test_json_lines_reader(data):
    from runwatch.readers.jsonlines import JsonLinesTail

    tail = JsonLinesTail(_write(data, "log.jsonl"))
    out = _timed(tail.read)
    assert isinstance(out, list) and all(isinstance(x, dict) for x in out)


@FUZZ
@given(
    text=st.text(max_size=300)
    | st.lists(st.sampled_from(["dict(", ")", "[", "]", "{", "}", "a=", "1", ",", "'x'", "**", "10", "\n", "lr = ", "max_epochs = "]), max_size=120).map(
        "".join
    )
)
@example(text="x = " + "[" * 100_000)
@example(text="x = 10 ** 10 ** 10\nmax_epochs = 3\n")
@example(text="x = 'a' * 10 ** 10\n")
def test_dumped_config_reader(text):
    from runwatch.readers.dumped_config import read_dumped_config

    value, problem = _timed(read_dumped_config, _write(text.encode("utf-8", "surrogatepass"), "config.py"))
    assert isinstance(value, dict)
    assert problem is None or "config.py" in problem
