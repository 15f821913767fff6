"""At the edges, minimax behaves like the libraries its users know (PettingZoo's conversions, wrappers)."""

from __future__ import annotations

import pettingzoo
import pytest
import torch
from pettingzoo.utils.conversions import aec_to_parallel, parallel_to_aec

import agents
import minimax

LR = 0.1


def sgd_step(observation: dict) -> torch.Tensor:
    return -LR * observation["gradient"]


@pytest.mark.parametrize("schedule, expected", [("simultaneous", True), ("alternating", False),
                                                ("alternating:k=5", False)])
def test_is_parallelizable_only_where_a_parallel_step_is_the_same_game(schedule: str, expected: bool) -> None:
    env = pettingzoo.make("aec", "minimax/DiracGAN-v0", view="torch", schedule=schedule)
    assert env.unwrapped.metadata["is_parallelizable"] is expected
    assert type(env.unwrapped).metadata["is_parallelizable"] is False  # the class default is the safe answer
    if not expected:  # PettingZoo's converter refuses, instead of silently playing the simultaneous game
        with pytest.raises(AssertionError, match="is_parallelizable"):
            aec_to_parallel(env)


def test_aec_to_parallel_of_the_simultaneous_game_equals_the_parallel_env() -> None:
    converted = aec_to_parallel(pettingzoo.make("aec", "minimax/DiracGAN-v0", view="torch", schedule="simultaneous"))
    native = pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch")
    states = []
    for env in (converted, native):
        observations, _ = env.reset(seed=3)
        for _ in range(5):
            observations, *_ = env.step({a: sgd_step(observations[a]) for a in env.agents})
        game = env.unwrapped.game if hasattr(env, "unwrapped") else env.aec_env.unwrapped.game
        states.append({p: game.parameters(p).clone() for p in minimax.PLAYERS})
    for player in minimax.PLAYERS:
        assert torch.equal(states[0][player], states[1][player]), player


def test_train_accepts_pettingzoo_wrapped_envs() -> None:
    plain = pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch")
    wrapped = parallel_to_aec(pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch"))
    histories = [minimax.train(env, {p: agents.make("sgd", lr=LR) for p in minimax.PLAYERS}, 20, seed=1, progress=False)
                 for env in (plain, wrapped)]  # fmt: skip
    assert torch.equal(torch.as_tensor(histories[0]["value"]), torch.as_tensor(histories[1]["value"]))


def test_eval_scores_the_generators_average_when_the_run_declares_one(tmp_path, capsys) -> None:
    from minimax import cli
    from minimax.runs import evaluate_run

    for name, generator in (("ema", "adam:lr=1e-3,ema=0.9"), ("plain", "adam:lr=1e-3")):
        assert cli.main(["train", "Normal1D", "-o", "hidden=4", "-o", "batch_size=32", "-G", generator, "-D", "adam:lr=1e-3",
                         "--iterations", "30", "--out", str(tmp_path / name), "--no-progress"]) == 0
    with_average, plain = evaluate_run(tmp_path / "ema", 2000), evaluate_run(tmp_path / "plain", 2000)
    assert "target_average" not in plain
    assert with_average["target_average"]["w1"] != with_average["target"]["w1"]  # the average, not the last iterate
    capsys.readouterr()
    cli.main(["eval", str(tmp_path / "ema"), "--samples", "2000"])
    printed = capsys.readouterr().out
    assert "(last iterate)" in printed and "(average of iterates)" in printed


def test_export_writes_the_generator_for_use_outside_minimax(tmp_path, capsys) -> None:
    from minimax import cli
    from minimax.runs import build_run, load_spec

    run = tmp_path / "ema"
    cli.main(["train", "Normal1D", "-o", "hidden=4", "-o", "batch_size=32", "-G", "adam:lr=1e-3,ema=0.9", "-D",
              "adam:lr=1e-3", "--iterations", "20", "--out", str(run), "--no-progress"])
    capsys.readouterr()
    assert cli.main(["export", str(run)]) == 0 and "average of iterates" in capsys.readouterr().out
    assert cli.main(["export", str(run), "--which", "last", "--output", str(tmp_path / "g.pt")]) == 0
    average = torch.load(run / "generator-20-average.pt", weights_only=True)
    last = torch.load(tmp_path / "g.pt", weights_only=True)
    module = build_run(load_spec(run))[0].game.task.build_generator()
    module.load_state_dict(last)  # a plain module takes it
    assert average.keys() == last.keys() and any(not torch.equal(average[k], last[k]) for k in last)
    with pytest.raises(SystemExit):  # a run without an average: usage error naming the option
        cli.main(["train", "Normal1D", "-o", "hidden=4", "--iterations", "2", "--out", str(tmp_path / "p"), "--no-progress"])
        cli.main(["export", str(tmp_path / "p"), "--which", "average"])
    assert "keeps no average" in capsys.readouterr().err


def test_gymnasium_episodes_end_and_a_bounded_action_space_is_one_option_away() -> None:
    import gymnasium
    import numpy as np

    from minimax.envs.registration import EPISODE_STEPS

    env = gymnasium.make("minimax/DiracGAN-v0", view="torch")
    assert env.spec.max_episode_steps == EPISODE_STEPS  # a TimeLimit, as Gymnasium's own envs have
    short = gymnasium.make("minimax/DiracGAN-v0", view="torch", max_episode_steps=3)
    short.reset(seed=0)
    flags = [short.step(torch.zeros(1, dtype=torch.float32))[3] for _ in range(3)]
    assert flags == [False, False, True]
    bounded = minimax.to_numpy(gymnasium.make("minimax/DiracGAN-v0", view="torch", action_scale=0.1))
    space = bounded.action_space
    assert float(space.low.min()) == -1.0 and float(space.high.max()) == 1.0
    bounded.reset(seed=0)
    before = float(bounded.unwrapped.game_env.game.parameters("generator")[0, 0])
    bounded.step(np.array([5.0], dtype=np.float32))  # clipped to 1, scaled by 0.1
    after = float(bounded.unwrapped.game_env.game.parameters("generator")[0, 0])
    assert after - before == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(ValueError, match="action_scale must be a finite number > 0"):
        gymnasium.make("minimax/DiracGAN-v0", view="torch", action_scale=-1)
