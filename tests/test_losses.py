"""Loss families and options against hand-computed values: Wasserstein, hinge, LSGAN, WGAN-GP, instance noise."""

from __future__ import annotations

import math

import pytest
import torch

from minimax.core.game import Game
from minimax.core.losses import (
    Hinge,
    InstanceNoise,
    LeastSquares,
    LossFamily,
    Minimax,
    NonSaturating,
    Outcome,
    Regularized,
    Wasserstein,
    interpolated_gradient_penalty,
    make_loss,
)
from minimax.tasks import Normal1D

FAMILIES = ["minimax", "non-saturating", "wasserstein", "hinge", "least-squares"]


def outcome(real_logits: list[float], fake_logits: list[float], rng: torch.Generator | None = None) -> Outcome:
    """Samples that are their own logits: the critic is the identity."""
    r, f = torch.tensor(real_logits), torch.tensor(fake_logits)
    return Outcome(real=r, fake=f, real_logits=r, fake_logits=f, critic=lambda x: x, rng=rng)


def linear_outcome(real: torch.Tensor, fake: torch.Tensor, w: list[float], b: float, rng=None) -> Outcome:
    """c(x) = <w, x> + b per sample, for samples of shape (n, len(w))."""
    weight = torch.tensor(w, dtype=real.dtype)
    critic = lambda x: x.reshape(len(x), -1) @ weight + b  # noqa: E731
    return Outcome(real, fake, critic(real), critic(fake), critic, rng)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def copy_of(rng: torch.Generator) -> torch.Generator:
    twin = torch.Generator()
    twin.set_state(rng.get_state())
    return twin


# ---- the families on hand-computed values -----------------------------------------------------------


def test_wasserstein_matches_hand_computation() -> None:
    # mean c(x) = (1 + 3) / 2 = 2, mean c(G(z)) = (-2 + 0.5) / 2 = -0.75.
    o = outcome([1.0, 3.0], [-2.0, 0.5])
    loss = make_loss("wasserstein")
    assert isinstance(loss, Wasserstein) and loss.name == "wasserstein"
    assert loss.discriminator_real_loss(o).item() == pytest.approx(-2.0)
    assert loss.discriminator_fake_loss(o).item() == pytest.approx(-0.75)
    assert loss.discriminator_loss(o).item() == pytest.approx(-2.75)
    assert loss.generator_loss(o).item() == pytest.approx(2.75)  # = -L_D: zero-sum
    assert loss.zero_sum


def test_hinge_matches_hand_computation() -> None:
    # relu(1 - [0.5, 2, -1]) = [0.5, 0, 2]; relu(1 + [-2, 0, 1.5]) = [0, 1, 2.5].
    o = outcome([0.5, 2.0, -1.0], [-2.0, 0.0, 1.5])
    loss = make_loss("hinge")
    assert isinstance(loss, Hinge) and loss.name == "hinge"
    assert loss.discriminator_real_loss(o).item() == pytest.approx(2.5 / 3)
    assert loss.discriminator_fake_loss(o).item() == pytest.approx(3.5 / 3)
    assert loss.discriminator_loss(o).item() == pytest.approx(2.0)
    assert loss.generator_loss(o).item() == pytest.approx(0.5 / 3)  # -(-2 + 0 + 1.5) / 3
    assert not loss.zero_sum


def test_least_squares_matches_hand_computation() -> None:
    # (c(x) - 1)^2 = [1, 1, 0.25]; c(G(z))^2 = [1, 1, 0.25]; (c(G(z)) - 1)^2 = [0, 4, 0.25].
    o = outcome([0.0, 2.0, 1.5], [1.0, -1.0, 0.5])
    loss = make_loss("least-squares")
    assert isinstance(loss, LeastSquares) and loss.name == "least-squares"
    assert loss.discriminator_real_loss(o).item() == pytest.approx(0.5 * 2.25 / 3)
    assert loss.discriminator_fake_loss(o).item() == pytest.approx(0.5 * 2.25 / 3)
    assert loss.discriminator_loss(o).item() == pytest.approx(2.25 / 3)
    assert loss.generator_loss(o).item() == pytest.approx(0.5 * 4.25 / 3)
    assert not loss.zero_sum


