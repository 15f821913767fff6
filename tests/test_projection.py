"""Weight clipping as an update-rule wrapper: exact clamping, untouched steps inside the box, acting, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import agents


def test_clamping_is_exact() -> None:
    """SGD with lr 1: params - grad, clamped to [-c, c]; c = 2^-7 and dyadic numbers, so every sum is exact."""
    c = 2.0**-7
    rule = agents.clipped(agents.make("sgd", lr=1.0), c)
    params = torch.tensor([c / 2, -c * 7 / 8, 0.0, 2 * c, -64 * c])
    grads = torch.tensor([-c, c / 2, -c / 4, 0.0, -c])
    delta, _ = rule.update(grads, rule.init(params), params)
    assert torch.equal(params + delta, torch.tensor([c, -c, c / 4, c, -c]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_clipped_parameters_land_inside_the_box(dtype: torch.dtype) -> None:
    """params + delta' lies in [-bound, bound] in the parameters' dtype, also where clamp - params rounds,
    and within rounding of the step of the clamped point."""
    gen = torch.Generator().manual_seed(0)
    bound = 0.01
    params = ((torch.rand(20000, generator=gen) * 2 - 1) * torch.tensor([0.01, 1.0]).repeat(10000)).to(dtype)
    grads = (torch.randn(20000, generator=gen) * 0.02).to(dtype)
    rule = agents.clipped(agents.make("sgd", lr=1.0), bound)
    delta, _ = rule.update(grads, rule.init(params), params)
    landed = params + delta
    assert landed.abs().max() <= torch.tensor(bound, dtype=dtype)
    clamped = torch.clamp(params - grads, -bound, bound)
    error = (landed.double() - clamped.double()).abs()
    assert (error <= torch.finfo(dtype).eps * (params.double().abs() + bound)).all()
    inside = (params - grads).abs() <= torch.tensor(bound, dtype=dtype)
    assert inside.any() and torch.equal(delta[inside], -grads[inside])  # the inner delta itself
    # The test discriminates: the plain formula clamp(p + d) - p overshoots somewhere.
    naive = params + (clamped - params)
    assert (naive.abs() > torch.tensor(bound, dtype=dtype)).any()


def test_a_step_inside_the_box_is_unchanged_bitwise() -> None:
    gen = torch.Generator().manual_seed(1)
    params = (torch.rand(2, 50, generator=gen) - 0.5) * 0.1
    plain, clipped = agents.make("adam", lr=1e-3), agents.clipped(agents.make("adam", lr=1e-3), 1.0)
    p_state, c_state = plain.init(params), clipped.init(params)
    for _ in range(3):
        grads = torch.randn(2, 50, generator=gen)
        p_delta, p_state = plain.update(grads, p_state, params)
        c_delta, c_state = clipped.update(grads, c_state, params)
        assert torch.equal(c_delta, p_delta)
        assert all(torch.equal(a, b) for a, b in zip(p_state, c_state) if isinstance(a, torch.Tensor))
        params = params + c_delta


def test_inner_state_is_the_inner_rules_even_when_clipping() -> None:
    params, grads = torch.tensor([0.125, -0.5]), torch.tensor([-4.0, 2.0])
    plain, clipped = agents.make("momentum", lr=0.5), agents.clipped(agents.make("momentum", lr=0.5), 0.25)
    p_state, c_state = plain.init(params), clipped.init(params)
    for _ in range(2):
        p_delta, p_state = plain.update(grads, p_state, params)
        delta, c_state = clipped.update(grads, c_state, params)
        assert torch.equal(params + delta, torch.tensor([0.25, -0.25]))
        assert not torch.equal(delta, p_delta)
        (c_trace, _), (p_trace, _) = c_state, p_state  # (TraceState, EmptyState) of the chain
        assert torch.equal(c_trace.momentum_buffer, p_trace.momentum_buffer) and c_trace.count == p_trace.count


def test_leading_batch_dims_and_per_parameter_bounds() -> None:
    params = torch.zeros(3, 2)
    grads = torch.tensor([[-1.0, 1.0], [0.05, -0.05], [-0.3, 0.3]])
    rule = agents.clipped(agents.make("sgd", lr=1.0), torch.tensor([0.125, 0.25]))
    delta, _ = rule.update(grads, rule.init(params), params)
    assert torch.equal(params + delta, torch.tensor([[0.125, -0.25], [-0.05, 0.05], [0.125, -0.25]]))


def test_nan_steps_propagate() -> None:
    rule = agents.clipped(agents.make("sgd", lr=1.0), 0.01)
    params = torch.zeros(2)
    delta, _ = rule.update(torch.tensor([math.nan, 0.0]), rule.init(params), params)
    assert math.isnan(delta[0].item()) and delta[1].item() == 0.0


def test_act_on_an_env_like_observation() -> None:
    rule = agents.clipped(agents.make("sgd", lr=1.0), 0.5)
    params = torch.tensor([0.0, 0.25, -0.25])
    obs = {"loss": torch.tensor(1.0), "gradient": torch.tensor([-1.0, -0.5, 0.125]), "parameters": params,
           "step": torch.tensor(0.0)}  # fmt: skip
    delta = rule.act(obs)
    assert isinstance(delta, torch.Tensor)
    assert torch.equal(params + delta, torch.tensor([0.5, 0.5, -0.375]))
    assert rule.state is not None
    rule.reset()
    assert rule.state is None
    numpy_obs = {k: v.numpy() for k, v in obs.items()}
    action = rule.act(numpy_obs)
    assert isinstance(action, np.ndarray) and action.dtype == np.float32
    np.testing.assert_array_equal(numpy_obs["parameters"] + action, np.array([0.5, 0.5, -0.375], dtype=np.float32))


def test_name_and_hyperparameters() -> None:
    rule = agents.clipped(agents.make("rmsprop", lr=5e-5), 0.01)  # WGAN's setting
    assert rule.name == "RMSprop+clipped"
    assert rule.hyperparameters["clip"] == 0.01 and rule.hyperparameters["lr"] == 5e-5
    assert "clip=0.01" in repr(rule)


@pytest.mark.parametrize("bound, error", [(0.0, ValueError), (-0.01, ValueError), (math.inf, ValueError),
                                          (math.nan, ValueError), (torch.tensor([0.1, 0.0]), ValueError),
                                          (True, TypeError), ("0.01", TypeError), (None, TypeError)])  # fmt: skip
def test_bad_bounds_are_refused(bound, error: type) -> None:
    with pytest.raises(error, match="clipped: bound must be"):
        agents.clipped(agents.make("sgd", lr=0.1), bound)


def test_update_needs_params() -> None:
    rule = agents.clipped(agents.make("sgd", lr=0.1), 0.01)
    with pytest.raises(ValueError, match="needs params"):
        rule.update(torch.zeros(2), rule.init(torch.zeros(2)), None)
