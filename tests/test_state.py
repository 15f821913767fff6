"""Envs own their state: ``state_dict()`` / ``load_state_dict()`` round-trip every env kind, bitwise.

Each kind is played, its state saved, played on (the reference), then put back — into itself and
into a fresh env made the same way — and played on again: the continuations must be identical.
A second test fails when a class gains an attribute that is neither declared configuration nor
state (so a checkpoint cannot silently miss new state), and when a declared piece of state is not
in ``state_dict``.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from minimax.core.match import Match
from minimax.core.players import PLAYERS

SMALL = {"hidden": 6, "batch_size": 16}


def aec(schedule="alternating:k=2,split=true", loss="ns:r1=1,noise=0.1"):
    return pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", schedule=schedule, loss=loss, train_size=64, **SMALL)


def parallel():
    return pettingzoo.make("parallel", "minimax/Normal1D-v0", view="torch", loss="wasserstein:gp=1", **SMALL)


def vector():
    return minimax.make_vector("minimax/Normal1D-v0", 3, schedule=["alternating:k=1", "alternating:k=2", "simultaneous"],
                               loss=["ns:noise=0.1", "minimax:r1=1", "hinge"], train_size=64, **SMALL)  # fmt: skip


def payoff_vector():
    return minimax.make_vector("minimax/Bilinear-v0", 2, gradient_noise=0.1, schedule="simultaneous")


def single():
    return gymnasium.make("minimax/Normal1D-v0", view="torch", player="generator", opponent="adam", loss="ns:noise=0.1", **SMALL)


def play_aec(env, rules, steps):
    out = []
    for _ in range(steps):
        player = env.agent_selection
        observation = env.observe(player)
        env.step(rules[player].act(observation))
        out.append(float(env.rewards[player]))
    return out


def play_parallel(env, rules, steps):
    out = []
    for _ in range(steps):
        observations = env.observations()
        _, rewards, *_ = env.step({p: rules[p].act(observations[p]) for p in PLAYERS})
        out += [float(rewards[p]) for p in PLAYERS]
    return out


def play_vector(env, rules, steps):
    out = []
    for _ in range(steps):
        tick = env.match.current
        actions = {p: rules[p].act(env.observation(p)) for p in tick.movers}
        _, rewards, *_ = env.step(actions)
        out.append(torch.cat([rewards[p] for p in PLAYERS]).tolist())
    return out


def play_single(env, rule, steps):
    out = []
    observation = unwrapped(env).game_env.observe("generator")
    for _ in range(steps):
        observation, reward, *_ = env.step(rule.act(observation))
        out.append(float(reward))
    return out


def unwrapped(env):
    return getattr(env, "unwrapped", env)


def snapshot(env) -> list[torch.Tensor]:
    base = unwrapped(env)
    game = base.game_env.game if hasattr(base, "game_env") else base.game
    return [game.parameters(p).clone() for p in PLAYERS]


KINDS = {
    "aec split, R1 + noise": (aec, play_aec, "players"),
    "aec simultaneous, mid-cycle": (lambda: aec("simultaneous", "minimax:noise=0.2"), play_aec, "players"),
    "parallel, WGAN-GP": (parallel, play_parallel, "players"),
    "vector, mixed schedules and losses": (vector, play_vector, "players"),
    "vector of payoff games": (payoff_vector, play_vector, "players"),
    "single-player": (single, play_single, "one"),
}


def rules_for(kind: str):
    return {p: agents.make("adam", lr=1e-2) for p in PLAYERS} if kind == "players" else agents.make("sgd", lr=0.05)


def rule_state(rules) -> dict:
    return {p: r.state for p, r in rules.items()} if isinstance(rules, dict) else {"one": rules.state}


def put_back(rules, saved: dict, env) -> None:
    base = unwrapped(env)
    view = getattr(base, "game_env", base)
    lone = view.kind != "vector"
    for key, rule in (rules.items() if isinstance(rules, dict) else [("one", rules)]):
        params = view.game.parameters("generator" if key == "one" else key)
        rule.set_state(saved[key], params[0] if lone else params)


@pytest.mark.parametrize("name", list(KINDS))
def test_state_dict_round_trips_bitwise(name: str) -> None:
    make, play, rule_kind = KINDS[name]
    env, rules = make(), rules_for(rule_kind)
    env.reset(seed=[3, 4, 5][: env.num_envs] if hasattr(env, "num_envs") else 3)
    play(env, rules, 7)  # mid-iteration: a split turn or a pending simultaneous move is in flight
    state = unwrapped(env).state_dict()
    saved_rules = {k: torch.utils._pytree.tree_map(lambda t: t.clone() if torch.is_tensor(t) else t, v)
                   for k, v in rule_state(rules).items()}  # fmt: skip
    reference = play(env, rules, 9), snapshot(env)

    unwrapped(env).load_state_dict(state)
    put_back(rules, saved_rules, env)
    again = play(env, rules, 9), snapshot(env)

    fresh, fresh_rules = make(), rules_for(rule_kind)
    fresh.reset(seed=[9, 9, 9][: fresh.num_envs] if hasattr(fresh, "num_envs") else 9)  # another game entirely
    unwrapped(fresh).load_state_dict(state)
    put_back(fresh_rules, saved_rules, fresh)
    elsewhere = play(fresh, fresh_rules, 9), snapshot(fresh)
    for other in (again, elsewhere):
        assert other[0] == reference[0]
        assert all(torch.equal(a, b) for a, b in zip(other[1], reference[1]))


def _objects(env):
    base = getattr(env, "unwrapped", env)
    game_env = getattr(base, "game_env", None)
    view = game_env if game_env is not None else base
    return [o for o in (base, game_env, view.match, view.match.game) if o is not None]


@pytest.mark.parametrize("name", list(KINDS))
def test_every_attribute_is_declared_configuration_or_state(name: str) -> None:
    make, play, rule_kind = KINDS[name]
    env = make()
    env.reset(seed=[1, 2, 3][: env.num_envs] if hasattr(env, "num_envs") else 1)
    play(env, rules_for(rule_kind), 3)
    for obj in _objects(env):
        cls = type(obj)
        undeclared = set(vars(obj)) - set(cls.CONFIG) - set(cls.STATE)
        assert not undeclared, f"{cls.__name__} has attributes neither configuration nor state: {sorted(undeclared)}"
        assert not set(cls.CONFIG) & set(cls.STATE), f"{cls.__name__}: declared both ways"
        state = obj.state_dict()
        keys = set(state) - {"kind"}
        declared = set(cls.STATE.values())
        assert keys == declared, f"{cls.__name__}: state_dict has {sorted(keys)}, the declared state {sorted(declared)}"


def test_a_new_attribute_is_caught() -> None:
    """The control: an attribute nobody declared fails the check above."""
    env = aec()
    env.reset(seed=0)
    env.match.surprise = 1
    with pytest.raises(AssertionError, match="surprise"):
        undeclared = set(vars(env.match)) - set(Match.CONFIG) - set(Match.STATE)
        assert not undeclared, f"undeclared: {sorted(undeclared)}"


def test_load_state_dict_refuses_a_state_that_does_not_fit_and_changes_nothing() -> None:
    env = aec()
    env.reset(seed=0)
    play_aec(env, rules_for("players"), 3)
    before = snapshot(env)
    good = env.state_dict()
    other = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", schedule="alternating:k=2,split=true", loss="ns:r1=1,noise=0.1",
                            train_size=64, hidden=7, batch_size=16)  # fmt: skip
    other.reset(seed=0)
    play_aec(other, rules_for("players"), 3)
    with pytest.raises(ValueError, match="discriminator parameters: expected a torch.float32 tensor of shape"):
        env.load_state_dict(other.state_dict())
    bad = dict(good, kind="parallel")
    with pytest.raises(ValueError, match="saved from a 'parallel' env, this is a 'aec' env"):
        env.load_state_dict(bad)
    broken = {**good, "match": {**good["match"], "tick": 99}}
    with pytest.raises(ValueError, match="tick must be below"):
        env.load_state_dict(broken)
    task = good["match"]["game"]["tasks"][0]
    spoiled = {**good, "match": {**good["match"], "game": {**good["match"]["game"], "tasks": [{**task, "_cursor": 10**6}]}}}
    with pytest.raises(ValueError, match="_cursor must be an integer in"):
        env.load_state_dict(spoiled)
    assert all(torch.equal(a, b) for a, b in zip(snapshot(env), before))
    np.testing.assert_equal(env.state_dict()["match"]["moves"], good["match"]["moves"])
