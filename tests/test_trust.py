"""Runs you can trust: what --overwrite removes, locks, exit codes, Ctrl-C, N-game SIGKILL, sizes and edits.

Each test is one hole found by trying minimax as an attacker or a careless user would (see the
README's "Runs, checkpoints and sweeps"); the bad-input battery is in ``test_bad_input.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import agents
import minimax
from minimax import cli, runs
from minimax.core.game import Game
from minimax.envs.vector import VectorGameEnv
from minimax.tasks import Normal1D
from minimax.training import checkpoint as ckpt
from minimax.utils.files import exclusive_lock

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["-o", "hidden=4", "-o", "batch_size=16", "--rule", "sgd:lr=0.01", "--no-progress"]


def train(out: Path, *extra: str, iterations: int = 20) -> int:
    return cli.main(["train", "Normal1D", *SMALL, "--iterations", str(iterations), "--out", str(out), *extra])


def test_overwrite_removes_only_what_the_run_wrote(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert train(out, "--checkpoint-every", "5", "--csv") == 0
    assert cli.main(["plot", str(out)]) == 0
    drafts = out / "checkpoint-drafts"
    drafts.mkdir()
    (drafts / "idea.txt").write_text("mine")
    (out / "notes.md").write_text("mine too")
    (out / "checkpoint-000000001.ckpt.bak").write_text("a user's backup, not a minimax name")
    board = out / "tensorboard"
    board.mkdir(exist_ok=True)
    (board / "events.out.tfevents.someone-else").write_text("another run's events")
    owned = {p.name for p in runs.run_files(out)}
    assert {"run.json", "metrics.jsonl", "metrics.csv", "summary.json", "curves.png", "manifest.json"} <= owned
    assert "checkpoint-drafts" not in owned and "notes.md" not in owned
    assert train(out, "--overwrite", iterations=5) == 0
    assert (drafts / "idea.txt").read_text() == "mine" and (out / "notes.md").read_text() == "mine too"
    assert (out / "checkpoint-000000001.ckpt.bak").exists() and (board / "events.out.tfevents.someone-else").exists()
    assert not (out / "curves.png").exists() and not (out / "metrics.csv").exists()  # the old run's, gone
    assert json.loads((out / "summary.json").read_text())["iterations"] == 5


def test_a_second_process_on_a_run_is_refused_while_the_first_holds_it(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert train(out, iterations=4) == 0
    with exclusive_lock(out / runs.LOCK, "test"):  # as another process training it would
        with pytest.raises(SystemExit) as exit_:
            cli.main(["resume", str(out), "--iterations", "8", "--no-progress"])
    assert exit_.value.code == runs.EXIT_USAGE
    assert f"the run in {str(out)!r} is in use by another minimax process (pid {os.getpid()})" in capsys.readouterr().err
    assert cli.main(["resume", str(out), "--iterations", "8", "--no-progress"]) == 0  # released: it goes on


def test_two_resumes_at_once_one_is_refused(tmp_path) -> None:
    out = tmp_path / "run"
    assert train(out, iterations=2) == 0
    command = [sys.executable, "-m", "minimax.cli", "resume", str(out), "--iterations", "400", "--no-progress"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / runs.LOCK).read_text().strip() == str(first.pid):
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    first.wait(timeout=300)
    assert first.returncode == 0
    assert second.returncode == runs.EXIT_USAGE and "in use by another minimax process" in second.stderr


def test_exit_codes_tell_finished_diverged_usage_and_error_apart(tmp_path, capsys) -> None:
    assert train(tmp_path / "ok", iterations=3) == runs.EXIT_FINISHED == 0
    assert cli.main(["train", "Normal1D", *SMALL, "--rule", "sgd:lr=1e38", "--iterations", "5",
                     "--out", str(tmp_path / "boom")]) == runs.EXIT_DIVERGED == 3  # fmt: skip
    assert "diverged: non-finite" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "Foo"])
    assert exit_.value.code == runs.EXIT_USAGE == 2
    (tmp_path / "ok" / "summary.json").unlink()
    for path in ckpt.checkpoints(tmp_path / "ok"):
        path.write_bytes(b"garbage")
    assert cli.main(["resume", str(tmp_path / "ok"), "--no-progress"]) == runs.EXIT_ERROR == 1


def test_three_fast_ctrl_c_stop_without_a_traceback(tmp_path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "minimax.cli", "train", "Normal1D", *SMALL, "--iterations", "1000000",
               "--checkpoint-every", "100000", "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    for _ in range(3):
        process.send_signal(signal.SIGINT)
        time.sleep(0.02)
    _, err = process.communicate(timeout=120)
    assert "Traceback" not in err.decode(), err.decode()
    assert process.returncode == 128 + signal.SIGINT


N_GAMES_SCRIPT = textwrap.dedent("""
    import sys, agents, minimax
    from minimax.core.game import Game
    from minimax.envs.vector import VectorGameEnv
    from minimax.tasks import Normal1D
    env = VectorGameEnv(Game(Normal1D(hidden=4, batch_size=16), 3, loss=["non-saturating", "hinge", "wasserstein"]),
                        ["alternating:k=1", "alternating:k=2", "simultaneous"])
    rule = agents.make("adam", lr=minimax.per_game([1e-3, 2e-3, 3e-3]))
    minimax.train(env, rule, int(sys.argv[2]), seed=[1, 2, 3], progress=False, checkpoint_dir=sys.argv[1],
                  checkpoint_every=int(sys.argv[3]), resume=True)