def test_least_squares_uses_the_raw_output_not_the_sigmoid() -> None:
    """At c = 1 on real and c = 0 on generated data the discriminator's loss is exactly 0 (no sigmoid)."""
    o = outcome([1.0, 1.0], [0.0, 0.0])
    assert make_loss("ls").discriminator_loss(o).item() == 0.0
    assert make_loss("ls").generator_loss(o).item() == pytest.approx(0.5)


@pytest.mark.parametrize("spec", [*FAMILIES, "ns:r1=1,r2=2", "hinge:noise=0.3", "wgan:r2=1,noise=0.2"])
def test_split_terms_sum_to_the_joint_loss(spec: str) -> None:
    """Real term + generated term = joint loss, the split terms drawing noise in the joint loss's order."""
    real = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.1]])
    fake = torch.tensor([[1.1, 0.4], [-0.2, -2.0], [0.9, 0.0]])
    loss = make_loss(spec)
    joint = loss.discriminator_loss(linear_outcome(real, fake, [0.8, -1.5], 0.2, generator(5)))
    rng = generator(5)  # one stream across the two half-turns: real noise first, then fake
    split = (loss.discriminator_real_loss(linear_outcome(real, fake, [0.8, -1.5], 0.2, rng))
             + loss.discriminator_fake_loss(linear_outcome(real, fake, [0.8, -1.5], 0.2, rng)))  # fmt: skip
    assert split.item() == pytest.approx(joint.item(), rel=1e-6)
    assert joint.item() != 0.0


@pytest.mark.parametrize("spec, zero_sum", [("minimax", True), ("non-saturating", False), ("wasserstein", True),
                                            ("hinge", False), ("least-squares", False), ("wasserstein:gp=10", False),
                                            ("wasserstein:r1=0,gp=0", True), ("wasserstein:noise=0.1", True),
                                            ("minimax:noise=0.1", True), ("hinge:noise=0.1", False),
                                            ("minimax:r1=1,noise=0.1", False)])  # fmt: skip
def test_zero_sum_flags(spec: str, zero_sum: bool) -> None:
    assert make_loss(spec).zero_sum is zero_sum


@pytest.mark.parametrize("spec", [*FAMILIES, "minimax:noise=0.5", "wasserstein:gp=10", "wgan:gp=1,noise=0.5"])
def test_generator_loss_flows_only_through_the_fakes(spec: str) -> None:
    real = torch.tensor([[0.5, 1.0], [-1.0, 2.0]], requires_grad=True)
    fake = torch.tensor([[0.2, -0.3], [1.5, 0.7]], requires_grad=True)
    o = linear_outcome(real, fake, [1.0, -0.5], 0.1, generator(0))
    grad_real, grad_fake = torch.autograd.grad(make_loss(spec).generator_loss(o), [real, fake], allow_unused=True)
    assert grad_real is None or not grad_real.any()
    assert grad_fake is not None and grad_fake.abs().sum() > 0


def test_generator_loss_gradients_match_hand_computation() -> None:
    """dL_G/dc(G(z))_i: Wasserstein and hinge -1/n; least squares (c_i - 1)/n; minimax -sigmoid(c_i)/n."""
    values = [1.0, -1.0, 0.5]
    expected = {
        "wasserstein": [-1 / 3] * 3,
        "hinge": [-1 / 3] * 3,
        "least-squares": [0.0, -2 / 3, -0.5 / 3],
        "minimax": [-1 / (1 + math.exp(-c)) / 3 for c in values],
    }
    for spec, want in expected.items():
        fake_logits = torch.tensor(values, requires_grad=True)
        real_logits = torch.tensor([0.0, 2.0, -3.0], requires_grad=True)
        o = Outcome(real_logits, fake_logits, real_logits, fake_logits, critic=lambda x: x)
        (grad,) = torch.autograd.grad(make_loss(spec).generator_loss(o), fake_logits)
        assert grad.tolist() == pytest.approx(want, rel=1e-6), spec


