"""Nothing read from disk runs code, and nothing in a file can change what a run is.

Each attack writes a file an attacker could write (checksums are not secrets: they are
recomputed), whose payload would create a marker file if it were unpickled; the marker must
never appear, and each file must be refused with a :class:`CheckpointError` that says why.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import warnings

import numpy as np
import pytest
import torch

import agents
import minimax
from benchmarks import mnist as mnist_benchmark
from minimax.core.game import Game
from minimax.tasks import Normal1D
from minimax.training import checkpoint as ckpt


class Payload:
    """Unpickling this creates the marker file (what an attacker's object would do instead)."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def framed(body: dict, blob: bytes) -> bytes:
    """A file in the checkpoint layout with ``body`` and ``blob`` and a correct checksum."""
    meta = json.dumps(body).encode()
    digest = hashlib.sha256(meta + blob).hexdigest()
    header = {"format": ckpt.FORMAT_VERSION, "sha256": digest, "meta_bytes": len(meta), "tensor_bytes": len(blob)}
    return ckpt.MAGIC + json.dumps(header).encode() + b"\n" + meta + blob


def pickled(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def small_env() -> minimax.GameAECEnv:
    return minimax.GameAECEnv(Game(Normal1D(hidden=4, batch_size=8)), "alternating:k=1")


def rules():
    return {p: agents.make("sgd", lr=1e-3) for p in minimax.PLAYERS}


def test_a_pickled_evaluations_file_is_refused_and_runs_no_code(tmp_path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evaluations.ckpt"
    path.write_bytes(pickled({"curve": Payload(marker), "grids": {}, "spent": {}}))  # the old torch.save format
    with pytest.raises(ckpt.CheckpointError, match="not a minimax checkpoint"):
        mnist_benchmark.load_evaluations(path, 10)
    path.write_bytes(framed({"kind": mnist_benchmark.EVALUATIONS, "data": {}}, pickled([Payload(marker)])))
    with pytest.raises(ckpt.CheckpointError, match="objects other than tensors"):
        mnist_benchmark.load_evaluations(path, 10)
    assert not marker.exists()


def test_evaluations_round_trip_through_the_checked_layout(tmp_path) -> None:
    path = tmp_path / "evaluations.ckpt"
    grids = {0: np.zeros((25, 28, 28), dtype=np.float32), 6: np.ones((25, 28, 28), dtype=np.float32)}
    mnist_benchmark.save_evaluations(path, {"iteration": [0, 2, 6], "score": [1.0, 2.0, float("nan")]}, grids,
                                     {"evaluation": 1.5})  # fmt: skip
    back = mnist_benchmark.load_evaluations(path, 4)
    assert back["curve"] == {"iteration": [0, 2], "score": [1.0, 2.0]} and list(back["grids"]) == [0]
    np.testing.assert_array_equal(back["grids"][0], grids[0])
    assert back["spent"] == {"evaluation": 1.5}
    with pytest.raises(ckpt.CheckpointError, match="a 'mnist benchmark evaluations' file, expected 'something else'"):
        ckpt.load_record(path, "something else")


def test_a_checkpoint_with_a_crafted_tensor_section_is_refused_and_resume_falls_back(tmp_path) -> None:
    marker = tmp_path / "marker"
    env = small_env()
    minimax.train(env, rules(), 6, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=3)
    newest = ckpt.latest(tmp_path)
    assert newest.name == "checkpoint-000000006.ckpt"
    data = newest.read_bytes()
    end = data.find(b"\n", len(ckpt.MAGIC))
    header = json.loads(data[len(ckpt.MAGIC) : end])
    meta = json.loads(data[end + 1 : end + 1 + header["meta_bytes"]])
    newest.write_bytes(framed(meta, pickled([torch.zeros(1), Payload(marker)])))  # a valid checksum, a poisoned pickle
    with pytest.raises(ckpt.CheckpointError, match="objects other than tensors.*never loaded"):
        ckpt.load(newest)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = ckpt.load_latest(tmp_path)
    assert found.iteration == 3 and any("trying an older checkpoint" in str(w.message) for w in caught)
    resumed = minimax.train(small_env(), rules(), 8, seed=0, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert resumed.iterations == 8
    assert not marker.exists()


def test_a_hand_edited_checkpoint_cannot_change_the_target(tmp_path) -> None:
    env = small_env()
    minimax.train(env, rules(), 2, seed=0, progress=False, checkpoint_dir=tmp_path)
    path = ckpt.latest(tmp_path)
    data = path.read_bytes()
    end = data.find(b"\n", len(ckpt.MAGIC))
    header = json.loads(data[len(ckpt.MAGIC) : end])
    start = end + 1
    meta = json.loads(data[start : start + header["meta_bytes"]])
    blob = data[start + header["meta_bytes"] :]
    tasks = meta["state"]["$dict"]["match"]["$dict"]["game"]["$dict"]["tasks"]
    tasks[0]["$dict"]["mean"] = 99.0  # a field the task does not declare as state
    path.write_bytes(framed(meta, blob))
    fresh = small_env()
    fresh.reset(seed=0)
    before = fresh.game.task.mean
    with pytest.raises(ckpt.CheckpointError, match="Normal1D state: expected the fields"):
        ckpt.restore(fresh, rules(), path)
    assert fresh.game.task.mean == before == 4.0