""")


def test_an_n_game_run_killed_with_sigkill_resumes_bitwise(tmp_path) -> None:
    script = tmp_path / "n_games.py"
    script.write_text(N_GAMES_SCRIPT)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    iterations = 750  # the kill lands between the first checkpoint (250) and the end
    subprocess.run([sys.executable, str(script), str(clean), str(iterations), "250"], check=True, cwd=ROOT)
    process = subprocess.Popen([sys.executable, str(script), str(killed), str(iterations), "250"], cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and len(ckpt.checkpoints(killed)) < 1:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    at = ckpt.load_latest(killed).iteration
    assert 0 < at < iterations
    subprocess.run([sys.executable, str(script), str(killed), str(iterations), "250"], check=True, cwd=ROOT)
    a, b = ckpt.load(ckpt.latest(clean)), ckpt.load(ckpt.latest(killed))
    assert a.iteration == b.iteration == iterations
    for p in minimax.PLAYERS:
        assert torch.equal(a.parameters[p], b.parameters[p])
    for name, values in a.history.metrics.items():
        assert values.tobytes() == b.history.metrics[name].tobytes(), name


def test_an_action_that_requires_grad_never_joins_the_game_to_the_callers_graph() -> None:
    env = minimax.GameAECEnv(Game(Normal1D(hidden=4, batch_size=8)), "alternating:k=1")
    env.reset(seed=0)
    size = env.game.size("discriminator")
    env.step(torch.zeros(size, requires_grad=True) * 1.0)
    params = env.game.parameters("discriminator")
    assert params.grad_fn is None and not params.requires_grad


def test_hyperparameter_tensors_of_the_wrong_shape_are_refused_when_the_rule_is_made() -> None:
    with pytest.raises(ValueError, match=r"SGD: lr as a tensor must be one value .* got shape \[2, 2\]"):
        agents.make("sgd", lr=torch.ones(2, 2))
    env = VectorGameEnv(Game(Normal1D(hidden=4, batch_size=8), 3))
    with pytest.raises(ValueError, match="lr has 4 per-game values, and this env has 3 games"):
        minimax.train(env, agents.make("sgd", lr=minimax.per_game([1e-3] * 4)), 2, seed=[0, 1, 2], progress=False)
