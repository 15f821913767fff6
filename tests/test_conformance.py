"""PettingZoo's and Gymnasium's own checkers on minimax/Normal1D-v0: on what ``make`` returns (the numpy view)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pettingzoo
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import minimax

ENV_ID = "minimax/Normal1D-v0"
SMALL = {"hidden": 8, "batch_size": 16}


@pytest.mark.parametrize("schedule", ["alternating", "alternating:k=3,first=generator", "simultaneous"])
def test_pettingzoo_api_test_aec(schedule: str) -> None:
    api_test(pettingzoo.make("aec", ENV_ID, schedule=schedule, max_steps=1500, **SMALL), num_cycles=1000)


def test_pettingzoo_parallel_api_test() -> None:
    parallel_api_test(pettingzoo.make("parallel", ENV_ID, max_steps=1500, **SMALL), num_cycles=1000)


def test_pettingzoo_seed_test_aec() -> None:
    seed_test(lambda: pettingzoo.make("aec", ENV_ID, schedule="alternating:k=2", **SMALL), 50)


def test_pettingzoo_parallel_seed_test() -> None:
    parallel_seed_test(lambda: pettingzoo.make("parallel", ENV_ID, **SMALL), 50)


@pytest.mark.parametrize("player, render_mode", [("generator", "rgb_array"), ("discriminator", None)])
def test_gymnasium_check_env_single_player(player: str, render_mode: str | None) -> None:
    env = gymnasium.make(ENV_ID, player=player, opponent="adam", max_steps=100, render_mode=render_mode, **SMALL)
    check_env(env)


@pytest.mark.parametrize("kind", ["aec", "parallel"])
def test_the_torch_view_through_to_numpy_passes_the_checkers_too(kind: str) -> None:
    """``to_numpy`` of the torch view is the same edge as the default (and wrapping twice changes nothing)."""
    env = minimax.to_numpy(pettingzoo.make(kind, ENV_ID, view="torch", max_steps=200, **SMALL))
    assert minimax.to_numpy(env) is env
    (api_test if kind == "aec" else parallel_api_test)(env, num_cycles=100)


def test_make_returns_the_numpy_view_and_the_torch_view_is_one_flag_away() -> None:
    import torch

    default = pettingzoo.make("aec", ENV_ID, **SMALL)
    default.reset(seed=0)
    observation, reward, *_ = default.last()
    assert isinstance(observation["gradient"], np.ndarray) and isinstance(reward, float)
    raw = pettingzoo.make("aec", ENV_ID, view="torch", **SMALL)
    raw.reset(seed=0)
    observation, reward, *_ = raw.last()
    assert isinstance(observation["gradient"], torch.Tensor) and isinstance(reward, torch.Tensor)
    assert default.unwrapped.game.task.describe() == raw.game.task.describe()  # the same env underneath
    single = gymnasium.make(ENV_ID, **SMALL)
    assert isinstance(single.reset(seed=0)[0]["loss"], np.ndarray)
    assert isinstance(gymnasium.make(ENV_ID, view="torch", **SMALL).reset(seed=0)[0]["loss"], torch.Tensor)
    with pytest.raises(ValueError, match="view must be 'numpy'"):
        pettingzoo.make("parallel", ENV_ID, view="jax")


def test_train_plays_either_view_the_same() -> None:
    import agents

    finals = []
    for view in ("numpy", "torch"):
        env = pettingzoo.make("aec", ENV_ID, view=view, **SMALL)
        minimax.train(env, {p: agents.make("adam", lr=1e-3) for p in minimax.PLAYERS}, 5, seed=0, progress=False)
        finals.append(env.unwrapped.game.parameters("generator").clone())
    assert (finals[0] == finals[1]).all()


def test_registries_know_every_id() -> None:
    assert ENV_ID in pettingzoo.aec_registry
    assert ENV_ID in pettingzoo.parallel_registry
    assert ENV_ID in gymnasium.registry


def test_numpy_edge_returns_fresh_float32_copies() -> None:
    """Observations through the edge never alias the live parameter buffer."""
    env = minimax.to_numpy(pettingzoo.make("aec", ENV_ID, view="torch", **SMALL))
    env.reset(seed=1)
    agent = env.agent_selection
    obs = env.observe(agent)
    assert all(v.dtype == np.float32 for v in obs.values())
    before = obs["parameters"].copy()
    env.step(np.ones_like(obs["parameters"]))
    np.testing.assert_array_equal(obs["parameters"], before)
    assert np.allclose(env.unwrapped.game.parameters(agent).numpy(), before + 1)
