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

from minimax.errors import check_choice


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
    """Per-player losses of a GAN game. Subclasses define the two losses."""

    name: str = "abstract"
    zero_sum: bool = False

    def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Minimax(LossFamily):
    """Goodfellow's saturating game: L_D = -V, L_G = V (zero-sum)."""

    name = "minimax"
    zero_sum = True

    def discriminator_loss(self, outcome: Outcome) -> torch.Tensor:
        return -gan_value(outcome.real_logits, outcome.fake_logits)

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return gan_value(outcome.real_logits.detach(), outcome.fake_logits)


class NonSaturating(Minimax):
    """L_D = -V as in the minimax game; the generator maximises log D(G(z)) instead."""

    name = "non-saturating"
    zero_sum = False

    def generator_loss(self, outcome: Outcome) -> torch.Tensor:
        return -log_sigmoid(outcome.fake_logits).mean()


LOSS_FAMILIES: dict[str, type[LossFamily]] = {"minimax": Minimax, "non-saturating": NonSaturating}
_ALIASES = {"saturating": "minimax", "gan": "minimax", "nonsaturating": "non-saturating", "ns": "non-saturating"}


def make_loss(spec: str | LossFamily = "minimax") -> LossFamily:
    """A loss family by name (``"minimax"``, ``"non-saturating"``) or passed through."""
    if isinstance(spec, LossFamily):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"loss must be a name or a LossFamily, got {spec!r}")
    key = _ALIASES.get(spec.lower(), spec.lower())
    check_choice("loss family", key, LOSS_FAMILIES)
    return LOSS_FAMILIES[key]()
