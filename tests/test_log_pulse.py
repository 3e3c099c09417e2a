"""The run's pulse from its log (readers/log_pulse.py) and from its records' times (evidence.beats_pulse)."""

from __future__ import annotations

import os

from runwatch.readers.log_pulse import NO_PULSE, Pulse, pulse_of_file, pulse_of_text, start_pause_of_file, start_pause_of_text, where
from runwatch.run_status.evidence import beats_pulse, pulse


def _line(t: int, what: str, ms: int = 0) -> str:
    return f"2026-01-01 00:{t // 60:02d}:{t % 60:02d},{ms:03d} INFO {what}"


def _epoch(t0: int, e: int, n: int = 3, val_gap: int = 45) -> tuple[list[str], int]:
    lines = [_line(t0 + i, f"Training [Epoch {e}/9][Iteration {i}/{n}]. loss=0.5") for i in range(n)]
    t = t0 + n - 1 + val_gap
    lines += [_line(t + i, f"Validation [Epoch {e}/9][Iteration {i}/{n}].") for i in range(n)]
    return lines, t + n + 2


def test_cadence_position_and_the_learned_pause():
    a, t = _epoch(5, 0)
    b, _ = _epoch(t, 1)
    text = "\n".join([_line(0, "start"), *a, *b[:3]])  # stops after epoch 1's last training batch
    p = pulse_of_text(text)
    assert p.position == "after_training" and p.timed
    assert p.interval == 1.0  # within a phase: one line a second
    assert (p.gap, p.gap_at) == (45.0, "2026-01-01 00:00:07,000")
    p = pulse_of_text("\n".join([_line(0, "start"), *a, *b[:2]]))
    assert p.position == "training" and p.gap == 1.0
    p = pulse_of_text("\n".join([_line(0, "start"), *a]))
    assert p.position == "after_validation" and p.gap is None  # no earlier epoch end seen


def test_milliseconds_and_formats():
    text = "\n".join(
        [
            "[2026-01-01 00:00:00.250] Training [Epoch 0/2][Iteration 0/5]",
            "[2026-01-01 00:00:00.500] Training [Epoch 0/2][Iteration 1/5]",
            "2026-01-01T00:00:00.750 Training [Epoch 0/2][Iteration 2/5]",
        ]
    )
    p = pulse_of_text(text)
    assert p.interval == 0.25 and p.position == "training"


def test_too_few_lines_and_untimed_logs():
    assert pulse_of_text("") == Pulse(None, "start", None, None, False)
    assert pulse_of_text("Training [Epoch 0/2][Iteration 0/5]\nTraining [Epoch 0/2][Iteration 1/5]").timed is False
    two = "\n".join(_line(i, f"Training [Epoch 0/2][Iteration {i}/9]") for i in range(2))
    assert pulse_of_text(two).interval is None  # one gap: no cadence yet
    three = "\n".join(_line(i, f"Training [Epoch 0/2][Iteration {i}/9]") for i in range(3))
    assert pulse_of_text(three).interval == 1.0
    assert pulse_of_text(_line(0, "config loaded")).position == "start"


def test_evaluator_lines():
    text = "\n".join(_line(2 * k, f"Evaluation [Iteration {k}/4].") for k in range(4))
    p = pulse_of_text(text)
    assert (p.interval, p.position) == (2.0, "after_evaluation")
    assert where("after_evaluation") == "after the last evaluation batch" and where("x") == "x"


def test_start_pause_from_an_earlier_session(tmp_path):
    text = "\n".join([_line(0, "config"), _line(30, "model built"), _line(40, "Training [Epoch 0/2][Iteration 0/5]")])
    assert start_pause_of_text(text) == (40.0, "2026-01-01 00:00:00,000")
    assert start_pause_of_text(_line(0, "config")) is None
    old = tmp_path / "train_val_0.log"
    old.write_text(text + "\n")
    assert start_pause_of_file(str(old)) == (40.0, "2026-01-01 00:00:00,000")
    assert start_pause_of_file(str(old)) == (40.0, "2026-01-01 00:00:00,000")  # memoized
    assert start_pause_of_file(str(tmp_path / "none.log")) is None
    new = tmp_path / "train_val_1.log"
    new.write_text(_line(100, "config") + "\n")

    class D:
        logs = [("train_val_1.log", 2.0), ("train_val_0.log", 1.0)]

    p = pulse(str(tmp_path), "train_val_1.log", D())
    assert (p.position, p.gap, p.gap_at) == ("start", 40.0, "2026-01-01 00:00:00,000")
    # the three sessions before the newest are asked, no more
    for i, pause in ((2, 10), (3, 20), (4, 90)):
        (tmp_path / f"s{i}.log").write_text("\n".join([_line(0, "config"), _line(pause, "Training [Epoch 0/2][Iteration 0/5]")]) + "\n")

    class Five:
        logs = [("train_val_1.log", 5.0), ("s2.log", 4.0), ("s3.log", 3.0), ("train_val_0.log", 2.0), ("s4.log", 1.0)]

    assert pulse(str(tmp_path), "train_val_1.log", Five()).gap == 40.0  # s4.log's 90 s is a fourth earlier session


def test_pulse_of_file(tmp_path):
    assert pulse_of_file(str(tmp_path / "missing.log")) is NO_PULSE
    log = tmp_path / "train_val_0.log"
    a, t = _epoch(0, 0)
    log.write_text("\n".join(a) + "\n")
    p = pulse_of_file(str(log))
    assert p.position == "after_validation" and p.interval == 1.0
    assert pulse(str(tmp_path), "train_val_0.log", None) == p
    assert pulse(str(tmp_path), None, None) is None
    log.write_text("no times here\n")
    assert pulse(str(tmp_path), "train_val_0.log", None) is None


def test_a_boundary_pause_beyond_the_tail_is_found_in_a_wider_read(tmp_path):
    a, t = _epoch(0, 0, n=2000, val_gap=50)  # > 64 KiB of lines after the first epoch end
    b, t2 = _epoch(t, 1, n=2000)
    log = tmp_path / "train_val_0.log"
    log.write_text("\n".join([*a, *b[:2000]]) + "\n")
    assert os.path.getsize(log) > 64 * 1024
    p = pulse_of_file(str(log))
    assert p.position == "after_training" and p.gap is not None and p.gap >= 50.0


def test_beats_pulse():
    assert beats_pulse([1.0, 2.0]) is None  # one gap
    p = beats_pulse([3.0, 1.0, 2.0, 10.0])
    assert p is not None and p.interval == 3.0 and p.gap == 7.0 and p.position == "training"
    assert p.gap_at == "1970-01-01 00:00:03 UTC"
    assert beats_pulse([1.0, "x", 2.0, 4.0]).interval == 1.5

    class D:
        beats = [0.0, 1.0, 2.0]
        logs: list = []

    assert pulse("/nowhere", "events.out.tfevents.1.h.2.0", D()).interval == 1.0


def test_the_pulse_is_read_with_the_logs_end(tmp_path):
    from runwatch.readers import log_end

    log = tmp_path / "train_val_0.log"
    a, _ = _epoch(0, 0)
    log.write_text("\n".join(a) + "\n")
    end = log_end.end_of_file(str(log))
    assert end.problem is None and end.pulse == pulse_of_file(str(log))
    assert log_end.end_of_file(str(log)) is end  # memoised while the file is unchanged
