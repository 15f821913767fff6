"""Loss families: what each player minimises, given the discriminator's logits.

The discriminator outputs a logit ``l``; ``D(x) = sigmoid(l)``. Losses use
``logsigmoid`` so that saturated discriminators give finite, exact values:
``log D = logsigmoid(l)`` and ``log(1 - D) = logsigmoid(-l)``, computed as
``-softplus(-l)`` (same value; torch 2.13's CPU ``logsigmoid`` kernel takes ~8 ms
even on 16 numbers, softplus ~9 us).

Goodfellow's value on a minibatch is
``V = mean_x log D(x) + mean_z log(1 - D(G(z)))``.

* ``Minimax`` (saturating): ``L_D = -V`` and ``L_G = V``: the game is zero-sum,
  the discriminator's reward is ``V`` and the generator's is ``-V``. (The real-data
  term of ``L_G`` does not depend on the generator, so its gradient is that of
  ``mean log(1 - D(G(z)))``, Algorithm 1's generator step.)
* ``NonSaturating``: ``L_D = -V``, ``L_G = -mean_z log D(G(z))`` (the paper's
  practical variant; not zero-sum).
* ``Wasserstein`` (WGAN): the logit is a critic value ``c``; ``L_D = mean c(G(z)) -
  mean c(x)``, ``L_G = -L_D`` (zero-sum).
* ``Hinge``: ``L_D = mean relu(1 - c(x)) + mean relu(1 + c(G(z)))``, ``L_G = -mean c(G(z))``.
* ``LeastSquares`` (LSGAN, targets 0 and 1 on the raw output).

Options compose on any family (``make_loss("wasserstein:gp=10")``):
:class:`Regularized` adds gradient penalties to the discriminator's loss (R1, R2,
WGAN-GP's ``gp``) and :class:`InstanceNoise` shows the discriminator noisy samples.

A family sees an :class:`Outcome`, which carries the samples and a handle on the
discriminator (``critic``) and the game's random stream (``rng``). The families' means run over
the last dimension: logits of shape ``(N, batch)`` (N games in lockstep) give one loss per game.

Random draws: a loss that draws (``gp`` interpolation weights, instance noise) takes
them from ``outcome.rng``; with ``rng=None`` (outside a game) each call uses a fresh
generator seeded 0, so a loss is still a deterministic function of its outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from minimax.utils.checks import check_choice, check_float


@dataclass(frozen=True)
class Outcome:
    """What one minibatch produced: samples and the discriminator's logits on them.

    ``critic(x)`` evaluates the discriminator's logits on any input, differentiably
    in its parameters (what gradient penalties need). ``rng`` is the game's own
    stream for losses that draw random numbers (interpolates, instance noise), so
    that a seed still fixes the whole trajectory; None outside a game.

    ``games``: None for one game (samples ``(batch, ...)``, logits ``(batch,)``, ``rng`` one
    generator); an int n for n games at once, every tensor with a leading game dimension
    (samples ``(n, batch, ...)``, logits ``(n, batch)``), ``critic`` taking and returning such
    tensors, ``rng`` a sequence of n generators (game i draws from its own), and each loss
    one value per game.
    """

    real: torch.Tensor
    fake: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    critic: Callable[[torch.Tensor], torch.Tensor]
    rng: torch.Generator | Sequence[torch.Generator] | None = None
    games: int | None = None


def draw(sampler: Callable[..., torch.Tensor], shape: tuple[int, ...], outcome: Outcome,
         like: torch.Tensor) -> tuple[torch.Tensor, torch.Generator | list[torch.Generator]]:  # fmt: skip
    """Random numbers of ``shape`` from the outcome's stream(s), and the stream(s) drawn from.

    One game: ``sampler(shape)`` from ``outcome.rng``. n games: each game draws ``shape[1:]``
    from its own generator, stacked. Without streams (``rng=None``) each game draws from a fresh
    generator seeded 0, so a loss stays a deterministic function of its outcome.
    """
    options = {"device": like.device, "dtype": like.dtype}
    if outcome.games is None:
        rng = _generator(outcome.rng, like)  # type: ignore[arg-type]
        return sampler(shape, generator=rng, **options), rng
    rngs = list(outcome.rng) if outcome.rng is not None else [_generator(None, like) for _ in range(outcome.games)]
    parts = [sampler(shape[1:], generator=g, **options) for g in rngs]
    return (parts[0].unsqueeze(0) if len(parts) == 1 else torch.stack(parts)), rngs


def log_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -F.softplus(-logits)


def gan_value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow's empirical value V = mean log D(x) + mean log(1 - D(G(z)))."""
    return log_sigmoid(real_logits).mean(-1) + log_sigmoid(-fake_logits).mean(-1)


