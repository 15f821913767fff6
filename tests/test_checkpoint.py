"""Checkpoints: resume is bitwise, every piece of state matters, bad files and foreign ones are refused,
a failing writer leaves the previous checkpoint intact."""

from __future__ import annotations

import errno
import functools
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pettingzoo
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import agents
import minimax
from minimax.training import checkpoint as ckpt

SMALL = {"hidden": 8, "batch_size": 32}


def adam_rules(lr: float = 1e-3) -> dict:
    return {p: agents.make("adam", lr=lr, betas=(0.5, 0.999)) for p in minimax.PLAYERS}


# Each configuration exercises other state: a fixed training set (task order and position), split turns,
# losses that draw (R1 + instance noise: the loss stream), BatchNorm buffers, simultaneous pending moves,
# rules with extra state (iterate averages, learning-rate schedules, past extragradient's g_prev).
CONFIGS = {
    "aec-split-trainset-noisy-loss": ("aec", "minimax/Normal1D-v0",
                                      dict(SMALL, train_size=100, schedule="alternating:k=2,split=true",
                                           loss="non-saturating:r1=1,noise=0.1"), adam_rules),
    "aec-simultaneous-averaged": ("aec", "minimax/Normal1D-v0", dict(SMALL, schedule="simultaneous"),
                                  lambda: {p: agents.averaged(agents.make("momentum", lr=1e-3), 0.9) for p in minimax.PLAYERS}),
    "aec-batchnorm-lr-schedule": ("aec", "minimax/Grid25-v0",
                                  dict(hidden=8, d_hidden=8, batch_size=16, g_batch_norm=True, d_maxout=1),
                                  lambda: {p: agents.with_schedule(agents.make("rmsprop", lr=1e-3),
                                                                   agents.lr_schedules.linear(30)) for p in minimax.PLAYERS}),
    "parallel-per-player": ("parallel", "minimax/Normal1D-v0", dict(SMALL, loss="wasserstein:gp=1"), adam_rules),
    "parallel-past-extragradient": ("parallel", "minimax/Normal1D-v0", dict(SMALL),
                                    lambda: agents.make("past-extragradient", lr=1e-3)),
    "parallel-sga-payoff-noise": ("parallel", "minimax/Bilinear-v0", dict(gradient_noise=0.1),
                                  lambda: agents.make("sga", lr=0.05)),
}  # fmt: skip


def make(config: str):
    kind, env_id, options, rules = CONFIGS[config]
    return pettingzoo.make(kind, env_id, view="torch", **options), rules()


def rule_states(rules) -> list[torch.Tensor]:
    """Every tensor of the rules' state, in order."""
    out = []

    def walk(x):
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, (tuple, list)):
            for v in x:
                walk(v)
        elif isinstance(x, dict):
            for k in sorted(x):
                walk(x[k])

    if getattr(rules, "joint", False):
        walk({k: v for k, v in vars(rules).items() if isinstance(v, (torch.Tensor, dict, tuple))})
    else:
        for p in minimax.PLAYERS:
            walk(rules[p].state)
    return out


def assert_same_run(env_a, rules_a, hist_a, env_b, rules_b, hist_b) -> None:
    for p in minimax.PLAYERS:
        assert torch.equal(env_a.game.parameters(p), env_b.game.parameters(p)), f"{p} parameters differ"
        for name, x in env_a.game.buffers[p].items():
            assert torch.equal(x, env_b.game.buffers[p][name]), f"{p} buffer {name} differs"
    states_a, states_b = rule_states(rules_a), rule_states(rules_b)
    assert len(states_a) == len(states_b) and all(torch.equal(x, y) for x, y in zip(states_a, states_b)), "rule state differs"
    assert hist_a.iterations == hist_b.iterations and np.array_equal(hist_a.moves, hist_b.moves)
    for name in hist_a.metrics:
        np.testing.assert_array_equal(hist_a[name], hist_b[name], err_msg=name)


