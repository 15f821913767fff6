"""Environment behaviour: schedules, determinism, simultaneous play, divergence, truncation, bad input."""

from __future__ import annotations

import gymnasium
import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from tests.conftest import ENV_ID, SMALL


def play(env, rules: dict, moves: int) -> list[str]:
    """Drive an AEC env with update rules; return who moved."""
    order = []
    for _ in range(moves):
        agent = env.agent_selection
        order.append(agent)
        env.step(rules[agent].act(env.observe(agent)))
    return order


def adam_pair() -> dict:
    return {p: agents.make("adam", lr=1e-3, betas=(0.5, 0.999)) for p in minimax.PLAYERS}


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("alternating", ["discriminator", "generator"] * 2),
        ("alternating:k=3", ["discriminator"] * 3 + ["generator"]),
        ("alternating:k=2,m=2,first=generator", ["generator"] * 2 + ["discriminator"] * 2),
        (minimax.Alternating(k=1, m=3), ["discriminator"] + ["generator"] * 3),
        ("simultaneous", ["discriminator", "generator"] * 2),
    ],
)
def test_schedule_decides_the_turn_order(make_aec, schedule, expected) -> None:
    env = make_aec(schedule=schedule)
    env.reset(seed=0)
    assert play(env, adam_pair(), len(expected)) == expected


def test_same_seed_is_bitwise_identical_and_other_seed_differs(make_aec) -> None:
    runs = []
    for seed in (7, 7, 8):
        env = make_aec(schedule="alternating:k=2")
        env.reset(seed=seed)
        play(env, adam_pair(), 300)
        runs.append(torch.cat([env.game.parameters(p)[0].clone() for p in minimax.PLAYERS]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_parallel_determinism_over_many_steps(make_parallel) -> None:
    """Stronger than PettingZoo's parallel_seed_test, which stops after one step."""
    finals = []
    for _ in range(2):
        env = make_parallel()
        obs, _ = env.reset(seed=11)
        rules = adam_pair()
        for _ in range(200):
            obs, rewards, *_ = env.step({p: rules[p].act(obs[p]) for p in env.agents})
        finals.append((obs["generator"]["parameters"].clone(), rewards["discriminator"].clone()))
    assert torch.equal(finals[0][0], finals[1][0]) and torch.equal(finals[0][1], finals[1][1])


def test_reset_without_seed_continues_the_seeded_stream(make_aec) -> None:
    a, b = make_aec(), make_aec()
    a.reset(seed=3)
    b.reset(seed=3)
    a.reset()
    b.reset()
    assert torch.equal(a.observe("discriminator")["gradient"], b.observe("discriminator")["gradient"])


def test_simultaneous_aec_equals_parallel_env(make_aec, make_parallel) -> None:
    """Both players moving on the same state: the AEC and Parallel envs give the same trajectory."""
    aec, par = make_aec(schedule="simultaneous"), make_parallel()
    aec.reset(seed=5)
    obs, _ = par.reset(seed=5)
    rules_a, rules_p = adam_pair(), adam_pair()
    for _ in range(50):
        play(aec, rules_a, 2)
        obs, *_ = par.step({p: rules_p[p].act(obs[p]) for p in par.agents})
    for p in minimax.PLAYERS:
        torch.testing.assert_close(aec.game.parameters(p), par.game.parameters(p), rtol=0, atol=0)


def test_observation_is_the_gradient_at_the_acting_state(make_aec) -> None:
    env = make_aec()
    env.reset(seed=0)
    obs = env.observe("discriminator")
    again = env.observe("discriminator")
    assert torch.equal(obs["gradient"], again["gradient"])  # observing twice draws no new minibatch
    assert obs["parameters"].data_ptr() == env.game.parameters("discriminator").data_ptr()
    assert obs["step"].item() == 0.0


def test_nan_action_terminates_with_reason_and_no_exception(make_aec) -> None:
    env = make_aec()
    env.reset(seed=0)
    size = env.game.size("discriminator")
    env.step(torch.full((size,), float("nan")))
    assert env.terminations == {"discriminator": True, "generator": True}
    reason = env.infos["discriminator"]["termination_reason"]
    assert "non-finite action (discriminator) at step 0" == reason
    # PettingZoo's protocol for the dead: each steps None, then the game is empty.
    while env.agents:
        env.step(None)
    with pytest.raises(RuntimeError, match="game is over .*non-finite action.*call reset"):
        env.step(torch.zeros(size))


def test_dead_agent_given_a_real_action_gets_a_clear_error(make_aec) -> None:
    env = make_aec()
    env.reset(seed=0)
    env.step(torch.full((env.game.size("discriminator"),), float("inf")))
    with pytest.raises(ValueError, match="only valid action is None"):
        env.step(torch.zeros(env.game.size("generator")))


def test_exploding_update_rule_is_reported_as_termination(make_parallel) -> None:
    env = make_parallel(nonfinite_check_every=5)
    obs, _ = env.reset(seed=0)
    rules = {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}
    for step in range(50):
        obs, rewards, terms, truncs, infos = env.step({p: rules[p].act(obs[p]) for p in env.agents})
        if any(terms.values()):
            break
    assert all(terms.values()) and env.agents == []
    reason = infos["generator"]["termination_reason"]
    assert reason.startswith("non-finite") and step % 5 == 4  # read on the host every 5 moves only
    first_bad = int(reason.rsplit(" ", 1)[1])
    assert first_bad <= step


def test_truncation_after_max_steps(make_aec, make_parallel) -> None:
    env = make_aec(max_steps=5)
    env.reset(seed=0)
    play(env, adam_pair(), 5)
    assert env.truncations == {"discriminator": True, "generator": True}
    assert not any(env.terminations.values())
    env = make_parallel(max_cycles=3)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        obs, _, terms, truncs, _ = env.step({p: torch.zeros_like(obs[p]["parameters"]) for p in env.agents})
    assert all(truncs.values()) and env.agents == []


def test_single_player_view_embeds_the_opponent() -> None:
    env = gymnasium.make(ENV_ID, view="torch", player="generator", opponent="adam", schedule="alternating:k=3", **SMALL)
    obs, info = env.reset(seed=0)
    assert obs["step"].item() == 3.0  # the discriminator made its three moves first
    obs, reward, terminated, truncated, info = env.step(-1e-3 * obs["gradient"])
    assert obs["step"].item() == 7.0 and not terminated and not truncated
    assert reward.item() == pytest.approx(-info["loss"].item())


# ---- bad input: each a clear error naming the bad value ------------------------------------------------


@pytest.mark.parametrize(
    "action, error, message",
    [
        (torch.zeros(3), ValueError, r"must have shape \(\d+,\), got \(3,\)"),
        (torch.zeros(2, 2), ValueError, r"got \(2, 2\)"),
        ("zeros", TypeError, "must be a torch.Tensor .* got str"),
    ],
)
def test_bad_action_shape_or_type(make_aec, action, error, message) -> None:
    env = make_aec()
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(action)


def test_bad_action_dtype(make_aec) -> None:
    env = make_aec()
    env.reset(seed=0)
    size = env.game.size("discriminator")
    with pytest.raises(TypeError, match="dtype torch.float32, got torch.float64"):
        env.step(torch.zeros(size, dtype=torch.float64))
    edge = minimax.to_numpy(make_aec())
    edge.reset(seed=0)
    with pytest.raises(TypeError, match="floating-point array, got dtype int64"):
        edge.step(np.zeros(size, dtype=np.int64))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"schedule": "round-robin"}, ValueError, "unknown schedule 'round-robin'; expected one of: alternating, simultaneous"),
        ({"schedule": "alternating:k=0"}, ValueError, r"k \(discriminator steps per iteration\) must be an integer >= 1, got 0"),
        ({"schedule": "alternating:k=2.5"}, TypeError, "must be an integer, got '2.5'"),
        ({"schedule": "alternating:first=critic"}, ValueError, "unknown first player 'critic'"),
        ({"loss": "hinged"}, ValueError, "unknown loss family 'hinged'"),
        ({"std": -1.0}, ValueError, "std must be > 0, got -1.0"),
        ({"batch_size": 1}, ValueError, "batch_size must be an integer >= 2, got 1"),
        ({"max_steps": 0}, ValueError, "max_steps must be an integer >= 1, got 0"),
        ({"colour": "red"}, TypeError, r"unknown option\(s\) \['colour'\]"),
        ({"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
    ],
)
def test_bad_env_options(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        pettingzoo.make("aec", ENV_ID, view="torch", **kwargs)


def test_bad_parallel_actions(make_parallel) -> None:
    env = make_parallel()
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match=r"one action for each of \['discriminator', 'generator'\], got \['generator'\]"):
        env.step({"generator": torch.zeros_like(obs["generator"]["parameters"])})


