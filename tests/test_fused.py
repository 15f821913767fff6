"""Fused Adam (``agents.make("adam", fused=True)``): torch's fused kernel on the flat buffer.

The contract: without weight decay, ``params + change`` is bitwise ``torch.optim.Adam(fused=True)``'s
step; with weight decay (applied next to the kernel) and against the default rule (torch.optim's
single-tensor arithmetic) it agrees to float32 round-off: a few ulps per step, which over 200
steps stays below 1e-5 relative to the parameters' scale.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import agents
import minimax
from minimax.core.game import Game
from minimax.envs.vector import VectorGameEnv
from minimax.tasks import Normal1D


def gradients(steps: int, size: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(size, generator=g) for _ in range(steps)]


def run_rule(rule, start: torch.Tensor, grads: list[torch.Tensor], in_place: bool) -> torch.Tensor:
    params = start.clone()
    for g in grads:
        params += rule.step(g.clone(), params, in_place=in_place)
    return params


def run_torch(start: torch.Tensor, grads: list[torch.Tensor], **options) -> torch.Tensor:
    p = start.clone().requires_grad_()
    optimizer = torch.optim.Adam([p], **options)
    for g in grads:
        p.grad = g.clone()
        optimizer.step()
    return p.detach()


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("options", [dict(lr=1e-3, betas=(0.5, 0.999)), dict(lr=2e-4, betas=(0.9, 0.99), eps=1e-6),
                                     dict(lr=1e-3, amsgrad=True)])  # fmt: skip
def test_fused_adam_is_bitwise_torchs_fused_adam(options, in_place) -> None:
    start, grads = torch.randn(5000, generator=torch.Generator().manual_seed(1)), gradients(200, 5000)
    ours = run_rule(agents.make("adam", fused=True, **options), start, grads, in_place)
    assert torch.equal(ours, run_torch(start, grads, fused=True, **options))


@pytest.mark.parametrize("options", [dict(lr=1e-3, betas=(0.5, 0.999)), dict(lr=1e-3, betas=(-0.5, 0.999)),
                                     dict(lr=1e-3, weight_decay=0.1), dict(lr=1e-3, weight_decay=0.1, decoupled_weight_decay=True),
                                     dict(lr=1e-3, amsgrad=True)])  # fmt: skip
def test_fused_adam_agrees_with_the_default_rule_to_round_off(options) -> None:
    start, grads = torch.randn(5000, generator=torch.Generator().manual_seed(2)), gradients(200, 5000, seed=3)
    fused = run_rule(agents.make("adam", fused=True, **options), start, grads, True)
    default = run_rule(agents.make("adam", **options), start, grads, True)
    moved = (default - start).abs().max()
    torch.testing.assert_close(fused, default, rtol=0, atol=1e-5 * float(moved))


def test_fused_adamw_matches_torchs_adamw_to_round_off() -> None:
    start, grads = torch.randn(3000, generator=torch.Generator().manual_seed(4)), gradients(100, 3000, seed=5)
    ours = run_rule(agents.make("adamw", lr=1e-3, weight_decay=0.05, fused=True), start, grads, True)
    p = start.clone().requires_grad_()
    optimizer = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.05, fused=True)
    for g in grads:
        p.grad = g.clone()
        optimizer.step()
    # one rounding more or less per step (p + (-step - lr wd p) against p (1 - lr wd) - step): 100 steps of
    # float32 ulps of parameters of order 1
    torch.testing.assert_close(ours, p.detach(), rtol=1e-5, atol=1e-5)


def test_fused_adam_on_n_rows_equals_each_row_alone() -> None:
    start = torch.randn(3, 400, generator=torch.Generator().manual_seed(6))
    grads = [g.view(3, 400) for g in gradients(50, 1200, seed=7)]
    together = run_rule(agents.make("adam", lr=1e-3, fused=True), start, grads, True)
    for i in range(3):
        alone = run_rule(agents.make("adam", lr=1e-3, fused=True), start[i], [g[i] for g in grads], True)
        assert torch.equal(together[i], alone)


def test_fused_adam_refuses_per_game_tensors_and_games_that_move_apart() -> None:
    with pytest.raises(TypeError, match="fused=True takes numbers.*lr"):
        agents.make("adam", lr=minimax.per_game([1e-3, 2e-3]), fused=True)
    env = VectorGameEnv(Game(Normal1D(hidden=4, batch_size=8), 2), ["alternating:k=1", "alternating:k=2"])
    with pytest.raises(ValueError, match="every game must move at every step.*fused=False"):
        minimax.train(env, agents.make("adam", lr=1e-3, fused=True), 3, seed=[0, 1], progress=False)


def test_a_game_with_fused_adam_trains_checkpoints_and_resumes_bitwise(tmp_path) -> None:
    def make():
        env = minimax.GameAECEnv(Game(Normal1D(hidden=8, batch_size=16)), "alternating:k=2")
        return env, {p: agents.make("adam", lr=1e-3, betas=(0.5, 0.999), fused=True) for p in minimax.PLAYERS}

    env, rules = make()
    reference = minimax.train(env, rules, 12, seed=3, progress=False)
    assert all(abs(x) < 10 for x in reference["generator_loss"][:, 0])

    class Stop(Exception):
        pass

    def stop(i, e, h):
        raise Stop

    first, first_rules = make()
    with pytest.raises(Stop):
        minimax.train(first, first_rules, 12, seed=3, progress=False, checkpoint_dir=tmp_path, checkpoint_every=5,
                      callbacks=[stop], callback_at=[7])  # fmt: skip
    again, again_rules = make()
    resumed = minimax.train(again, again_rules, 12, seed=3, progress=False, checkpoint_dir=tmp_path, resume=True)
    for p in minimax.PLAYERS:
        assert torch.equal(again.game.parameters(p), env.game.parameters(p))
    assert (resumed["generator_loss"] == reference["generator_loss"]).all()
    assert copy.deepcopy(rules["generator"]).hyperparameters["fused"] is True


@pytest.mark.parametrize("options", [dict(lr=1e-3), dict(lr=1e-3, weight_decay=0.1),
                                     dict(lr=1e-3, weight_decay=0.1, decoupled_weight_decay=True)])  # fmt: skip
def test_fused_adams_functional_update_leaves_its_inputs_alone(options) -> None:
    """update() is pure (the kernel reads the gradient where it lies, and only L2 decay works on a copy of it)."""
    rule = agents.make("adam", fused=True, **options)
    params, grad = torch.randn(300), torch.randn(300)
    rule.step(torch.randn(300), params, in_place=True)  # a state with moments that are not zero
    state = rule.state
    saved = [grad.clone(), params.clone(), *(t.clone() for t in state if t is not None)]
    first, _ = rule.update(grad, state, params)
    second, _ = rule.update(grad, state, params)
    assert torch.equal(first, second) and not torch.equal(first, torch.zeros_like(first))
    assert all(torch.equal(a, b) for a, b in zip(saved, [grad, params, *(t for t in state if t is not None)]))


@pytest.mark.parametrize("options", [dict(lr=1e-3, betas=(0.5, 0.999)), dict(lr=1e-3, weight_decay=0.1),
                                     dict(lr=1e-3, amsgrad=True), dict(lr=1e-3, betas=(-0.5, 0.999))])  # fmt: skip
def test_fused_adams_in_place_move_is_bitwise_its_step(options) -> None:
    start, grads = torch.randn(4000, generator=torch.Generator().manual_seed(8)), gradients(100, 4000, seed=9)
    rule = agents.make("adam", fused=True, **options)
    assert rule.moves_in_place
    moved = start.clone()
    for g in grads:
        rule.move_(g.clone(), moved)
    assert torch.equal(moved, run_rule(agents.make("adam", fused=True, **options), start, grads, True))
    if options.get("betas", (0.9,))[0] >= 0:
        assert torch.equal(moved, run_torch(start, grads, fused=True, **options))


def test_rules_without_an_in_place_kernel_refuse_to_move_in_place() -> None:
    for rule in (agents.make("adam", lr=1e-3), agents.make("adamw", lr=1e-3, weight_decay=0.1, fused=True),
                 agents.make("sgd", lr=1e-2)):  # fmt: skip
        assert not rule.moves_in_place
        with pytest.raises(TypeError, match="no in-place move"):
            rule.move_(torch.zeros(3), torch.zeros(3))


def _counted_in_place_moves(monkeypatch, enabled: bool) -> list[str]:
    """Count the moves train() makes in place; with ``enabled=False`` it makes none (the change is written)."""
    from minimax.core.match import Match
    from minimax.training import loop

    made, original = [], Match.move_in_place

    def counted(self, player, move):
        made.append(player)
        return original(self, player, move)

    monkeypatch.setattr(Match, "move_in_place", counted)
    if not enabled:
        monkeypatch.setattr(loop.Driver, "_in_place", lambda self, player: False)
    return made


@pytest.mark.parametrize("games", [1, 3])
@pytest.mark.parametrize("schedule", ["alternating:k=1,split=true", "alternating:k=2", "simultaneous"])
def test_train_makes_fused_moves_in_place_with_the_trajectory_of_written_changes(monkeypatch, games, schedule) -> None:
    def run(enabled: bool):
        with monkeypatch.context() as patch:
            made = _counted_in_place_moves(patch, enabled)
            task = Normal1D(hidden=8, batch_size=16)
            game = Game(task) if games == 1 else Game(task, games)
            env = minimax.GameAECEnv(game, schedule) if games == 1 else VectorGameEnv(game, schedule)
            rules = {p: agents.make("adam", lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3, fused=True)
                     for p in minimax.PLAYERS}  # fmt: skip
            history = minimax.train(env, rules if games == 1 else rules["generator"], 15, seed=list(range(games))
                                    if games > 1 else 4, progress=False)  # fmt: skip
            return env, history, made

    env, history, made = run(True)
    old_env, old_history, none = run(False)
    assert none == []
    # single-mover ticks move in place; a simultaneous tick's two movers wait for each other (written changes)
    assert len(made) == (0 if schedule == "simultaneous" else 15 * len(env.match.ticks))
    for p in minimax.PLAYERS:
        assert torch.equal(env.game.parameters(p), old_env.game.parameters(p))
    for name in ("generator_loss", "discriminator_loss", "generator_grad_norm", "value"):
        assert np.array_equal(history[name], old_history[name], equal_nan=True)


def test_a_move_in_place_that_goes_non_finite_is_named_and_refused_where_it_cannot_be_made() -> None:
    env = minimax.GameAECEnv(Game(Normal1D(hidden=4, batch_size=8)), "alternating:k=1")
    env.reset(seed=0)
    match = env.match
    assert match.can_move_in_place("discriminator") and not match.can_move_in_place("generator")
    with pytest.raises(ValueError, match="cannot move in place now.*only mover"):
        match.move_in_place("generator", lambda g, p: None)
    match.move_in_place("discriminator", lambda g, p: p.sub_(1e-3 * g))
    env._after_step()
    assert not env.over
    match.move_in_place("generator", lambda g, p: p.fill_(float("nan")))
    env._after_step()
    assert env.over and env.reason == "non-finite action (generator) at step 1"
