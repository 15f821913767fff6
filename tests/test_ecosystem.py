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
    env = pettingzoo.make("aec", "minimax/DiracGAN-v0", schedule=schedule)
    assert env.unwrapped.metadata["is_parallelizable"] is expected
    assert type(env.unwrapped).metadata["is_parallelizable"] is False  # the class default is the safe answer
    if not expected:  # PettingZoo's converter refuses, instead of silently playing the simultaneous game
        with pytest.raises(AssertionError, match="is_parallelizable"):
            aec_to_parallel(env)


def test_aec_to_parallel_of_the_simultaneous_game_equals_the_parallel_env() -> None:
    converted = aec_to_parallel(pettingzoo.make("aec", "minimax/DiracGAN-v0", schedule="simultaneous"))
    native = pettingzoo.make("parallel", "minimax/DiracGAN-v0")
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
    plain = pettingzoo.make("parallel", "minimax/DiracGAN-v0")
    wrapped = parallel_to_aec(pettingzoo.make("parallel", "minimax/DiracGAN-v0"))
    histories = [minimax.train(env, {p: agents.make("sgd", lr=LR) for p in minimax.PLAYERS}, 20, seed=1, progress=False)
                 for env in (plain, wrapped)]  # fmt: skip
    assert torch.equal(torch.as_tensor(histories[0]["value"]), torch.as_tensor(histories[1]["value"]))
