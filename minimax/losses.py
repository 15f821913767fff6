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

A family sees an :class:`Outcome`, which carries the samples and a handle on the
discriminator, so that later families (Wasserstein, hinge, least squares) and
regularisers (gradient penalties) fit the same interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from minimax.errors import check_choice, check_float


@dataclass(frozen=True)
class Outcome:
    """What one minibatch produced: samples and the discriminator's logits on them.

    ``critic(x)`` evaluates the discriminator's logits on any input, differentiably
    in its parameters (what gradient penalties need).
    """

    real: torch.Tensor
    fake: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    critic: Callable[[torch.Tensor], torch.Tensor]


def log_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -F.softplus(-logits)


def gan_value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow's empirical value V = mean log D(x) + mean log(1 - D(G(z)))."""
    return log_sigmoid(real_logits).mean() + log_sigmoid(-fake_logits).mean()


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
        return -log_sigmoid(outcome.real_logits).mean()

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        return -log_sigmoid(-outcome.fake_logits).mean()

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return gan_value(outcome.real_logits.detach(), outcome.fake_logits)


class NonSaturating(Minimax):
    """L_D = -V as in the minimax game; the generator maximises log D(G(z)) instead."""

    name = "non-saturating"
    zero_sum = False

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return -log_sigmoid(outcome.fake_logits).mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """mean ||grad_x logit(x)||^2: the zero-centred penalty of Mescheder et al. 2018, differentiable in D."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.pow(2).reshape(len(x), -1).sum(1).mean()


class Regularized(LossFamily):
    """A loss family with zero-centred gradient penalties on the discriminator.

    L_D += (r1 / 2) mean ||grad_x D_logit(x)||^2 on real data (R1) and (r2 / 2) the
    same on generated data (R2); the generator's loss is the base family's. With
    a penalty the game is no longer zero-sum.
    """

    zero_sum = False

    def __init__(self, base: LossFamily, r1: float = 0.0, r2: float = 0.0) -> None:
        self.base = base
        self.r1 = check_float("r1", r1, minimum=0.0)
        self.r2 = check_float("r2", r2, minimum=0.0)
        terms = [f"r1={self.r1:g}"] * bool(self.r1) + [f"r2={self.r2:g}"] * bool(self.r2)
        self.name = f"{base.name}:{','.join(terms)}" if terms else base.name
        self.zero_sum = base.zero_sum and not terms

    def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
        loss = self.base.discriminator_loss(outcome)
        if self.r1:
            loss = loss + 0.5 * self.r1 * gradient_penalty(outcome.critic, outcome.real)
        if self.r2:
            loss = loss + 0.5 * self.r2 * gradient_penalty(outcome.critic, outcome.fake)
        return loss

    def discriminator_real_loss(self, outcome: Outcome) -> torch.Tensor:
        loss = self.base.discriminator_real_loss(outcome)
        return loss + 0.5 * self.r1 * gradient_penalty(outcome.critic, outcome.real) if self.r1 else loss

    def discriminator_fake_loss(self, outcome: Outcome) -> torch.Tensor:
        loss = self.base.discriminator_fake_loss(outcome)
        return loss + 0.5 * self.r2 * gradient_penalty(outcome.critic, outcome.fake) if self.r2 else loss

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return self.base.generator_loss(outcome)

    def __repr__(self) -> str:
        return f"Regularized({self.base!r}, r1={self.r1:g}, r2={self.r2:g})"


LOSS_FAMILIES: dict[str, type[LossFamily]] = {"minimax": Minimax, "non-saturating": NonSaturating}
_REGULARIZERS = ("r1", "r2")
_ALIASES = {"saturating": "minimax", "gan": "minimax", "nonsaturating": "non-saturating", "ns": "non-saturating"}


def make_loss(spec: str | LossFamily = "minimax") -> LossFamily:
    """A loss family by name, with optional penalties: ``"non-saturating:r1=1"``; or passed through."""
    if isinstance(spec, LossFamily):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"loss must be a name such as 'non-saturating:r1=1' or a LossFamily, got {spec!r}")
    name, _, rest = spec.strip().lower().partition(":")
    key = _ALIASES.get(name.strip(), name.strip())
    check_choice("loss family", key, LOSS_FAMILIES)
    base = LOSS_FAMILIES[key]()
    penalties: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        term, sep, value = item.partition("=")
        check_choice("loss option", term.strip(), _REGULARIZERS)
        if not sep:
            raise ValueError(f"loss option {item!r} in {spec!r} must look like {term.strip()}=<weight>")
        penalties[term.strip()] = check_float(term.strip(), value.strip(), minimum=0.0)
    return Regularized(base, **penalties) if penalties else base
