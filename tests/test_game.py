"""The differentiable game: losses against hand-computed values, gradients, flat buffers, rewards."""

from __future__ import annotations

import math

import pytest
import torch

import minimax
from minimax.core.game import Game
from minimax.core.losses import Outcome, gan_value, make_loss
from minimax.tasks import Normal1D


def outcome(real_logits: list[float], fake_logits: list[float]) -> Outcome:
    r, f = torch.tensor(real_logits), torch.tensor(fake_logits)
    return Outcome(real=r, fake=f, real_logits=r, fake_logits=f, critic=lambda x: x)


def test_minimax_losses_match_hand_computation() -> None:
    # D(x) = sigmoid(0) = 1/2 everywhere: V = log 1/2 + log 1/2 = -log 4 (Goodfellow's equilibrium value).
    o = outcome([0.0, 0.0], [0.0, 0.0])
    loss = make_loss("minimax")
    assert loss.discriminator_loss(o).item() == pytest.approx(math.log(4))
    assert loss.generator_loss(o).item() == pytest.approx(-math.log(4))
    # Hand computation: D(real) = sigmoid(2), D(fake) = sigmoid(-1).
    o = outcome([2.0], [-1.0])
    s = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    v = math.log(s(2.0)) + math.log(1 - s(-1.0))
    assert gan_value(o.real_logits, o.fake_logits).item() == pytest.approx(v, rel=1e-6)
    assert loss.discriminator_loss(o).item() == pytest.approx(-v, rel=1e-6)
    assert loss.generator_loss(o).item() == pytest.approx(v, rel=1e-6)
    assert loss.zero_sum


def test_non_saturating_generator_loss() -> None:
    o = outcome([0.5], [-3.0])
    s = 1 / (1 + math.exp(3.0))
    ns = make_loss("non-saturating")
    assert ns.generator_loss(o).item() == pytest.approx(-math.log(s), rel=1e-6)
    assert not ns.zero_sum


def test_losses_stay_finite_when_the_discriminator_saturates() -> None:
    o = outcome([200.0], [-200.0])
    assert math.isfinite(make_loss("minimax").generator_loss(o).item())
    assert make_loss("non-saturating").generator_loss(o).item() == pytest.approx(200.0)


@pytest.mark.parametrize("execution", ["modules", "batched"])
def test_gradients_equal_autograd_through_the_modules(execution: str) -> None:
    """The flat gradient equals torch autograd through the plain nn.Modules on the same minibatch."""
    game = Game(Normal1D(hidden=6, batch_size=64), loss="minimax", execution=execution)
    game.reset([3])
    batch = game.sample()
    evaluation = game.evaluate(batch)
    d, g = game.module("discriminator"), game.module("generator")  # copies of game 0's networks
    fake = g(batch.noise[0])
    v = gan_value(d(batch.real[0]), d(fake))
    grads_d = torch.autograd.grad(-v, list(d.parameters()), retain_graph=True)
    grads_g = torch.autograd.grad(v, list(g.parameters()))
    torch.testing.assert_close(evaluation.gradients["discriminator"][0], torch.cat([x.reshape(-1) for x in grads_d]))
    torch.testing.assert_close(evaluation.gradients["generator"][0], torch.cat([x.reshape(-1) for x in grads_g]))
    torch.testing.assert_close(evaluation.losses["discriminator"][0], -v.detach())
    torch.testing.assert_close(evaluation.grad_norms["generator"][0], torch.cat([x.reshape(-1) for x in grads_g]).norm())


def test_module_parameters_are_views_of_the_flat_buffer() -> None:
    game = Game(Normal1D(hidden=4))
    flat = game.parameters("generator")
    assert flat.shape == (1, game.size("generator"))
    first = next(game.networks["generator"].template.module.parameters())  # one game: the module runs it
    assert first.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    flat.add_(1.0)
    assert torch.equal(first.reshape(-1), flat[0, : first.numel()])