# ---- WGAN-GP --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 2), (8, 1, 2), (8, 2, 1, 1)])
def test_gradient_penalty_on_a_linear_critic_is_exact(shape: tuple[int, ...]) -> None:
    """grad c = w everywhere: the penalty is lambda (|w| - 1)^2 = 10 * (5 - 1)^2 = 160, whatever eps."""
    gen = generator(0)
    real, fake = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen) + 3
    o = linear_outcome(real, fake, [3.0, 4.0], 0.5, generator(1))
    plain, penalised = make_loss("wasserstein"), make_loss("wasserstein:gp=10")
    assert penalised.discriminator_loss(o).item() == pytest.approx(plain.discriminator_loss(o).item() + 160.0, rel=1e-6)
    assert penalised.generator_loss(o).item() == plain.generator_loss(o).item()
    # |w| = 1: no penalty at all.
    o = linear_outcome(real, fake, [0.6, 0.8], 0.5, generator(1))
    assert penalised.discriminator_loss(o).item() == pytest.approx(plain.discriminator_loss(o).item(), abs=1e-5)


def test_gradient_penalty_is_differentiable_in_the_critic() -> None:
    """L_D = mean c(G(z)) - mean c(x) + 10 (|w| - 1)^2: dL/dw = mean G(z) - mean x + 20 (|w| - 1) w / |w|."""
    real_rows, fake_rows = [[0.5, -1.0], [1.5, 2.0]], [[0.0, 1.0], [-2.0, 3.0]]
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
        critic.bias.fill_(0.5)
    c = lambda x: critic(x).squeeze(-1)  # noqa: E731
    real, fake = torch.tensor(real_rows), torch.tensor(fake_rows)
    o = Outcome(real, fake, c(real), c(fake), c, generator(0))
    loss = make_loss("wgan:gp=10").discriminator_loss(o)
    grad_w, grad_b = torch.autograd.grad(loss, [critic.weight, critic.bias])
    mean = lambda rows, j: sum(r[j] for r in rows) / len(rows)  # noqa: E731
    want = [mean(fake_rows, j) - mean(real_rows, j) + 20 * (5 - 1) * w / 5 for j, w in enumerate((3.0, 4.0))]
    assert grad_w.squeeze(0).tolist() == pytest.approx(want, rel=1e-6)
    assert grad_b.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("shape", [(3, 2), (3, 1, 2)])
def test_gradient_penalty_on_a_quadratic_critic_matches_manual_computation(shape: tuple[int, ...]) -> None:
    """c(x) = sum_j a_j x_j^2, grad = 2 a_j x_j at x_hat = eps_i x_i + (1 - eps_i) G(z)_i, one eps per sample."""
    a = [0.5, 2.0]
    real_rows, fake_rows = [[1.0, -0.5], [0.2, 0.3], [-1.5, 1.0]], [[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]]
    real, fake = torch.tensor(real_rows).reshape(shape), torch.tensor(fake_rows).reshape(shape)
    critic = lambda x: (x.reshape(len(x), -1).pow(2) * torch.tensor(a)).sum(1)  # noqa: E731
    rng = generator(1234)
    eps = torch.rand(3, generator=copy_of(rng)).tolist()  # the documented draw: n numbers from outcome.rng
    terms = []
    for e, x, y in zip(eps, real_rows, fake_rows):
        x_hat = [e * xj + (1 - e) * yj for xj, yj in zip(x, y)]
        norm = math.sqrt(sum((2 * aj * hj) ** 2 for aj, hj in zip(a, x_hat)))
        terms.append((norm - 1) ** 2)
    assert interpolated_gradient_penalty(critic, real, fake, rng).item() == pytest.approx(sum(terms) / 3, rel=1e-6)
    after = copy_of(generator(1234))
    torch.rand(3, generator=after)
    assert torch.equal(rng.get_state(), after.get_state())  # exactly n numbers drawn
    # Through the family: L_D = base + gp * penalty, with the same draw.
    o = Outcome(real, fake, critic(real), critic(fake), critic, generator(1234))
    base = make_loss("least-squares").discriminator_loss(o).item()
    assert make_loss("ls:gp=2.5").discriminator_loss(o).item() == pytest.approx(base + 2.5 * sum(terms) / 3, rel=1e-6)


