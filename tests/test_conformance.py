"""PettingZoo's and Gymnasium's own checkers on minimax/Normal1D-v0, through the numpy edge."""

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
    env = minimax.to_numpy(pettingzoo.make("aec", ENV_ID, schedule=schedule, max_steps=1500, **SMALL))
    api_test(env, num_cycles=1000)


def test_pettingzoo_parallel_api_test() -> None:
    env = minimax.to_numpy(pettingzoo.make("parallel", ENV_ID, max_steps=1500, **SMALL))
    parallel_api_test(env, num_cycles=1000)


def test_pettingzoo_seed_test_aec() -> None:
    seed_test(lambda: minimax.to_numpy(pettingzoo.make("aec", ENV_ID, schedule="alternating:k=2", **SMALL)), 50)


def test_pettingzoo_parallel_seed_test() -> None:
    parallel_seed_test(lambda: minimax.to_numpy(pettingzoo.make("parallel", ENV_ID, **SMALL)), 50)


@pytest.mark.parametrize("player", ["generator", "discriminator"])
def test_gymnasium_check_env_single_player(player: str) -> None:
    env = gymnasium.make(ENV_ID, player=player, opponent="adam", max_steps=100, **SMALL)
    check_env(minimax.to_numpy(env), skip_render_check=True)


def test_registries_know_every_id() -> None:
    assert ENV_ID in pettingzoo.aec_registry
    assert ENV_ID in pettingzoo.parallel_registry
    assert ENV_ID in gymnasium.registry


def test_numpy_edge_returns_fresh_float32_copies() -> None:
    """Observations through the edge never alias the live parameter buffer."""
    env = minimax.to_numpy(pettingzoo.make("aec", ENV_ID, **SMALL))
    env.reset(seed=1)
    agent = env.agent_selection
    obs = env.observe(agent)
    assert all(v.dtype == np.float32 for v in obs.values())
    before = obs["parameters"].copy()
    env.step(np.ones_like(obs["parameters"]))
    np.testing.assert_array_equal(obs["parameters"], before)
    assert np.allclose(env.unwrapped.game.parameters(agent).numpy(), before + 1)
