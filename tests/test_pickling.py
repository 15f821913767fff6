"""Rules and envs pickle (multiprocessing, AsyncVectorEnv and Ray carry them) and go on exactly as before."""

from __future__ import annotations

import copy
import pickle

import gymnasium
import pettingzoo
import pytest
import torch

import agents
import minimax


def wrapped_rules() -> dict[str, agents.UpdateRule]:
    adam = agents.make("adam", lr=1e-2, betas=(0.5, 0.999))
    return {
        **{name: agents.make(name, lr=1e-2) for name in agents.available() if name not in ("consensus", "sga", "cgd",
                                                                                           "extragradient", "past-extragradient")},
        "linear decay": agents.with_schedule(adam, agents.lr_schedules.linear(50, end=0.1)),
        "cosine decay": agents.with_schedule(agents.make("sgd", lr=0.1), agents.lr_schedules.cosine(50)),
        "ema": agents.averaged(agents.make("momentum", lr=1e-2, momentum=-0.3), decay=0.9),
        "clipped": agents.clipped(agents.make("rmsprop", lr=1e-2), 0.5),
        "per-game lr": agents.make("adam", lr=minimax.per_game([1e-2, 2e-2])),
        "torch Adam": agents.from_torch(torch.optim.Adam, lr=1e-2),
    }


@pytest.mark.parametrize("name", list(wrapped_rules()))
def test_a_rule_mid_run_pickles_and_continues_bitwise(name: str) -> None:
    rule = wrapped_rules()[name]
    params = torch.linspace(-1, 1, 10).repeat(2, 1)
    for i in range(5):
        params = params + rule.step(torch.sin(params * (i + 1)), params)
    copy_ = pickle.loads(pickle.dumps(rule))
    assert copy_.name == rule.name and copy_.hyperparameters.keys() == rule.hyperparameters.keys()
    a, b = params.clone(), params.clone()
    for i in range(5):
        a = a + rule.step(torch.cos(a * (i + 2)), a)
        b = b + copy_.step(torch.cos(b * (i + 2)), b)
    assert torch.equal(a, b)


def test_deepcopy_keeps_sharing_the_transformation() -> None:
    rule = agents.make("adam", lr=1e-3)
    twin = copy.deepcopy(rule)
    assert twin.transform is rule.transform  # compiled ticks are cached on it: minimax.train copies one rule per player


def play(env, steps: int = 6) -> list[float]:
    losses = []
    for _ in range(steps):
        agent = env.agent_selection
        observation = env.observe(agent)
        env.step(-0.01 * observation["gradient"])
        losses.append(float(observation["loss"]))
    return losses


@pytest.mark.parametrize("env_id", ["minimax/Normal1D-v0", "minimax/DiracGAN-v0", "minimax/Ring8-v0"])
def test_envs_mid_game_pickle_and_play_on_identically(env_id: str) -> None:
    env = pettingzoo.make("aec", env_id, view="torch")
    env.reset(seed=4)
    play(env)
    clone = pickle.loads(pickle.dumps(env))
    assert play(env) == play(clone)
    single = gymnasium.make(env_id, view="torch")
    single.reset(seed=1)
    again = pickle.loads(pickle.dumps(single))
    action = torch.zeros(single.unwrapped.action_space.shape)
    assert float(single.step(action)[1]) == float(again.step(action)[1])


def test_a_vector_env_pickles_and_trains_on_identically() -> None:
    env = minimax.make_vector("minimax/Normal1D-v0", 3, hidden=8, batch_size=32)
    rules = {p: agents.make("adam", lr=1e-3) for p in minimax.PLAYERS}
    minimax.train(env, rules, 5, seed=[0, 1, 2], progress=False)
    twin_env, twin_rules = pickle.loads(pickle.dumps((env, rules)))
    from minimax.training.loop import Driver

    drivers = [Driver(env, rules), Driver(twin_env, twin_rules)]
    for driver in drivers:
        for _ in range(4):
            driver.iteration()
    for p in minimax.PLAYERS:
        assert torch.equal(env.game.parameters(p), twin_env.game.parameters(p)), p