def test_unknown_agent_names() -> None:
    with pytest.raises(ValueError, match="unknown update rule 'adma'"):
        agents.make("adma")
    with pytest.raises(ValueError, match="unknown player 'critic'"):
        gymnasium.make(ENV_ID, view="torch", player="critic")
    env = pettingzoo.make("aec", ENV_ID, view="torch", **SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown agent 'critic'"):
        env.observe("critic")


def test_float64_games_run_in_float64(make_aec) -> None:
    env = make_aec(dtype="float64")
    env.reset(seed=0)
    obs = env.observe("discriminator")
    assert obs["gradient"].dtype == torch.float64
    env.step(agents.make("sgd", lr=0.1).act(obs))
    edge = minimax.to_numpy(make_aec(dtype="float64"))
    edge.reset(seed=0)
    assert edge.observe("discriminator")["gradient"].dtype == np.float32


def test_schedule_strings_are_forgiving_about_case_and_strict_about_options() -> None:
    assert minimax.make_schedule(" Alternating: K=2, First=Generator").cycle == ("generator", "discriminator", "discriminator")
    with pytest.raises(TypeError, match=r"'simultaneous' does not take option\(s\) \['k'\]; it takes none"):
        minimax.make_schedule("simultaneous:k=2")
    with pytest.raises(TypeError, match=r"does not take option\(s\) \['j'\]; it takes \['first', 'k', 'm', 'split'\]"):
        minimax.make_schedule("alternating:j=1")
