"""Property-based tests of the env API (hypothesis): random schedules, actions and seeds; and flat memory."""

from __future__ import annotations

import gc

import pettingzoo
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minimax

SMALL = {"hidden": 4, "batch_size": 8}
schedules = st.builds(
    lambda k, m, first, split: f"alternating:k={k},m={m},first={first},split={str(split).lower()}",
    st.integers(1, 3), st.integers(1, 2), st.sampled_from(minimax.PLAYERS), st.booleans(),
) | st.just("simultaneous")


def play(schedule: str, seed: int, scales: list[float]) -> tuple[list[str], torch.Tensor, list[float]]:
    """Play len(scales) moves with actions scale * ones; return who moved, the final state, the rewards."""
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", schedule=schedule, **SMALL)
    env.reset(seed=seed)
    movers, rewards = [], []
    for scale in scales:
        agent = env.agent_selection
        size = env.game.size(agent)
        before = env.game.parameters(agent).clone()
        obs = env.observe(agent)
        assert obs["gradient"].shape == (size,) and obs["loss"].shape == ()
        env.step(torch.full((size,), scale))
        movers.append(agent)
        rewards.append(float(env.rewards[agent]))
        if not env.schedule.simultaneous:  # applied at once, exactly
            assert torch.equal(env.game.parameters(agent), before + torch.full((size,), scale))
    state = torch.cat([env.game.parameters(p)[0] for p in minimax.PLAYERS]).clone()
    return movers, state, rewards


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules, seed=st.integers(0, 2**31 - 1),
       scales=st.lists(st.floats(-1e-2, 1e-2, allow_nan=False, allow_subnormal=False), min_size=1, max_size=12))
def test_any_schedule_moves_in_its_order_applies_actions_and_is_reproducible(schedule, seed, scales) -> None:
    movers, state, rewards = play(schedule, seed, scales)
    cycle = minimax.make_schedule(schedule).cycle
    assert movers == [cycle[i % len(cycle)] for i in range(len(scales))]
    again = play(schedule, seed, scales)
    assert again[0] == movers and torch.equal(again[1], state) and again[2] == rewards


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), bad=st.sampled_from([float("nan"), float("inf"), -float("inf")]))
def test_a_non_finite_action_always_ends_the_game_with_its_reason(seed, bad) -> None:
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", **SMALL)
    env.reset(seed=seed)
    agent = env.agent_selection
    env.step(torch.full((env.game.size(agent),), bad))
    assert all(env.terminations.values())
    assert env.infos[agent]["termination_reason"] == f"non-finite action ({agent}) at step 0"


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_memory_stays_flat_over_a_long_run() -> None:
    """5,000 moves after a warm-up add no more than 8 MB of resident memory (nothing accumulates per step)."""
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", schedule="alternating:k=2", **SMALL)
    env.reset(seed=0)
    rules = {p: __import__("agents").make("adam", lr=1e-3) for p in minimax.PLAYERS}

    def moves(n: int) -> None:
        for _ in range(n):
            agent = env.agent_selection
            env.step(rules[agent].act(env.observe(agent)))

    moves(500)
    gc.collect()
    start = resident_bytes()
    moves(5000)
    gc.collect()
    assert resident_bytes() - start < 8 * 2**20
