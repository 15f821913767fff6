"""Divergence: the first non-finite loss, action or parameter is named exactly, whatever the read interval.

Each move watches its loss and the finite witnesses (half the max-min spread, in float64) of its
action and of the resulting parameters;
the host reads one health number per game every ``nonfinite_check_every`` moves and decodes
the watched values only when it is non-finite. These tests script the non-finite event (an
action with a NaN at a chosen move) and check that every read interval, including ones longer
than the device-side fold (:data:`minimax.core.match._FOLD_AT` watched values), names the same
move, player and kind, that a game is frozen from its first bad move even before the host
reads it, and that a large but finite vector whose float32 sum would overflow is not taken
for a non-finite one (and the witness itself, on every kind of non-finite entry).
"""

from __future__ import annotations

import math

import pytest
import torch

import minimax
from minimax.core import match as match_module
from minimax.core.game import Game
from minimax.envs.vector import VectorGameEnv
from minimax.tasks import Normal1D


def small_1d() -> Normal1D:
    return Normal1D(hidden=8, batch_size=16, train_size=64)


def scripted_aec_run(bad_move: int, check_every: int, moves: int, value: float = math.nan) -> minimax.GameAECEnv:
    """An AEC env where every move is a small step, except move ``bad_move`` whose action holds ``value``."""
    env = minimax.GameAECEnv(Game(small_1d()), "alternating:k=1", max_steps=moves, nonfinite_check_every=check_every)
    env.reset(seed=0)
    for i, player in enumerate(env.agent_iter(max_iter=10 * moves)):
        observation, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        action = -1e-3 * observation["gradient"]
        if i == bad_move:
            action = action.clone()
            action[0] = value
        env.step(action)
    return env


@pytest.mark.parametrize("check_every", [1, 3, 7, 50, 1000])
def test_the_first_bad_action_is_named_the_same_whatever_the_read_interval(check_every: int) -> None:
    env = scripted_aec_run(bad_move=11, check_every=check_every, moves=120)
    # move 11 is the generator's sixth move (moves alternate D, G from 0); steps count the env's moves
    assert env.reason == "non-finite action (generator) at step 11"
    assert all(env.terminations.values()) or env.agents == []


def test_a_read_interval_longer_than_the_fold_decodes_on_the_device() -> None:
    moves = 3 * match_module._FOLD_AT  # three watched values per move: folds several times before the read
    env = scripted_aec_run(bad_move=moves - 6, check_every=10 * moves, moves=moves)
    assert env.reason == f"non-finite action (discriminator) at step {moves - 6}"


def test_an_infinite_action_makes_non_finite_parameters_only_after_it_was_named() -> None:
    env = scripted_aec_run(bad_move=4, check_every=1, moves=20, value=math.inf)
    assert env.reason == "non-finite action (discriminator) at step 4"


def test_a_large_finite_action_whose_float32_sum_overflows_is_not_non_finite() -> None:
    game = Game(small_1d())
    env = minimax.GameAECEnv(game, "alternating:k=1", nonfinite_check_every=1)
    env.reset(seed=0)
    size = game.size("discriminator")
    assert torch.full((size,), 3e37).sum().isinf()  # the float32 sum would overflow ...
    env.step(torch.full((size,), 3e37) - game.parameters("discriminator")[0])  # ... the entries are finite
    # the discriminator's parameters are all 3e37: finite, and named only if a later loss is not
    assert env.reason is None or "loss" in env.reason
    assert torch.isfinite(game.parameters("discriminator")).all()


def test_n_games_each_get_their_own_first_bad_move_and_stay_frozen_before_the_read() -> None:
    game = Game(small_1d(), 3)
    env = VectorGameEnv(game, "alternating:k=1", nonfinite_check_every=1000)
    observations, _ = env.reset(seed=[0, 1, 2])
    bad = {1: 4, 2: 9}  # game -> the env step (= its move) whose action is NaN
    after_bad: dict[int, dict[str, torch.Tensor]] = {}
    for step in range(16):
        player = minimax.PLAYERS[step % 2]
        action = -1e-3 * observations[player]["gradient"]
        for g, at in bad.items():
            if step == at:
                action[g, 0] = math.nan
        observations, *_ = env.step({player: action})
        for g, at in bad.items():
            if step == at:  # the bad move itself is applied; nothing after it is
                after_bad[g] = {p: game.params[p][g].clone() for p in minimax.PLAYERS}
    assert env.match.reasons == [None, None, None]  # not read yet ...
    env.match.read_divergence()  # ... one read names each game's first bad move
    assert env.match.reasons == [None, "non-finite action (discriminator) at step 4",
                                 "non-finite action (generator) at step 9"]  # fmt: skip
    for g, saved in after_bad.items():
        for p in minimax.PLAYERS:
            torch.testing.assert_close(game.params[p][g], saved[p], rtol=0, atol=0, equal_nan=True)
    assert all(torch.isfinite(game.params[p][0]).all() for p in minimax.PLAYERS)


def test_health_reads_once_per_interval_and_the_state_holds_the_decoded_event() -> None:
    env = scripted_aec_run(bad_move=6, check_every=1000, moves=9)
    state = env.state_dict()
    assert int(state["match"]["bad_code"][0]) != 0 and int(state["match"]["bad_move"][0]) == 6
    again = minimax.GameAECEnv(Game(small_1d()), "alternating:k=1", max_steps=9, nonfinite_check_every=1000)
    again.reset(seed=0)
    again.load_state_dict(state)
    assert again.reason == env.reason == "non-finite action (discriminator) at step 6"


@pytest.mark.parametrize("wide", [torch.float64, torch.float32])
def test_the_finite_witness_is_finite_exactly_when_every_entry_is(wide: torch.dtype) -> None:
    big = torch.finfo(torch.float32).max
    rows = torch.tensor([[1.0, -2.0, 3.0], [big, -big, big], [math.nan, 0.0, 1.0], [1.0, math.inf, 0.0],
                         [-math.inf, 0.0, 5.0], [math.inf, math.inf, math.inf], [-math.inf, -math.inf, 0.0]])
    witness = match_module.finite_witness(rows, wide)
    assert witness.dtype == wide and witness.shape == (7,)
    assert torch.isfinite(witness).tolist() == [True, True, False, False, False, False, False]
    assert witness[0].item() == 2.5  # half the spread: (3 - -2) / 2
    assert match_module.finite_witness(torch.empty(2, 0), wide).tolist() == [0.0, 0.0]  # no entries: finite
