"""agents.from_torch: torch.optim optimizers as update rules, against torch.optim's own loop."""

from __future__ import annotations

import pickle

import pettingzoo
import pytest
import torch

import agents
import minimax

OPTIMIZERS = [(torch.optim.Adam, {"lr": 1e-2, "betas": (0.5, 0.999)}), (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
              (torch.optim.RMSprop, {"lr": 1e-2}), (torch.optim.Adagrad, {"lr": 0.1}), (torch.optim.AdamW, {"lr": 1e-2})]


def quadratic_grad(x: torch.Tensor) -> torch.Tensor:
    return 2 * (x - torch.arange(x.shape[-1], dtype=x.dtype)) * torch.linspace(0.5, 2, x.shape[-1], dtype=x.dtype)


@pytest.mark.parametrize("optimizer, options", OPTIMIZERS, ids=lambda o: getattr(o, "__name__", ""))
def test_the_rule_follows_torch_optims_own_iterates(optimizer, options) -> None:
    start = torch.linspace(-1, 1, 7, dtype=torch.float64)
    reference = start.clone().requires_grad_(True)
    torch_opt = optimizer([reference], **options)
    rule = agents.from_torch(optimizer, **options)
    params = start.clone()
    for _ in range(200):
        reference.grad = quadratic_grad(reference.detach())
        torch_opt.step()
        params = params + rule.step(quadratic_grad(params), params)
    # params + (new - params) is torch's iterate up to one rounding of the subtraction per step
    torch.testing.assert_close(params, reference.detach(), rtol=1e-12, atol=1e-12)
    assert int(rule.state.count) == 200


def test_it_plays_a_game_checkpoints_resumes_bitwise_and_pickles(tmp_path) -> None:
    def rules():
        return {p: agents.from_torch(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.999)) for p in minimax.PLAYERS}

    def env():
        return pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=64)

    straight = env()
    minimax.train(straight, rules(), 30, seed=0, progress=False)
    first = env()
    minimax.train(first, rules(), 20, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=10)
    resumed = env()
    minimax.train(resumed, rules(), 30, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=10, resume=True)
    for p in minimax.PLAYERS:
        assert torch.equal(resumed.game.parameters(p), straight.game.parameters(p)), p
    rule = pickle.loads(pickle.dumps(rules()["generator"]))
    assert rule.hyperparameters["optimizer"] == "torch.optim.adam.Adam" and rule.hyperparameters["lr"] == 1e-3


def test_bad_optimizers_and_options_are_named() -> None:
    with pytest.raises(TypeError, match="torch.optim.Optimizer subclass .* got 'adam'"):
        agents.from_torch("adam")
    with pytest.raises(ValueError, match="from_torch\\(Adam\\): Invalid learning rate: -1"):
        agents.from_torch(torch.optim.Adam, lr=-1)
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        agents.from_torch(torch.optim.LBFGS)


def test_copies_and_wrappers_of_a_torch_rule_keep_its_state_through_pickle_and_checkpoints() -> None:
    import copy

    params = torch.linspace(-1, 1, 5)
    for rule in (copy.deepcopy(agents.from_torch(torch.optim.Adam, lr=1e-2)),
                 agents.averaged(agents.from_torch(torch.optim.Adam, lr=1e-2), decay=0.9)):
        for _ in range(3):
            params = params + rule.step(quadratic_grad(params), params)
        twin = pickle.loads(pickle.dumps(rule))
        a = params + rule.step(quadratic_grad(params), params)
        b = params + twin.step(quadratic_grad(params), params)
        assert torch.equal(a, b)
    assert agents.averaged(agents.from_torch(torch.optim.Adam, lr=1e-2)).shared_count  # N games must move together