def test_rewards_are_minus_the_loss_and_minimax_is_zero_sum(make_aec) -> None:
    env = make_aec(loss="minimax")
    env.reset(seed=0)
    d_obs = env.observe("discriminator")
    env.step(torch.zeros_like(d_obs["parameters"]))
    info = env.infos["discriminator"]
    assert env.rewards["discriminator"].item() == pytest.approx(info["value"].item())  # reward_D = V
    assert env.rewards["generator"].item() == 0.0
    g_obs = env.observe("generator")
    env.step(torch.zeros_like(g_obs["parameters"]))
    info = env.infos["generator"]
    assert env.rewards["generator"].item() == pytest.approx(-info["value"].item())  # reward_G = -V
    assert info["zero_sum"] is True


def test_rewards_at_equilibrium_value() -> None:
    """A discriminator with all-zero weights outputs D = 1/2: V = -log 4 exactly."""
    env = minimax.make_aec(Normal1D, view="torch", hidden=4)
    env.reset(seed=0)
    env.game.parameters("discriminator").zero_()
    obs = env.observe("discriminator")
    assert obs["loss"].item() == pytest.approx(math.log(4), rel=1e-6)
    env.step(torch.zeros_like(obs["parameters"]))
    assert env.infos["discriminator"]["d_real"].item() == pytest.approx(0.5)
    assert env.infos["discriminator"]["d_fake"].item() == pytest.approx(0.5)


def test_r1_penalty_matches_hand_computation() -> None:
    """For a linear critic logit(x) = 3x + 1 the input gradient is 3 everywhere: R1 = (gamma/2) * 9."""
    from minimax.core.losses import gradient_penalty

    x = torch.randn(16, 1)
    critic = lambda t: 3.0 * t.squeeze(-1) + 1.0  # noqa: E731
    assert gradient_penalty(critic, x).item() == pytest.approx(9.0)
    o = Outcome(real=x, fake=x + 1, real_logits=critic(x), fake_logits=critic(x + 1), critic=critic)
    plain, penalised = make_loss("non-saturating"), make_loss("non-saturating:r1=2")
    assert penalised.discriminator_loss(o).item() == pytest.approx(plain.discriminator_loss(o).item() + 9.0)
    assert penalised.generator_loss(o).item() == pytest.approx(plain.generator_loss(o).item())
    assert not penalised.zero_sum and penalised.name == "non-saturating:r1=2"


def test_r1_gradient_flows_into_discriminator_parameters() -> None:
    penalised, plain = (Game(Normal1D(hidden=4, batch_size=32), loss=loss) for loss in ("minimax:r1=10", "minimax"))
    penalised.reset([0])
    plain.reset([0])
    batch = penalised.sample()
    with_penalty = penalised.evaluate(batch, ("discriminator",)).gradients["discriminator"]
    without = plain.evaluate(batch, ("discriminator",)).gradients["discriminator"]
    assert not torch.allclose(with_penalty, without)


@pytest.mark.parametrize("spec, message", [("minimax:r3=1", "unknown loss option 'r3'"), ("minimax:r1", "must look like r1=<weight>"),
                                           ("minimax:r1=-1", "r1 must be >= 0.0, got '-1'")])
def test_bad_loss_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_loss(spec)


def test_networks_are_drawn_as_torch_manual_seed_draws_them_on_the_cpu() -> None:
    """build_players seeds the CPU generator alone (no lazy accelerator seeding per game): the same weights, bitwise."""
    from minimax.core.game import build_players
    from minimax.tasks import Ring8

    task = Ring8()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2**40 + 7)
        expected = [task.build_discriminator(), task.build_generator()]
    built = build_players(task, 2**40 + 7)
    for want, got in zip(expected, (built["discriminator"], built["generator"])):
        assert all(torch.equal(a, b) for a, b in zip(want.state_dict().values(), got.state_dict().values()))
