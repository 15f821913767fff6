"""Metric logs: rows on disk as soon as they are written, resumed logs read as one run, CSV, TensorBoard."""

from __future__ import annotations

import json
import math

import numpy as np
import pettingzoo
import pytest

import agents
import minimax
from minimax.training import runlog
from minimax.training.runlog import RunLog, read_rows


def row(i: int, **values) -> dict:
    return {"iteration": i, "discriminator_loss": 0.5 + i, "generator_loss": -float(i), **values}


def test_rows_are_on_disk_after_each_write(tmp_path) -> None:
    log = RunLog(tmp_path, csv=True, tensorboard=False)
    log.begin(0)
    log.write([row(1), row(2, value=math.nan)])
    # not closed: another reader (or a killed process's heir) sees every row already
    assert read_rows(tmp_path / "metrics.jsonl") == [row(1), row(2, value=None)]
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "iteration,discriminator_loss,generator_loss,value", "1,1.5,-1.0,", "2,2.5,-2.0,"
    ]
    log.write([row(3)])
    assert [r["iteration"] for r in read_rows(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    log.close()


def test_resuming_drops_rows_after_the_checkpoint_and_a_torn_line(tmp_path) -> None:
    with RunLog(tmp_path, csv=True, tensorboard=False) as log:
        log.write([row(i) for i in range(1, 8)])
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 8, "discriminator_lo')  # killed mid-line
    assert [r["iteration"] for r in read_rows(tmp_path / "metrics.jsonl")] == list(range(1, 8))
    log = RunLog(tmp_path, csv=True, tensorboard=False)
    log.begin(5)  # the checkpoint was at 5: rows 6 and 7 will be played again
    log.write([row(6, generator_loss=42.0)])
    log.close()
    rows = read_rows(tmp_path / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4, 5, 6] and rows[-1]["generator_loss"] == 42.0
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("iteration,") and lines.count(lines[0]) == 1
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4", "5", "6"]
    assert lines[-1].split(",")[2] == "42.0"


def test_missing_rows_are_rebuilt_from_the_history(tmp_path) -> None:
    history = minimax.History(metrics={"value": np.array([[1.0], [np.nan], [3.0]], dtype=np.float32)}, iterations=3,
                              moves=[3], wall_time=1.0, termination_reasons=[None])  # fmt: skip
    log = RunLog(tmp_path, tensorboard=False)
    log.begin(3, history)  # the log file was lost
    log.close()
    assert read_rows(tmp_path / "metrics.jsonl") == [
        {"iteration": 1, "value": 1.0, "wall_time": None},
        {"iteration": 2, "value": None, "wall_time": None},
        {"iteration": 3, "value": 3.0, "wall_time": None},
    ]


def test_train_streams_one_row_per_iteration_equal_to_the_history(tmp_path) -> None:
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=32, schedule="alternating:k=2")
    rules = {p: agents.make("adam", lr=1e-3) for p in minimax.PLAYERS}
    seen = []
    history = minimax.train(env, rules, 25, seed=0, progress=False, log=tmp_path, log_every=10,
                            callbacks=[lambda i, e, h: seen.append(len(read_rows(tmp_path / "metrics.jsonl")))],
                            callback_every=10)  # fmt: skip
    assert seen == [10, 20, 25]  # rows are on disk when the callbacks run
    rows = read_rows(tmp_path / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == list(range(1, 26))
    for name in minimax.training.loop.METRICS:
        np.testing.assert_array_equal(np.array([r[name] for r in rows], dtype=np.float32), history[name][:, 0])
    assert all(r["wall_time"] > 0 for r in rows)


class FakeWriter:
    instances: list = []

    def __init__(self, log_dir, purge_step=None, flush_secs=120):
        self.log_dir, self.purge_step, self.scalars, self.closed = log_dir, purge_step, [], False
        FakeWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_tensorboard_scalars_and_purge_on_resume(tmp_path, monkeypatch) -> None:
    FakeWriter.instances = []
    monkeypatch.setattr(runlog, "_tensorboard_writer", lambda: FakeWriter)
    log = RunLog(tmp_path)  # auto: on, since a writer can be imported
    assert log.tensorboard
    log.begin(0)
    log.write([row(1, value=None)])
    log.close()
    first = FakeWriter.instances[0]
    assert first.purge_step is None and first.closed and first.log_dir.endswith("tensorboard")
    assert ("metrics/discriminator_loss", 1.5, 1) in first.scalars and not any(t == "metrics/value" for t, _, _ in first.scalars)
    log = RunLog(tmp_path)
    log.begin(1)
    assert FakeWriter.instances[1].purge_step == 2  # TensorBoard drops later events of the killed run
    log.close()


def test_tensorboard_missing_is_skipped(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runlog, "_tensorboard_writer", lambda: None)
    assert not RunLog(tmp_path).tensorboard  # auto: silently off
    with pytest.warns(RuntimeWarning, match="tensorboard is not installed"):
        log = RunLog(tmp_path, tensorboard=True)
    with log:
        log.write([row(1)])
    assert not (tmp_path / "tensorboard").exists() and len(read_rows(tmp_path / "metrics.jsonl")) == 1


def test_rows_are_plain_json(tmp_path) -> None:
    with RunLog(tmp_path, tensorboard=False) as log:
        log.write([row(1, value=math.inf)])
    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line)["value"] is None and "Infinity" not in line
