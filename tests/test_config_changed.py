"""The whole-config comparison behind the changed-config warning (issue 24)."""

from __future__ import annotations

from runwatch.configs.values import Call, Ref, Unknown
from runwatch.progress_tracking.config_changed import differences, today_value
from runwatch.readers.launch_config import launch_value


def test_launch_record_as_plain_values():
    text = "{'runner': <class 'runners.trainers.X'>, 'epochs': 10, 'f': functools.partial(<function f at 0x7f>, 3), 'g': <function g at 0x1>, 'l': [1, (2, 3)]}"
    v = launch_value(text)
    assert v["runner"] == ("class", "X") and v["epochs"] == 10 and v["l"] == [1, [2, 3]]
    assert differences(v["f"], 1) == [] and differences(v["g"], 2) == []  # not comparable: no claim
    assert differences(launch_value("not python ("), {"a": 1}) == []


def test_differences_name_each_key_path():
    launch = {"epochs": 10, "opt": {"lr": 0.1, "momentum": 0.9}, "old": 1, "seeds": [1, 2], "flag": True, "runner": ("class", "A")}
    today = {"epochs": 10, "opt": {"lr": 0.01, "momentum": 0.9}, "new": 2, "seeds": [1, 2, 3], "flag": 1, "runner": ("class", "B")}
    assert differences(launch, today) == [
        "opt.lr 0.1 at launch, 0.01 now",
        "old removed",
        "seeds: 2 items at launch, 3 now",
        "flag True at launch, 1 now",  # a bool is no number
        "runner A at launch, B now",
        "new added",
    ]
    assert differences({"a": 1}, {"a": 1.0}) == []  # 1 and 1.0 are the same number
    assert differences({"a": {"b": 1}}, {"a": 2}) == ["a changed"]
    assert differences({"a": [1, 2]}, {"a": [1, 3]}) == ["a[1] 2 at launch, 3 now"]


def test_today_values_the_reader_cannot_tell_are_not_compared():
    today = today_value(
        {"runner": Ref("runners.trainers", "SupervisedSingleTaskTrainer"), "x": Unknown("why"), "c": Call(func=Ref("torch", "device")), 3: "int key"}
    )
    assert today["runner"] == ("class", "SupervisedSingleTaskTrainer")
    assert differences({"x": 5, "c": 1}, {k: today[k] for k in ("x", "c")}) == []
    assert 3 not in today


def test_hash_set_of_unchanged_checks_answers_like_a_set():
    import random

    from runwatch.progress_tracking.compact import HashSet

    rng = random.Random(5)
    values = [rng.randrange(-(1 << 63), 1 << 63) for _ in range(2000)]
    hs, ref = HashSet(), set()
    for v in values[:1000]:
        hs.add(v)
        hs.add(v)
        ref.add(v)
    assert len(hs) == len(ref)
    assert all(v in hs for v in values[:1000]) and not any(v in hs for v in values[1000:])
    hs.clear()
    assert len(hs) == 0 and values[0] not in hs


def test_long_int_lists_in_a_record_read_as_a_full_parse_reads_them():
    """Records' seed lists are read with int(), not parsed; every answer is the full parse's."""
    import random

    from runwatch.readers.launch_config import SKIP, _plain, decode_launch_config

    def full(text):
        tree = decode_launch_config(text)
        return SKIP if tree is None else _plain(tree, 0, None)

    rng = random.Random(3)
    seeds = [rng.randrange(-(10**9), 10**9) for _ in range(100)]
    ints = ", ".join(map(str, seeds))
    cases = [
        repr({"a": seeds, "b": [seeds, seeds[:20]], "c": (1, seeds), "n": {"d": seeds + [True]}, "r": "<class 'x.Y'>"}),
        f"{{'a': [{ints},]}}",  # a trailing comma
        f"{{'a': [ 1 ,\n 2, {ints} ] }}",
        f"{{'a': [007, {ints}]}}",  # Python refuses it: no record
        f"{{'a': x[{ints}]}}",  # a subscript, not a list
        f"{{'a': {{{ints}}}}}",  # a set
        f"{{'s': 'x: [{ints}]', 'a': [{ints}]}}",  # a list's text inside a string
        f"{{'[{ints}]': 1, 'a': [{ints}]}}",
        f"{{'a': <class 'x.Y'>, 'b': functools.partial(<function f at 0x1>, [{ints}])}}",
        f"{{'a': [{'1' * 5000}, {ints}]}}",  # past int's digit limit
    ]
    for text in cases:
        got, want = launch_value(text), full(text)
        assert (got is SKIP and want is SKIP) or got == want, text[:80]
    assert launch_value(cases[0])["a"] == seeds and launch_value(cases[6])["s"] == f"x: [{ints}]"