class LossFamily:
    """Per-player losses of a GAN game. Subclasses define the two losses.

    A family whose discriminator loss is a sum of a real-data term and a
    generated-data term also defines the two terms, so that a schedule can update
    the discriminator on a real batch and a generated batch separately (the Keras
    code of the report does: two ``train_on_batch`` calls per step).
    """

    name: str = "abstract"
    zero_sum: bool = False

    def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
        return self.discriminator_real_loss(outcome) + self.discriminator_fake_loss(outcome)

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        """The real-data term of the discriminator's loss (needs only ``real`` and ``real_logits``)."""
        raise NotImplementedError(f"loss family {self.name!r} does not split into real and generated terms")

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        """The generated-data term of the discriminator's loss (needs only ``fake`` and ``fake_logits``)."""
        raise NotImplementedError(f"loss family {self.name!r} does not split into real and generated terms")

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Minimax(LossFamily):
    """Goodfellow's saturating game: L_D = -V, L_G = V (zero-sum)."""

    name = "minimax"
    zero_sum = True

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        return -log_sigmoid(outcome.real_logits).mean(-1)

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        return -log_sigmoid(-outcome.fake_logits).mean(-1)

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return gan_value(outcome.real_logits.detach(), outcome.fake_logits)


class NonSaturating(Minimax):
    """L_D = -V as in the minimax game; the generator maximises log D(G(z)) instead."""

    name = "non-saturating"
    zero_sum = False

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return -log_sigmoid(outcome.fake_logits).mean(-1)


class Wasserstein(LossFamily):
    """WGAN (Arjovsky, Chintala & Bottou 2017): the logit is an unbounded critic value c.

    ``L_D = mean_z c(G(z)) - mean_x c(x)`` (real term ``-mean c(x)``, generated term
    ``mean c(G(z))``) and ``L_G = mean_x c(x) - mean_z c(G(z)) = -L_D``: zero-sum like
    :class:`Minimax`. The real term of ``L_G`` is detached (it does not depend on the
    generator), so ``L_G``'s gradient is that of ``-mean c(G(z))``. The critic's
    Lipschitz constraint is not part of the loss: use weight clipping
    (``agents.clipped``) or the gradient penalty (``"wasserstein:gp=10"``, WGAN-GP).
    """

    name = "wasserstein"
    zero_sum = True

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        return -outcome.real_logits.mean(-1)

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        return outcome.fake_logits.mean(-1)

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return outcome.real_logits.detach().mean(-1) - outcome.fake_logits.mean(-1)


class Hinge(LossFamily):
    """Hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN).

    ``L_D = mean_x relu(1 - c(x)) + mean_z relu(1 + c(G(z)))`` and
    ``L_G = -mean_z c(G(z))`` on the raw output c (the logit). Not zero-sum.
    """

    name = "hinge"
    zero_sum = False

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        return F.relu(1.0 - outcome.real_logits).mean(-1)

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        return F.relu(1.0 + outcome.fake_logits).mean(-1)

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return -outcome.fake_logits.mean(-1)