@functools.lru_cache(maxsize=None)
def uninterrupted(config: str, n: int):
    """The reference run (cached: tests only read it)."""
    env, rules = make(config)
    return env, rules, minimax.train(env, rules, n, seed=7, progress=False)


class Crash(Exception):
    pass


def crash(iteration, env, history):
    raise Crash


def interrupted(config: str, n: int, at: int, directory: Path):
    """A run that crashes 3 iterations after its checkpoint at ``at``, then is resumed with fresh objects."""
    env, rules = make(config)
    with pytest.raises(Crash):
        minimax.train(env, rules, n, seed=7, progress=False, checkpoint_dir=directory, checkpoint_every=at,
                      callbacks=[crash], callback_at=[at + 3])  # fmt: skip
    assert ckpt.latest(directory).name == f"checkpoint-{at:09d}.ckpt"
    env, rules = make(config)  # as in a new process
    return env, rules, minimax.train(env, rules, n, seed=7, progress=False, checkpoint_dir=directory, resume=True)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(config, tmp_path) -> None:
    reference = uninterrupted(config, 30)
    resumed = interrupted(config, 30, 13, tmp_path)
    assert resumed[2].settings["resumed_at"] == [13]
    assert_same_run(*reference, *resumed)


def _spoil_state(change):
    """Change one piece of the env's state through its state_dict, and load it back."""

    def spoil(env, rules):
        state = env.state_dict()
        change(state)
        env.load_state_dict(state)

    return spoil


def _reshuffled(state):
    task = state["match"]["game"]["tasks"][0]
    task["_order"] = None if task["_order"] is None else task["_order"].flip(0)


SABOTAGE = {
    "noise stream": lambda env, rules: env.game.noise_rngs[0].manual_seed(0),
    "data stream": lambda env, rules: env.game.data_rngs[0].manual_seed(0),
    "training-set order": _spoil_state(_reshuffled),
    "rule state": lambda env, rules: rules["generator"].reset(),
    "turn's minibatch": _spoil_state(lambda state: [b["real"].add_(0.5) for b in state["match"]["batches"].values()]),
    "parameters": lambda env, rules: env.game.parameters("generator").add_(1e-7),
}


@pytest.mark.parametrize("piece", list(SABOTAGE))
def test_every_piece_of_state_matters(piece, tmp_path, monkeypatch) -> None:
    """The bitwise comparison of the resume test catches a checkpoint that misses any one piece."""
    config = "aec-split-trainset-noisy-loss"
    reference = uninterrupted(config, 30)
    original = ckpt.restore

    def restore_then_spoil(env, rules, checkpoint):
        result = original(env, rules, checkpoint)
        SABOTAGE[piece](env, rules)
        return result

    monkeypatch.setattr(ckpt, "restore", restore_then_spoil)
    resumed = interrupted(config, 30, 13, tmp_path)
    with pytest.raises(AssertionError):
        assert_same_run(*reference, *resumed)


def test_save_load_restore_mid_cycle(tmp_path) -> None:
    """Saved after a player has observed and one simultaneous move is pending, the game goes on the same."""
    def fresh():
        return pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", **SMALL, schedule="simultaneous", loss="minimax:noise=0.2")

    a, b = fresh(), fresh()
    rules_a, rules_b = adam_rules(), adam_rules()
    a.reset(seed=3)
    for _ in range(5):  # 2.5 cycles: the discriminator's move is pending, the generator has observed
        player = a.agent_selection
        a.step(rules_a[player].act(a.observe(player)))
    a.observe("generator")
    assert a.match.pending and a.match.evaluations
    path = ckpt.save(tmp_path / "mid.ckpt", a, rules_a)
    ckpt.restore(b, rules_b, ckpt.load(path))
    for _ in range(9):
        player = a.agent_selection
        assert b.agent_selection == player
        a.step(rules_a[player].act(a.observe(player)))
        b.step(rules_b[player].act(b.observe(player)))
        assert torch.equal(a.rewards[player], b.rewards[player])
    for p in minimax.PLAYERS:
        assert torch.equal(a.game.parameters(p), b.game.parameters(p))
    assert a.steps == b.steps == 14
    assert a.np_random.integers(1 << 62) == b.np_random.integers(1 << 62)  # the env's own stream too


