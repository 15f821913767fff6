"""Fused Adam (``agents.make("adam", fused=True)``): torch's fused kernel on the flat buffer.

The contract: without weight decay, ``params + change`` is bitwise ``torch.optim.Adam(fused=True)``'s
step; with weight decay (applied next to the kernel) and against the default rule (torch.optim's
single-tensor arithmetic) it agrees to float32 round-off: a few ulps per step, which over 200
steps stays below 1e-5 relative to the parameters' scale.
"""

from __future__ import annotations

import copy

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