def test_gradient_penalty_without_rng_uses_a_generator_seeded_zero() -> None:
    critic = lambda x: x.pow(3).sum(1)  # noqa: E731
    real, fake = torch.tensor([[1.0, 0.5], [0.3, -0.2]]), torch.tensor([[-1.0, 2.0], [0.7, 0.1]])
    first = interpolated_gradient_penalty(critic, real, fake, None)
    assert torch.equal(first, interpolated_gradient_penalty(critic, real, fake, None))
    assert torch.equal(first, interpolated_gradient_penalty(critic, real, fake, generator(0)))
    assert not torch.equal(first, interpolated_gradient_penalty(critic, real, fake, generator(1)))


def test_gradient_penalty_needs_paired_batches_and_does_not_split() -> None:
    critic = lambda x: x.sum(1)  # noqa: E731
    real, fake = torch.zeros(4, 2), torch.zeros(3, 2)
    loss = make_loss("wasserstein:gp=10")
    with pytest.raises(ValueError, match=r"same shape, got real \(4, 2\) and generated \(3, 2\)"):
        loss.discriminator_loss(Outcome(real, fake, critic(real), critic(fake), critic))
    o = Outcome(real, real, critic(real), critic(real), critic)
    for term in (loss.discriminator_real_loss, loss.discriminator_fake_loss):
        with pytest.raises(NotImplementedError, match=r"'wasserstein:gp=10' does not split.*interpolates"):
            term(o)
    # r1/r2 alone still split: -mean c(x) + (1/2) ||(1, 1)||^2 = 0 + 1.
    assert make_loss("wasserstein:r1=1").discriminator_real_loss(o).item() == pytest.approx(1.0)


def test_gradient_penalty_in_a_game() -> None:
    game, plain = (Game(Normal1D(hidden=4, batch_size=32), loss=loss) for loss in ("wasserstein:gp=10", "wasserstein"))
    game.reset([0])
    plain.reset([0])
    batch = game.sample()
    with_penalty = game.evaluate(batch, ("discriminator",)).gradients["discriminator"]
    assert torch.isfinite(with_penalty).all()
    assert not torch.allclose(with_penalty, plain.evaluate(batch, ("discriminator",)).gradients["discriminator"])
    with pytest.raises(NotImplementedError, match="gradient penalty"):
        game.evaluate(game.sample(part="real"), ("discriminator",))


# ---- instance noise ---------------------------------------------------------------------------------------


def test_instance_noise_with_sigma_zero_is_the_base_exactly() -> None:
    gen = generator(3)
    real, fake = torch.randn(5, 2, generator=gen), torch.randn(5, 2, generator=gen)
    for spec in FAMILIES:
        base = make_loss(spec)
        noisy = InstanceNoise(base, 0.0)
        assert noisy.name == base.name and noisy.zero_sum == base.zero_sum
        rng = generator(9)
        o = linear_outcome(real, fake, [1.0, -2.0], 0.3, rng)
        for term in ("discriminator_loss", "discriminator_real_loss", "discriminator_fake_loss", "generator_loss"):
            assert torch.equal(getattr(noisy, term)(o), getattr(base, term)(o)), (spec, term)
        assert torch.equal(rng.get_state(), generator(9).get_state())  # nothing drawn