# ----------------------------------------------------------------------------------------------
# Bad files.
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path) -> Path:
    env, rules = make("parallel-per-player")
    history = minimax.train(env, rules, 3, seed=0, progress=False)
    return ckpt.save(tmp_path / "good.ckpt", env, rules, history, {"note": "hello", "array": np.arange(3)})


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _with_header(data: bytes, **changes) -> bytes:
    end = data.index(b"\n", len(ckpt.MAGIC))
    header = json.loads(data[len(ckpt.MAGIC) : end])
    header.update(changes)
    return ckpt.MAGIC + json.dumps(header).encode() + data[end:]


CORRUPTIONS = {
    "empty file": (lambda d: b"", "bad magic: empty file"),
    "not a checkpoint": (lambda d: b"PK\x03\x04 a zip file", "not a minimax checkpoint (bad magic"),
    "a flipped bit in the tensors": (_flip_last_byte, "checksum mismatch"),
    "a flipped bit in the meta": (lambda d: d.replace(b'"iteration":3', b'"iteration":4', 1), "checksum mismatch"),
    "truncated": (lambda d: d[: len(d) // 2], "truncated or padded"),
    "padded": (lambda d: d + b"\0" * 10, "truncated or padded"),
    "torn header": (lambda d: d[: len(ckpt.MAGIC) + 5], "unreadable header"),
    "newer format": (lambda d: _with_header(d, format=3), "format version 3, this minimax reads version 2 (written by a newer minimax)"),
    "minimax 0.1's format": (lambda d: _with_header(d, format=1), "format version 1, this minimax reads version 2"),
    "unknown format": (lambda d: _with_header(d, format="x"), "format version 'x'"),
    "header without sizes": (lambda d: _with_header(d, meta_bytes=None), "header lacks sizes or checksum"),
}  # fmt: skip


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_checkpoints_are_refused(corruption, saved) -> None:
    spoil, message = CORRUPTIONS[corruption]
    assert ckpt.load(saved).extra["note"] == "hello"  # the good one reads
    saved.write_bytes(spoil(saved.read_bytes()))
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load(saved)
    assert message in str(error.value) and str(saved) in str(error.value)


def test_missing_file_and_directory(tmp_path) -> None:
    with pytest.raises(ckpt.CheckpointError, match="no such file"):
        ckpt.load(tmp_path / "none.ckpt")
    with pytest.raises(ckpt.CheckpointError, match="is a directory"):
        ckpt.load(tmp_path)


FOREIGN = {
    "another target": (("parallel", "minimax/Normal1D-v0", dict(SMALL, mean=5.0, loss="wasserstein:gp=1")), adam_rules,
                       "task.mean: 4.0 in the checkpoint, 5.0 here"),
    "another network": (("parallel", "minimax/Normal1D-v0", dict(SMALL, hidden=9, loss="wasserstein:gp=1")), adam_rules,
                        "another setup"),
    "other activations": (("parallel", "minimax/Normal1D-v0", dict(SMALL, g_activations="relu", loss="wasserstein:gp=1")),
                          adam_rules, "networks.generator"),
    "another loss": (("parallel", "minimax/Normal1D-v0", dict(SMALL, loss="hinge")), adam_rules, "loss:"),
    "another env kind": (("aec", "minimax/Normal1D-v0", dict(SMALL, loss="wasserstein:gp=1")), adam_rules, "env:"),
    "another task": (("parallel", "minimax/DiracGAN-v0", dict(loss="wasserstein:gp=1")), adam_rules, "task.class"),
    "another rule": (("parallel", "minimax/Normal1D-v0", dict(SMALL, loss="wasserstein:gp=1")),
                     lambda: {p: agents.make("momentum", lr=1e-3) for p in minimax.PLAYERS}, "the discriminator rule differs"),
    "other hyper-parameters": (("parallel", "minimax/Normal1D-v0", dict(SMALL, loss="wasserstein:gp=1")),
                               lambda: adam_rules(lr=2e-3), "hyper-parameters"),
    "a joint rule": (("parallel", "minimax/Normal1D-v0", dict(SMALL, loss="wasserstein:gp=1")),
                     lambda: agents.make("consensus", lr=0.1), "one joint rule"),
    "float64": (("parallel", "minimax/Normal1D-v0", dict(SMALL, loss="wasserstein:gp=1", dtype="float64")), adam_rules,
                "dtype"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FOREIGN))
def test_foreign_checkpoints_are_refused_and_change_nothing(case, saved) -> None:
    (kind, env_id, options), rules_factory, message = FOREIGN[case]
    env, rules = pettingzoo.make(kind, env_id, view="torch", **options), rules_factory()
    env.reset(seed=1)
    before = {p: env.game.parameters(p).clone() for p in minimax.PLAYERS}
    rng_before = env.game.noise_rngs[0].get_state()
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.restore(env, rules, ckpt.load(saved))
    assert message in str(error.value) and str(saved) in str(error.value), str(error.value)
    for p in minimax.PLAYERS:
        assert torch.equal(env.game.parameters(p), before[p])
    assert torch.equal(env.game.noise_rngs[0].get_state(), rng_before)


def test_checkpoint_contents(saved) -> None:
    loaded = ckpt.load(saved)
    assert loaded.iteration == 3 and loaded.history.iterations == 3
    assert loaded.setup["env"] == "parallel" and loaded.setup["task"]["class"] == "Normal1D"
    np.testing.assert_array_equal(loaded.extra["array"], np.arange(3))
    assert loaded.agents["players"]["generator"]["state"] is not None
    count = loaded.agents["players"]["generator"]["state"][0].fields["count"]
    assert count.dtype == torch.int64 and int(count) == 3


# ----------------------------------------------------------------------------------------------
# Writers that fail, directories, train's checks.
# ----------------------------------------------------------------------------------------------


class FullDisk:
    """A file object that accepts ``room`` bytes, then fails like a full disk."""

    def __init__(self, file, room: int) -> None:
        self.file, self.room = file, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.file.write(data[: self.room])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


@pytest.mark.parametrize("failure", ["write", "rename"])
def test_a_failing_writer_leaves_the_previous_checkpoint_intact(failure, tmp_path, monkeypatch) -> None:
    config = "aec-split-trainset-noisy-loss"
    reference = uninterrupted(config, 30)
    real_output, real_replace = ckpt.atomic_output, os.replace
    calls = {"n": 0}

    @contextmanager
    def full_disk_output(path):
        calls["n"] += 1
        with real_output(path) as file:
            yield FullDisk(file, room=300) if calls["n"] == 2 else file

    def failing_replace(src, dst):
        if str(dst).endswith("checkpoint-000000020.ckpt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    if failure == "write":
        monkeypatch.setattr(ckpt, "atomic_output", full_disk_output)
    else:
        monkeypatch.setattr(os, "replace", failing_replace)
    env, rules = make(config)
    with pytest.raises(OSError) as error:
        minimax.train(env, rules, 30, seed=7, progress=False, checkpoint_dir=tmp_path, checkpoint_every=10)
    monkeypatch.undo()
    assert error.value.errno == errno.ENOSPC
    assert "checkpoint-000000020.ckpt" in str(error.value) and "checkpoint-000000010.ckpt is intact" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-000000010.ckpt", "manifest.json", "run.json"]  # no temp
    assert ckpt.load(tmp_path / "checkpoint-000000010.ckpt").iteration == 10
    env, rules = make(config)  # space is back: the run resumes and ends as if nothing had happened
    resumed = minimax.train(env, rules, 30, seed=7, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert_same_run(*reference, env, rules, resumed)


def test_directories_keep_the_newest_and_skip_corrupt_ones(tmp_path) -> None:
    env, rules = make("parallel-per-player")
    minimax.train(env, rules, 9, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=2, keep_checkpoints=3)
    assert [p.name for p in ckpt.checkpoints(tmp_path)] == [f"checkpoint-00000000{i}.ckpt" for i in (6, 8, 9)]
    (tmp_path / ".checkpoint-000000010.ckpt.abc.part").write_bytes(b"half")  # a writer killed mid-way
    newest = tmp_path / "checkpoint-000000009.ckpt"
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="skipping checkpoint .*checkpoint-000000009.ckpt.*truncated"):
        found = ckpt.load_latest(tmp_path, set_aside=True)
    assert found.iteration == 8 and (tmp_path / "checkpoint-000000009.ckpt.corrupt").exists()
    env, rules = make("parallel-per-player")
    history = minimax.train(env, rules, 9, seed=0, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert history.iterations == 9 and history.settings["resumed_at"] == [8]
    assert not list(tmp_path.glob("*.part"))


def test_train_refuses_to_mix_runs(tmp_path) -> None:
    env, rules = make("parallel-per-player")
    minimax.train(env, rules, 4, seed=0, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(FileExistsError, match="already holds checkpoints .*resume=True"):
        minimax.train(*make("parallel-per-player"), 4, seed=0, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="written by a run with seed 0, train was called with seed 1"):
        minimax.train(*make("parallel-per-player"), 8, seed=1, progress=False, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="at least the checkpoint's 4"):
        minimax.train(*make("parallel-per-player"), 3, progress=False, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="resume needs a checkpoint_dir"):
        minimax.train(*make("parallel-per-player"), 3, resume=True)
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 1, got 0"):
        minimax.train(*make("parallel-per-player"), 3, checkpoint_dir=tmp_path / "b", checkpoint_every=0)


def test_a_diverged_run_resumes_as_over(tmp_path) -> None:
    def diverging():
        return pettingzoo.make("parallel", "minimax/Normal1D-v0", view="torch", **SMALL), {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}

    history = minimax.train(*diverging(), 50, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=100)
    assert history.terminated and ckpt.latest(tmp_path).name == f"checkpoint-{history.iterations:09d}.ckpt"
    again = minimax.train(*diverging(), 50, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert again.terminated and again.reason == history.reason and again.iterations == history.iterations


# ----------------------------------------------------------------------------------------------
# The encoder, property-based.
# ----------------------------------------------------------------------------------------------

_tensors = st.builds(
    lambda values, dtype: torch.tensor(values, dtype=dtype),
    st.lists(st.floats(allow_nan=False, width=32), max_size=5),
    st.sampled_from([torch.float32, torch.float64]),
) | st.builds(lambda v: torch.tensor(v, dtype=torch.int64), st.integers(-(2**62), 2**62))
_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | _tensors
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=40, deadline=None)
@given(_values)
def test_encoding_round_trips_through_json(value) -> None:
    tensors: list[torch.Tensor] = []
    encoded = json.loads(json.dumps(ckpt.encode(value, tensors), allow_nan=False))
    assert _same(value, ckpt.decode(encoded, tensors))


def test_what_cannot_be_saved_is_named() -> None:
    with pytest.raises(ckpt.CheckpointError, match=r"state.rule holds a builtins.function"):
        ckpt.encode({"rule": lambda x: x}, [], "state")
    with pytest.raises(ckpt.CheckpointError, match="non-string key 1"):
        ckpt.encode({1: 2}, [])
