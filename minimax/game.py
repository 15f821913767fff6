"""The differentiable game: a task under a loss family, with both players' state.

The game owns the two players' flat parameter buffers, their modules (for
buffers such as BatchNorm statistics) and every random stream: data sampling,
noise and weight initialisation. Environments add turn-taking on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from minimax.flat import FlatModule
from minimax.losses import LossFamily, Outcome, gan_value, make_loss
from minimax.schedules import DISCRIMINATOR, GENERATOR, PLAYERS
from minimax.tasks.base import Task


@dataclass(frozen=True)
class Minibatch:
    """The random inputs of one turn: target samples and generator noise."""

    real: torch.Tensor
    noise: torch.Tensor


@dataclass(frozen=True)
class Evaluation:
    """Losses and gradients of some players on one minibatch, plus game diagnostics.

    Every tensor is detached and lives on the game's device; nothing has been
    copied to the host.
    """

    losses: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]
    d_real: torch.Tensor
    d_fake: torch.Tensor
    value: torch.Tensor


class Game:
    """Both players of a task, their losses under a loss family, and the random streams."""

    def __init__(
        self,
        task: Task,
        loss: str | LossFamily = "minimax",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must be a minimax.tasks.Task, got {task!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.task = task
        self.loss = make_loss(loss)
        self.device = torch.empty(0, device=device).device  # "cuda" -> "cuda:0", as tensors report it
        self.dtype = dtype
        fresh = self._build(seed=0)
        self.players: dict[str, FlatModule] = {
            name: FlatModule(module.to(self.device, dtype)) for name, module in fresh.items()
        }
        self.data_rng = torch.Generator(self.device)
        self.noise_rng = torch.Generator(self.device)

    def _build(self, seed: int) -> dict[str, nn.Module]:
        """Fresh networks initialised on the CPU from ``seed``, without touching the global RNG."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return {DISCRIMINATOR: self.task.build_discriminator(), GENERATOR: self.task.build_generator()}

    def reset(self, seed: int) -> None:
        """New initial weights and restarted random streams, all derived from ``seed``."""
        init_seed, data_seed, noise_seed = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
        self.data_rng.manual_seed(int(data_seed) % 2**63)
        self.noise_rng.manual_seed(int(noise_seed) % 2**63)
        self.task.reset(self.data_rng)  # a fixed training set comes first: the networks may scale by it
        for name, module in self._build(int(init_seed) % 2**63).items():
            self.players[name].module.load_state_dict(module.state_dict())

    def parameters(self, player: str) -> torch.Tensor:
        """The player's live flat parameter buffer (a view, not a copy)."""
        return self.players[player].flat

    def sample(self, batch_size: int | None = None) -> Minibatch:
        """Draw one turn's minibatch from the game's own streams."""
        n = self.task.batch_size if batch_size is None else batch_size
        return Minibatch(
            self.task.sample_data(n, self.data_rng, self.device, self.dtype),
            self.task.sample_noise(n, self.noise_rng, self.device, self.dtype),
        )

    def evaluate(self, batch: Minibatch, players: tuple[str, ...] = PLAYERS) -> Evaluation:
        """Losses and flat gradients of ``players`` on ``batch``, in one forward/backward each.

        Each gradient is taken with respect to that player's own parameters only. The
        modules run directly (their parameters are views of the flat buffers), which costs
        less than ``torch.func.functional_call``; ``FlatModule.forward_with`` remains for
        functional uses (vmap, Jacobian-vector products).
        """
        d, g = self.players[DISCRIMINATOR], self.players[GENERATOR]
        want_d, want_g = DISCRIMINATOR in players, GENERATOR in players
        losses: dict[str, torch.Tensor] = {}
        gradients: dict[str, torch.Tensor] = {}
        with torch.enable_grad():
            # Build only the graph each requested gradient needs.
            with torch.set_grad_enabled(want_g):
                fake = g(batch.noise)
            with torch.set_grad_enabled(want_d):
                real_logits = d(batch.real)
            fake_logits = d(fake)
            outcome = Outcome(batch.real, fake, real_logits, fake_logits, d.module)
            if want_d:
                loss_d = self.loss.discriminator_loss(outcome)
                gradients[DISCRIMINATOR] = d.flat_gradient(loss_d, retain_graph=want_g)
                losses[DISCRIMINATOR] = loss_d.detach()
            if want_g:
                loss_g = self.loss.generator_loss(outcome)
                gradients[GENERATOR] = g.flat_gradient(loss_g)
                losses[GENERATOR] = loss_g.detach()
        with torch.no_grad():
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
            return Evaluation(
                losses=losses,
                gradients=gradients,
                d_real=torch.sigmoid(real_logits).mean(),
                d_fake=torch.sigmoid(fake_logits).mean(),
                value=gan_value(real_logits, fake_logits),
            )

    @torch.no_grad()
    def generate(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generator samples (a separate stream by default, so evaluation never perturbs training)."""
        rng = rng if rng is not None else torch.Generator(self.device).manual_seed(0)
        noise = self.task.sample_noise(n, rng, self.device, self.dtype)
        module = self.players[GENERATOR].module
        was_training = module.training
        module.eval()
        try:
            return module(noise)
        finally:
            module.train(was_training)

    @torch.no_grad()
    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) = sigmoid(logit) on any input."""
        return torch.sigmoid(self.players[DISCRIMINATOR].module(x.to(self.device, self.dtype)))