def test_instance_noise_matches_manual_computation_and_draw_order() -> None:
    """Hinge with sigma = 0.5 and c(x) = x_0 - 2 x_1 + 0.3, computed in plain Python from the documented draws.

    Each loss draws e (real batch's shape) then e' (generated batch's shape); the generator's
    loss, evaluated after the discriminator's, draws its own.
    """
    real_rows, fake_rows = [[0.5, -1.0], [1.0, 0.2]], [[-0.4, 0.1], [0.0, 0.6]]
    real, fake = torch.tensor(real_rows), torch.tensor(fake_rows)
    rng = generator(7)
    twin = copy_of(rng)
    draws = [torch.randn(2, 2, generator=twin).tolist() for _ in range(4)]  # e, e' (D) then e, e' (G)
    c = lambda row: row[0] - 2 * row[1] + 0.3  # noqa: E731
    noisy = lambda rows, e: [c([x + 0.5 * n for x, n in zip(row, noise)]) for row, noise in zip(rows, e)]  # noqa: E731
    relu = lambda t: max(t, 0.0)  # noqa: E731
    want_d = (sum(relu(1 - v) for v in noisy(real_rows, draws[0])) / 2
              + sum(relu(1 + v) for v in noisy(fake_rows, draws[1])) / 2)  # fmt: skip
    want_g = -sum(noisy(fake_rows, draws[3])) / 2
    loss = make_loss("hinge:noise=0.5")
    o = linear_outcome(real, fake, [1.0, -2.0], 0.3, rng)
    assert loss.discriminator_loss(o).item() == pytest.approx(want_d, rel=1e-6)
    assert loss.generator_loss(o).item() == pytest.approx(want_g, rel=1e-6)
    assert torch.equal(rng.get_state(), twin.get_state())  # exactly four batches of noise drawn


def test_instance_noise_is_differentiable_in_the_generator() -> None:
    """Hinge L_G = -mean <w, G(z)_i + sigma e'_i> - b: dL_G/dG(z)_i = -w / n, whatever the noise."""
    real = torch.randn(4, 2, generator=generator(0))
    fake = torch.randn(4, 2, generator=generator(1)).requires_grad_(True)
    o = linear_outcome(real, fake, [1.5, -0.5], 0.0, generator(2))
    (grad,) = torch.autograd.grad(make_loss("hinge:noise=2").generator_loss(o), fake)
    assert grad.reshape(-1).tolist() == pytest.approx([-1.5 / 4, 0.5 / 4] * 4)


def test_instance_noise_is_deterministic_given_the_rng_state() -> None:
    real, fake = torch.randn(6, 2, generator=generator(0)), torch.randn(6, 2, generator=generator(1))
    loss = make_loss("ls:noise=0.3")
    values = {}
    for seed in (11, 11, 12):
        o = linear_outcome(real, fake, [1.0, 0.5], -0.2, generator(seed))
        values.setdefault(seed, []).append((loss.discriminator_loss(o), loss.generator_loss(o)))
    (d1, g1), (d2, g2) = values[11]
    (d3, g3) = values[12][0]
    assert torch.equal(d1, d2) and torch.equal(g1, g2)
    assert not torch.equal(d1, d3) and not torch.equal(g1, g3)
    clean = linear_outcome(real, fake, [1.0, 0.5], -0.2)
    assert not torch.equal(d1, make_loss("ls").discriminator_loss(clean))
    # rng=None: a generator seeded 0 on each call.
    assert torch.equal(loss.discriminator_loss(clean), loss.discriminator_loss(clean))
    assert torch.equal(loss.discriminator_loss(clean),
                       loss.discriminator_loss(linear_outcome(real, fake, [1.0, 0.5], -0.2, generator(0))))
    # ... one generator for the whole loss: the penalty's eps continue the noise's stream.
    quadratic = lambda x: x.pow(2).sum(1)  # noqa: E731
    both = make_loss("wgan:gp=1,noise=0.1")
    without = Outcome(real, fake, quadratic(real), quadratic(fake), quadratic)
    seeded = Outcome(real, fake, quadratic(real), quadratic(fake), quadratic, generator(0))
    assert torch.equal(both.discriminator_loss(without), both.discriminator_loss(seeded))


def test_instance_noise_splits_only_when_its_base_does() -> None:
    class Joint(LossFamily):
        name = "joint"

        def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
            return (outcome.real_logits.mean() - outcome.fake_logits.mean()) ** 2

    o = outcome([1.0, 2.0], [0.0, 0.5], generator(0))
    noisy = InstanceNoise(Joint(), 0.1)
    assert noisy.name == "joint:noise=0.1"
    assert torch.isfinite(noisy.discriminator_loss(o))
    with pytest.raises(NotImplementedError, match="'joint' does not split"):
        noisy.discriminator_real_loss(o)
    with pytest.raises(NotImplementedError, match="'wasserstein:gp=1' does not split"):
        make_loss("wasserstein:gp=1,noise=0.1").discriminator_fake_loss(o)