class LeastSquares(LossFamily):
    """LSGAN (Mao et al. 2017) with targets a = 0 (generated), b = 1 (real), c = 1 (generator's).

    On the raw output c (the logit, no sigmoid):
    ``L_D = 1/2 mean_x (c(x) - 1)^2 + 1/2 mean_z c(G(z))^2`` and
    ``L_G = 1/2 mean_z (c(G(z)) - 1)^2``. Not zero-sum.
    """

    name = "least-squares"
    zero_sum = False

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        return 0.5 * (outcome.real_logits - 1.0).pow(2).mean(-1)

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        return 0.5 * outcome.fake_logits.pow(2).mean(-1)

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return 0.5 * (outcome.fake_logits - 1.0).pow(2).mean(-1)


def _generator(rng: torch.Generator | None, like: torch.Tensor) -> torch.Generator:
    """``rng``, or (outside a game) a fresh generator on ``like``'s device seeded 0."""
    return rng if rng is not None else torch.Generator(like.device).manual_seed(0)


def _with_options(name: str, options: list[str]) -> str:
    """``name`` with ``options`` appended: ``"ns:r1=1"`` from ``"ns"``, ``"ns:r1=1,noise=0.1"`` from ``"ns:r1=1"``."""
    if not options:
        return name
    return f"{name}{',' if ':' in name else ':'}{','.join(options)}"


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, games: int | None = None) -> torch.Tensor:
    """mean ||grad_x logit(x)||^2: the zero-centred penalty of Mescheder et al. 2018, differentiable in D.

    ``games``: None for one batch ``(batch, ...)``; n for ``(n, batch, ...)``, one value per game.
    """
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.pow(2).flatten(1 if games is None else 2).sum(-1).mean(-1)


