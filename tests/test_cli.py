"""The minimax command: a run killed with SIGKILL resumes bitwise, SIGTERM stops cleanly, bad input is
named, and train/eval/plot/list work end to end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import matplotlib.pyplot
import minimax
from minimax.training import checkpoint as ckpt
from minimax import cli, runs
from minimax.training.runlog import read_rows

ITERATIONS, EVERY = 300, 25
ARGS = [
    "normal1d", "-o", "hidden=8", "-o", "batch_size=32", "-o", "train_size=200",
    "--loss", "non-saturating:noise=0.05", "--schedule", "alternating:k=2",
    "-D", "adam:lr=1e-3,betas=0.5/0.999", "-G", "momentum:lr=1e-3,momentum=0.5,ema=0.9",
    "-n", str(ITERATIONS), "--checkpoint-every", str(EVERY), "--seed", "3", "--threads", "1", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run, in this process."""
    out = tmp_path_factory.mktemp("reference")
    assert cli.main(["train", *ARGS, "--out", str(out)]) == 0
    return out


def start(out: Path) -> subprocess.Popen:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "minimax.cli", "train", *ARGS, "--out", str(out)],
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def wait_for_row(process: subprocess.Popen, out: Path, past: int) -> None:
    """Poll the run's JSON-lines log until it has a row after iteration ``past``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = read_rows(out / "metrics.jsonl")
        if rows and rows[-1]["iteration"] > past:
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended (rc {process.returncode}) before it could be stopped: {process.stderr.read().decode()}")
        time.sleep(0.005)
    process.kill()
    pytest.fail("the run wrote no rows in 120 s")


def assert_same_final_state(a: Path, b: Path) -> None:
    final_a, final_b = ckpt.load(ckpt.latest(a)), ckpt.load(ckpt.latest(b))
    assert final_a.iteration == final_b.iteration == ITERATIONS
    for p in minimax.PLAYERS:
        assert torch.equal(final_a.parameters[p], final_b.parameters[p]), f"{p} parameters differ"
    for p in minimax.PLAYERS:  # Adam moments and counts; momentum buffer and iterate average
        tensors_a = [t for t in _leaves(final_a.agents["players"][p]["state"])]
        tensors_b = [t for t in _leaves(final_b.agents["players"][p]["state"])]
        assert len(tensors_a) == len(tensors_b) > 0 and all(torch.equal(x, y) for x, y in zip(tensors_a, tensors_b))
    for name, values in final_a.history.metrics.items():
        assert values.tobytes() == final_b.history.metrics[name].tobytes(), name
    rows_a, rows_b = read_rows(a / "metrics.jsonl"), read_rows(b / "metrics.jsonl")
    assert [r["iteration"] for r in rows_b] == list(range(1, ITERATIONS + 1))  # no row twice, none missing
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
    assert strip(rows_a) == strip(rows_b)


def _leaves(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, ckpt.Record):
        for v in x.fields.values():
            yield from _leaves(v)
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _leaves(v)


def test_a_run_killed_with_sigkill_resumes_bitwise(reference, tmp_path) -> None:
    process = start(tmp_path)
    wait_for_row(process, tmp_path, past=EVERY)  # a row after the first checkpoint: that checkpoint is on disk
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    killed_at = read_rows(tmp_path / "metrics.jsonl")[-1]["iteration"]
    checkpoint_at = ckpt.load_latest(tmp_path).iteration
    assert EVERY <= checkpoint_at < killed_at < ITERATIONS, (checkpoint_at, killed_at)
    assert cli.main(["resume", str(tmp_path), "--no-progress"]) == 0
    assert_same_final_state(reference, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["resumed_at"] == [checkpoint_at] and summary["iterations"] == ITERATIONS


def test_sigterm_checkpoints_and_stops_then_resumes_bitwise(reference, tmp_path) -> None:
    process = start(tmp_path)
    wait_for_row(process, tmp_path, past=10)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    assert "checkpoint saved: continue with 'minimax resume" in err.decode()
    stopped_at = read_rows(tmp_path / "metrics.jsonl")[-1]["iteration"]
    assert ckpt.load_latest(tmp_path).iteration == stopped_at < ITERATIONS  # a checkpoint at the very iteration
    assert cli.main(["resume", str(tmp_path), "--no-progress"]) == 0
    assert_same_final_state(reference, tmp_path)


def test_eval_plot_and_list(reference, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert cli.main(["eval", str(reference), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["iteration"] == ITERATIONS and report["status"] == "finished"
    env = runs.build_run(json.loads((reference / "run.json").read_text()))[0]
    env.reset(seed=3)
    samples = lambda: env.game.generate(10000, torch.Generator().manual_seed(0))  # noqa: E731
    untrained = minimax.eval.metrics.wasserstein1_to_normal(samples(), 4.0, 1.25)
    ckpt.restore(env, None, ckpt.load_latest(reference))
    trained = minimax.eval.metrics.wasserstein1_to_normal(samples(), 4.0, 1.25)
    assert report["target"]["w1"] == trained != untrained  # the final generator, not a fresh one
    assert cli.main(["eval", str(reference)]) == 0
    text = capsys.readouterr().out
    assert f"checkpoint at iteration {ITERATIONS} of {ITERATIONS}" in text and "w1 " in text and "generator_loss" in text
    assert cli.main(["plot", str(reference), "--output", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(tmp_path / "c.png")
    assert lines[1] == f"{tmp_path / 'c-game.png'} (the game at iteration {ITERATIONS}, average of iterates)"
    picture = matplotlib.pyplot.imread(tmp_path / "c-game.png")
    assert picture.shape[:2] == (480, 640)  # the env's frame: the generated histogram over the target
    assert cli.main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert set(listing["tasks"]) >= {f"minimax/{k}" for k in {**minimax.envs.registration.TASKS, **minimax.envs.registration.GAMES}}
    import agents

    assert set(agents.available()) <= set(listing["agents"])
    assert set(listing["losses"]["families"]) == set(minimax.core.losses.LOSS_FAMILIES)
    assert cli.main(["list", "schedules"]) == 0
    assert "alternating:k=K" in capsys.readouterr().out


def test_resume_extends_a_finished_run_bitwise(tmp_path) -> None:
    base = ["normal1d", "-o", "hidden=8", "-o", "batch_size=32", "--env", "parallel", "--no-progress", "--seed", "1"]
    assert cli.main(["train", *base, "-n", "40", "--out", str(tmp_path / "long")]) == 0
    assert cli.main(["train", *base, "-n", "25", "--out", str(tmp_path / "short")]) == 0
    assert cli.main(["resume", str(tmp_path / "short"), "-n", "40", "--no-progress"]) == 0
    a, b = ckpt.load(ckpt.latest(tmp_path / "long")), ckpt.load(ckpt.latest(tmp_path / "short"))
    assert a.iteration == b.iteration == 40
    assert all(torch.equal(a.parameters[p], b.parameters[p]) for p in minimax.PLAYERS)
    assert json.loads((tmp_path / "short" / "run.json").read_text())["iterations"] == 40


def test_a_foreign_checkpoint_in_a_run_directory_is_refused(tmp_path, capsys) -> None:
    base = ["normal1d", "-o", "hidden=8", "-o", "batch_size=32", "-n", "5", "--no-progress"]
    assert cli.main(["train", *base, "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["train", *base, "-o", "mean=5", "-n", "3", "--out", str(tmp_path / "b")]) == 0
    for p in ckpt.checkpoints(tmp_path / "b"):
        p.unlink()
    shutil.copy(ckpt.latest(tmp_path / "a"), tmp_path / "b")
    capsys.readouterr()
    assert cli.main(["resume", str(tmp_path / "b"), "-n", "8", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "written for another setup than this env (task.mean: 4.0 in the checkpoint, 5.0 here)" in err
    assert cli.main(["train", *base, "--out", str(tmp_path / "a"), "--overwrite"]) == 0  # replaces the run


BAD = {
    "unknown task": (["train", "Foo"], "unknown task 'Foo'; expected one of: Normal1D-v0"),
    "unknown rule": (["train", "normal1d", "-D", "adamm:lr=1"], "--discriminator: unknown update rule 'adamm'; expected one of: adam"),
    "negative lr": (["train", "normal1d", "-G", "adam:lr=-1"], "--generator 'adam:lr=-1': Adam: lr must be a finite number >= 0, got -1"),
    "not a number": (["train", "normal1d", "--rule", "adam:lr=x"], "--rule 'adam:lr=x': Adam: lr must be a real number"),
    "option without value": (["train", "normal1d", "--rule", "adam:lr"], "option 'lr' must look like KEY=VALUE"),
    "one beta": (["train", "normal1d", "--rule", "adam:betas=0.5"], "betas must be a pair (beta1, beta2), got 0.5"),
    "empty tuple item": (["train", "normal1d", "--rule", "adam:betas=0.5/"], "empty item in tuple '0.5/'"),
    "unknown hyper-parameter": (["train", "normal1d", "--rule", "adam:foo=1"], "unknown hyper-parameter(s) foo; accepted: lr, betas"),
    "bad option name": (["train", "normal1d", "--rule", "adam:l-r=1"], "bad option name 'l-r'"),
    "unknown loss": (["train", "normal1d", "--loss", "nonsense"], "--loss 'nonsense': unknown loss family 'nonsense'; expected one of"),
    "bad loss option": (["train", "normal1d", "--loss", "hinge:r3=1"], "--loss 'hinge:r3=1': unknown loss option 'r3'"),
    "bad schedule": (["train", "normal1d", "--schedule", "alternating:k=0"], "--schedule 'alternating:k=0': k (discriminator steps per iteration) must be an integer >= 1, got 0"),
    "unknown schedule": (["train", "normal1d", "--schedule", "zigzag"], "unknown schedule 'zigzag'; expected one of: alternating, simultaneous"),
    "schedule in parallel": (["train", "normal1d", "--env", "parallel", "--schedule", "simultaneous"], "--schedule is for --env aec"),
    "bad task value": (["train", "normal1d", "-o", "mean=abc"], "-o mean=abc): mean must be a real number, got 'abc'"),
    "unknown task option": (["train", "normal1d", "-o", "nope=1"], "unknown option(s) ['nope'] for Normal1D"),
    "task option, not KEY=VALUE": (["train", "normal1d", "-o", "mean"], "--task-option 'mean': option 'mean' must look like KEY=VALUE"),
    "loss as a task option": (["train", "normal1d", "-o", "loss=hinge"], "--task-option loss=...: use --loss instead"),
    "joint rule in aec": (["train", "normal1d", "--env", "aec", "--joint", "consensus:lr=0.1"], "--joint needs --env parallel"),
    "single rule as joint": (["train", "normal1d", "--joint", "adam:lr=0.1"], "Adam is a single-player rule; give it with --rule"),
    "joint rule as a player's": (["train", "normal1d", "-D", "consensus:lr=0.1"], "Consensus is a joint rule that moves both players; give it with --joint"),
    "joint without lr": (["train", "normal1d", "--joint", "consensus"], "consensus: missing required hyper-parameter(s) lr"),
    "joint and player rules": (["train", "normal1d", "--joint", "sga:lr=1", "-D", "sgd:lr=1"], "give either --joint or --discriminator/--generator"),
    "loss for a payoff game": (["train", "bilinear", "--loss", "hinge"], "Bilinear-v0 is a payoff game"),
    "zero iterations": (["train", "normal1d", "-n", "0"], "argument --iterations/-n: iterations must be an integer >= 1, got '0'"),
    "negative seed": (["train", "normal1d", "--seed", "-1"], "seed must be an integer >= 0, got '-1'"),
    "unknown env": (["train", "normal1d", "--env", "gym"], "argument --env: invalid choice: 'gym'"),
    "bad device": (["train", "normal1d", "--device", "toaster"], "--device 'toaster': "),
    "bad lr schedule": (["train", "normal1d", "--rule", "sgd:lr=1,lr_schedule=linear"], "lr_schedule must be KIND/STEPS[/END]"),
    "wrapper on joint rule": (["train", "normal1d", "--joint", "sga:lr=1,ema=0.9"], "ema apply to single-player rules"),
    "no command": ([], "the following arguments are required: COMMAND"),
    "resume nowhere": (["resume", "/nonexistent/run"], "DIR '/nonexistent/run' is not a directory"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_usage_error_naming_the_value(case, capsys, tmp_path) -> None:
    argv, message = BAD[case]
    if argv and argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "usage: minimax" in err and message in err, err
    assert not (tmp_path / "run").exists()  # nothing written


def test_directory_errors(tmp_path, capsys) -> None:
    for argv, message in ((["resume", str(tmp_path)], "run.json: no run spec"),
                          (["eval", str(tmp_path)], "run.json: no run spec"),
                          (["plot", str(tmp_path)], "metrics.jsonl: no metrics rows yet")):  # fmt: skip
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert message in capsys.readouterr().err
    (tmp_path / "run.json").write_text('{"minimax_run": 1, "task"')
    with pytest.raises(SystemExit):
        cli.main(["resume", str(tmp_path)])
    assert "run.json: not valid JSON" in capsys.readouterr().err
    assert cli.main(["train", "diracgan", "--joint", "extragradient:lr.discriminator=0.2,lr.generator=0.1", "-n", "3",
                     "--out", str(tmp_path / "run"), "--no-progress"]) == 0  # fmt: skip
    with pytest.raises(SystemExit):
        cli.main(["train", "diracgan", "-n", "3", "--out", str(tmp_path / "run")])
    assert "already holds a run" in capsys.readouterr().err
    spec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert spec["parsed"]["joint"] == {"rule": "extragradient", "options": {"lr": {"discriminator": 0.2, "generator": 0.1}}}
    assert spec["env"] == "parallel"


def test_values_parse_as_documented() -> None:
    assert runs.parse_spec("adam:lr=2e-4,betas=0.5/0.999,amsgrad=true", "x") == (
        "adam", {"lr": 2e-4, "betas": (0.5, 0.999), "amsgrad": True})
    assert runs.parse_options("k=5,first=generator,x=none,lr.discriminator=1,lr.generator=0.5", "x") == {
        "k": 5, "first": "generator", "x": None, "lr": {"discriminator": 1, "generator": 0.5}}
    assert runs.parse_value("1/0;0/1") == ((1, 0), (0, 1))
    assert runs.parse_value("/data/mnist") == "/data/mnist" and runs.parse_value("a/b", path=True) == "a/b"
    assert runs.task_options("MNIST-v0", ["root=data/mnist"]) == {"root": "data/mnist"}  # a path option
    assert runs.task_options("Normal1D-v0", ["g_activations=elu/sigmoid", "mean=-2,std=0.5"]) == {
        "g_activations": ("elu", "sigmoid"), "mean": -2, "std": 0.5}
    assert runs.resolve_task("minimax/Normal1D-v0") == runs.resolve_task("NORMAL1D") == "Normal1D-v0"


_word = st.text("abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=6).filter(
    lambda w: w not in {"true", "false", "yes", "no", "on", "off", "none", "null", "inf", "nan"})
_scalar = st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.booleans() | st.none() | _word
_value = _scalar | st.tuples(_scalar, _scalar) | st.tuples(_scalar, _scalar, _scalar) | st.dictionaries(
    st.sampled_from(["discriminator", "generator"]), _scalar, min_size=1)
_key = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_key, _value, max_size=4))
def test_specs_round_trip(options) -> None:
    text = runs.format_spec("rule", options)
    assert runs.parse_spec(text, "x") == ("rule", options)


def test_a_lost_run_json_and_a_run_started_from_python(tmp_path, capsys) -> None:
    import agents
    import pettingzoo

    base = ["normal1d", "-o", "hidden=8", "-o", "batch_size=32", "--no-progress"]
    assert cli.main(["train", *base, "-n", "4", "--out", str(tmp_path / "a")]) == 0
    (tmp_path / "a" / "run.json").unlink()
    capsys.readouterr()
    assert cli.main(["resume", str(tmp_path / "a"), "-n", "6", "--no-progress"]) == 0  # the spec is in each checkpoint
    assert "run.json is missing; using the run spec saved in checkpoint-000000004.ckpt" in capsys.readouterr().err
    assert ckpt.load_latest(tmp_path / "a").iteration == 6
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=32, schedule="alternating:k=3")
    minimax.train(env, {p: agents.make("sgd", lr=0.01) for p in minimax.PLAYERS}, 3, seed=5, progress=False,
                  checkpoint_dir=tmp_path / "b")  # fmt: skip
    spec = json.loads((tmp_path / "b" / "run.json").read_text())
    assert spec["made_by"] == "minimax.train (Python)" and spec["seed"] == 5 and spec["iterations"] == 3
    assert spec["setup"]["schedule"]["cycle"] == ["discriminator"] * 3 + ["generator"]
    assert spec["rules"]["generator"] == {"type": "SGD", "name": "SGD", "hyperparameters": {"lr": 0.01, "weight_decay": 0.0}}
    with pytest.raises(SystemExit):
        cli.main(["resume", str(tmp_path / "b")])
    assert "describes a run started from Python with minimax.train" in capsys.readouterr().err