def test_instance_noise_game_is_reproducible() -> None:
    def run() -> torch.Tensor:
        game = Game(Normal1D(hidden=4, batch_size=16), loss="non-saturating:noise=0.2")
        game.reset([1])
        evaluation = game.evaluate(game.sample())
        return torch.cat([evaluation.gradients["discriminator"], evaluation.gradients["generator"]], dim=-1)

    first = run()
    assert torch.isfinite(first).all()
    assert torch.equal(first, run())


# ---- make_loss ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, cls", [("wasserstein", Wasserstein), ("wgan", Wasserstein), ("W", Wasserstein),
                                       ("hinge", Hinge), ("least-squares", LeastSquares), ("lsgan", LeastSquares),
                                       ("ls", LeastSquares), ("gan", Minimax), ("ns", NonSaturating)])  # fmt: skip
def test_make_loss_names_and_aliases(spec: str, cls: type) -> None:
    loss = make_loss(spec)
    assert type(loss) is cls and loss.name == cls.name


@pytest.mark.parametrize("spec, name", [("wgan:gp=10", "wasserstein:gp=10"),
                                        ("non-saturating:r1=1", "non-saturating:r1=1"),
                                        (" NS : noise = 0.1 , r1 = 1 ", "non-saturating:r1=1,noise=0.1"),
                                        ("w:gp=10,r2=0.5,r1=2", "wasserstein:r1=2,r2=0.5,gp=10"),
                                        ("minimax:r1=0", "minimax"), ("hinge:noise=0", "hinge"),
                                        ("ls:gp=0.25,noise=1e-3", "least-squares:gp=0.25,noise=0.001")])  # fmt: skip
def test_make_loss_canonical_names(spec: str, name: str) -> None:
    loss = make_loss(spec)
    assert loss.name == name
    assert make_loss(loss.name).name == name


def test_make_loss_composition() -> None:
    loss = make_loss("wgan:gp=10,noise=0.1")
    assert isinstance(loss, InstanceNoise) and loss.sigma == 0.1
    assert isinstance(loss.base, Regularized) and loss.base.gp == 10.0 and isinstance(loss.base.base, Wasserstein)
    assert repr(loss) == "InstanceNoise(Regularized(Wasserstein(), r1=0, r2=0, gp=10), sigma=0.1)"
    assert make_loss(loss) is loss


@pytest.mark.parametrize("spec, error, message", [
    ("wgan-gp", ValueError, "unknown loss family 'wgan-gp'; expected one of: hinge, least-squares"),
    ("hinge:foo=1", ValueError, "unknown loss option 'foo'; expected one of: gp, noise, r1, r2"),
    ("wasserstein:gp", ValueError, "'gp' in 'wasserstein:gp' must look like gp=<weight>"),
    ("hinge:noise", ValueError, "must look like noise=<sigma>"),
    ("w:gp=-1", ValueError, r"gp must be >= 0.0, got '-1' \(a finite number >= 0 expected, in loss 'w:gp=-1'\)"),
    ("w:noise=-0.5", ValueError, "noise must be >= 0.0, got '-0.5'"),
    ("w:noise=inf", ValueError, "noise must be finite, got 'inf'"),
    ("w:r1=nan", ValueError, "r1 must be finite, got 'nan'"),
    ("w:gp=abc", ValueError, "gp must be a real number, got 'abc'"),
    ("w:gp=", ValueError, "gp must be a real number, got ''"),
    (3, TypeError, "loss must be a name"),
])  # fmt: skip
def test_make_loss_errors(spec, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make_loss(spec)


def test_option_classes_validate_their_arguments() -> None:
    with pytest.raises(ValueError, match="gp must be >= 0.0"):
        Regularized(Wasserstein(), gp=-1.0)
    with pytest.raises(ValueError, match="noise must be finite"):
        InstanceNoise(Hinge(), float("nan"))