def interpolated_gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    rng: torch.Generator | Sequence[torch.Generator] | None = None,
    games: int | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): mean (||grad_x c(x_hat)||_2 - 1)^2, differentiable in D.

    ``x_hat = eps * x + (1 - eps) * G(z)`` pairs the i-th real sample with the i-th
    generated one, ``eps ~ U(0, 1)`` one per pair, drawn as
    ``torch.rand((n, 1, ..., 1), generator=rng)`` (one draw of n numbers; ``rng=None``: a
    fresh generator seeded 0). The interpolates are detached from the generator. With
    ``games`` (n games, batches ``(n, batch, ...)``) each game draws its own from ``rng[i]``.
    """
    if real.shape != fake.shape:
        raise ValueError(
            "the gradient penalty (gp) pairs each real sample with a generated one: it needs real and generated "
            f"batches of the same shape, got real {tuple(real.shape)} and generated {tuple(fake.shape)}"
        )
    lead = 1 if games is None else 2
    outcome = Outcome(real, fake, real, fake, critic, rng, games)
    eps, _ = draw(torch.rand, real.shape[:lead] + (1,) * (real.dim() - lead), outcome, real)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (torch.linalg.vector_norm(grad.flatten(lead), dim=-1) - 1.0).pow(2).mean(-1)


class Regularized(LossFamily):
    """A loss family with gradient penalties on the discriminator's input gradient.

    * R1 and R2, zero-centred (Mescheder et al. 2018): ``L_D += (r1 / 2) mean_x
      ||grad_x c(x)||^2`` on real data and ``(r2 / 2)`` the same on generated data.
    * WGAN-GP, one-centred on interpolates (Gulrajani et al. 2017): ``L_D += gp * mean
      (||grad c(x_hat)||_2 - 1)^2``, see :func:`interpolated_gradient_penalty`; it
      draws from ``outcome.rng``, needs as many generated samples as real ones, and
      does not split into real and generated terms.

    The generator's loss is the base family's. With a penalty the game is no longer
    zero-sum.
    """

    zero_sum = False

    def __init__(self, base: LossFamily, r1: float = 0.0, r2: float = 0.0, gp: float = 0.0) -> None:
        self.base = base
        self.r1 = check_float("r1", r1, minimum=0.0)
        self.r2 = check_float("r2", r2, minimum=0.0)
        self.gp = check_float("gp", gp, minimum=0.0)
        terms = [f"{key}={value:g}" for key, value in (("r1", self.r1), ("r2", self.r2), ("gp", self.gp)) if value]
        self.name = _with_options(base.name, terms)
        self.zero_sum = base.zero_sum and not terms

    def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
        loss = self.base.discriminator_loss(outcome)
        if self.r1:
            loss = loss + 0.5 * self.r1 * gradient_penalty(outcome.critic, outcome.real, outcome.games)
        if self.r2:
            loss = loss + 0.5 * self.r2 * gradient_penalty(outcome.critic, outcome.fake, outcome.games)
        if self.gp:
            penalty = interpolated_gradient_penalty(outcome.critic, outcome.real, outcome.fake, outcome.rng, outcome.games)
            loss = loss + self.gp * penalty
        return loss

    def _refuse_split(self) -> None:
        if self.gp:
            raise NotImplementedError(
                f"loss family {self.name!r} does not split into real and generated terms: the gradient penalty "
                "(gp) is taken at interpolates between real and generated samples, so it needs both at once"
            )

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        self._refuse_split()
        loss = self.base.discriminator_real_loss(outcome)
        return loss + 0.5 * self.r1 * gradient_penalty(outcome.critic, outcome.real, outcome.games) if self.r1 else loss

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        self._refuse_split()
        loss = self.base.discriminator_fake_loss(outcome)
        return loss + 0.5 * self.r2 * gradient_penalty(outcome.critic, outcome.fake, outcome.games) if self.r2 else loss

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return self.base.generator_loss(outcome)

    def __repr__(self) -> str:
        return f"Regularized({self.base!r}, r1={self.r1:g}, r2={self.r2:g}, gp={self.gp:g})"


class InstanceNoise(LossFamily):
    """The base family with the discriminator seeing noisy samples (instance noise).

    Sonderby et al. 2016; Arjovsky & Bottou 2017: the discriminator sees
    ``x + sigma * e`` and ``G(z) + sigma * e'``, ``e, e' ~ N(0, I)``, which smooths both
    distributions so that their supports overlap. Each loss builds an :class:`Outcome`
    with the noisy samples and their logits recomputed through ``critic``
    (differentiable in D's parameters, and in G's through ``G(z)``) and hands it to the
    base family, which is unchanged otherwise (its penalties, if any, are taken at the
    noisy samples).

    Draws, from ``outcome.rng`` (``None``: a fresh generator seeded 0), each
    ``torch.randn`` of a batch's shape: every loss evaluation draws its own noise,
    ``e`` for the real batch first and then ``e'`` for the generated batch, and the base
    family's own draws (``gp``) come after. ``discriminator_loss`` and
    ``generator_loss`` therefore see independent noise (a game evaluates the
    discriminator's loss first); ``discriminator_real_loss`` draws only ``e`` and
    ``discriminator_fake_loss`` only ``e'``. It splits into real and generated terms
    when the base family does. ``sigma = 0`` is the base family exactly (nothing is
    drawn). The game stays zero-sum when the base's is, in expectation over the noise:
    the two players' minibatch losses see independent noise, so they are not exact
    negatives of each other.
    """

    def __init__(self, base: LossFamily, sigma: float) -> None:
        self.base = base
        self.sigma = check_float("noise", sigma, minimum=0.0)
        self.name = _with_options(base.name, [f"noise={self.sigma:g}"] if self.sigma else [])
        self.zero_sum = base.zero_sum

    def _noisy(self, outcome: Outcome, real: bool, fake: bool) -> Outcome:
        """``outcome`` with the requested batches (real first, then fake) made noisy and re-evaluated."""
        changes: dict = {}
        for part, wanted in (("real", real), ("fake", fake)):
            if wanted:
                x = getattr(outcome, part)
                e, rng = draw(torch.randn, tuple(x.shape), outcome, x)
                outcome = dataclasses.replace(outcome, rng=rng)  # later draws continue on the same stream(s)
                noisy = x + self.sigma * e
                changes[part], changes[f"{part}_logits"] = noisy, outcome.critic(noisy)
        return dataclasses.replace(outcome, **changes)

    def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
        if not self.sigma:
            return self.base.discriminator_loss(outcome)
        return self.base.discriminator_loss(self._noisy(outcome, real=True, fake=True))

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        if not self.sigma:
            return self.base.discriminator_real_loss(outcome)
        return self.base.discriminator_real_loss(self._noisy(outcome, real=True, fake=False))

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        if not self.sigma:
            return self.base.discriminator_fake_loss(outcome)
        return self.base.discriminator_fake_loss(self._noisy(outcome, real=False, fake=True))

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        if not self.sigma:
            return self.base.generator_loss(outcome)
        return self.base.generator_loss(self._noisy(outcome, real=True, fake=True))

    def __repr__(self) -> str:
        return f"InstanceNoise({self.base!r}, sigma={self.sigma:g})"


LOSS_FAMILIES: dict[str, type[LossFamily]] = {
    "minimax": Minimax,
    "non-saturating": NonSaturating,
    "wasserstein": Wasserstein,
    "hinge": Hinge,
    "least-squares": LeastSquares,
}
_PENALTIES = ("r1", "r2", "gp")  # Regularized's weights
_OPTIONS = (*_PENALTIES, "noise")
_ALIASES = {
    "saturating": "minimax",
    "gan": "minimax",
    "nonsaturating": "non-saturating",
    "ns": "non-saturating",
    "wgan": "wasserstein",
    "w": "wasserstein",
    "lsgan": "least-squares",
    "ls": "least-squares",
}


def make_loss(spec: str | LossFamily = "minimax") -> LossFamily:
    """A loss family by name, with options: ``"non-saturating:r1=1"``, ``"wasserstein:gp=10"``; or passed through.

    The spec is ``family[:option=value,...]`` (case-insensitive; family aliases as in
    ``_ALIASES``), each option a finite number >= 0:

    * ``r1``, ``r2``, ``gp``: gradient penalties on the discriminator (:class:`Regularized`);
    * ``noise``: the standard deviation of instance noise (:class:`InstanceNoise`), applied
      outside the penalties, which are then taken at the noisy samples the
      discriminator sees.

    The result's ``name`` is canonical: options in the order r1, r2, gp, noise, zero
    weights left out (``make_loss(loss.name)`` rebuilds ``loss``). A repeated option
    keeps its last value.
    """
    if isinstance(spec, LossFamily):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"loss must be a name such as 'non-saturating:r1=1' or a LossFamily, got {spec!r}")
    name, _, rest = spec.strip().lower().partition(":")
    key = _ALIASES.get(name.strip(), name.strip())
    check_choice("loss family", key, LOSS_FAMILIES)
    loss = LOSS_FAMILIES[key]()
    options: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        term, sep, value = (part.strip() for part in item.partition("="))
        check_choice("loss option", term, _OPTIONS)
        if not sep:
            what = "<sigma>" if term == "noise" else "<weight>"
            raise ValueError(f"loss option {item!r} in {spec!r} must look like {term}={what}")
        try:
            options[term] = check_float(term, value, minimum=0.0)
        except (TypeError, ValueError) as error:  # name the whole spec too
            raise ValueError(f"{error} (a finite number >= 0 expected, in loss {spec!r})") from None
    penalties = {term: weight for term, weight in options.items() if term in _PENALTIES}
    if penalties:
        loss = Regularized(loss, **penalties)
    if "noise" in options:
        loss = InstanceNoise(loss, options["noise"])
    return loss
