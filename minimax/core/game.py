"""The differentiable game: a task under a loss family, with both players' state.

The game owns the two players' flat parameter buffers, their modules (for
buffers such as BatchNorm statistics) and every random stream: data sampling,
noise and weight initialisation. Environments add turn-taking on top.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from minimax.core.flat import FlatModule
from minimax.core.losses import LossFamily, Outcome, gan_value, make_loss
from minimax.utils.checks import check_choice
from minimax.core.schedules import BOTH, DISCRIMINATOR, FAKE, GENERATOR, PARTS, PLAYERS, REAL
from minimax.core.task import Task

FAKE_MODES = ("train", "eval")


def stream_seeds(seed: int) -> tuple[int, int, int, int]:
    """The four seeds a game derives from its seed: weight init, data, noise and loss streams.

    Shared by :class:`Game` and :class:`minimax.vector_game.VectorGame`, so that game i of a
    vector starts exactly where a lone game with the same seed starts.
    """
    words = np.random.SeedSequence(seed).generate_state(4, dtype=np.uint64)
    return tuple(int(w) % 2**63 for w in words)  # type: ignore[return-value]


def build_players(task: Task, seed: int) -> dict[str, nn.Module]:
    """Fresh networks of ``task`` initialised on the CPU from ``seed``, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return {DISCRIMINATOR: task.build_discriminator(), GENERATOR: task.build_generator()}


@contextmanager
def _state_kept(module: nn.Module, rng: torch.Generator, keep: bool) -> Iterator[None]:
    """Restore ``module``'s buffers (BatchNorm statistics) and ``rng``'s state on exit when ``keep``."""
    if not keep:
        yield
        return
    saved = [(b, b.clone()) for b in module.buffers()]
    rng_state = rng.get_state()
    try:
        yield
    finally:
        rng.set_state(rng_state)
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


@dataclass(frozen=True)
class Minibatch:
    """The random inputs of one turn: target samples and generator noise.

    ``part`` is ``"both"`` for a full minibatch, or ``"real"``/``"fake"`` for a
    discriminator half batch holding only target samples or only noise (the
    other tensor is then empty).
    """

    real: torch.Tensor
    noise: torch.Tensor
    part: str = BOTH


@dataclass(frozen=True)
class Evaluation:
    """Losses and gradients of some players on one minibatch, plus game diagnostics.

    Every tensor is detached and lives on the game's device; nothing has been
    copied to the host. On a half-batch turn the diagnostics of the half that was
    not evaluated are None.
    """

    losses: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]
    d_real: torch.Tensor | None
    d_fake: torch.Tensor | None
    value: torch.Tensor | None


class Game:
    """Both players of a task, their losses under a loss family, and the random streams."""

    def __init__(
        self,
        task: Task,
        loss: str | LossFamily = "minimax",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        fake_mode: str = "train",
    ) -> None:
        """``fake_mode`` is the generator's mode when it makes the samples of a
        discriminator-only turn: ``"train"`` (batch statistics in BatchNorm, running
        statistics updated: PyTorch's usual loop) or ``"eval"`` (running statistics,
        nothing updated: Keras's ``generator.predict``, the report's code). The
        generator's own turns always run in train mode."""
        if not isinstance(task, Task):
            raise TypeError(f"task must be a minimax.tasks.Task, got {task!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.task = task
        self.loss = make_loss(loss)
        self.device = torch.empty(0, device=device).device  # "cuda" -> "cuda:0", as tensors report it
        self.dtype = dtype
        self.fake_mode = check_choice("fake_mode", fake_mode, FAKE_MODES)
        fresh = self._build(seed=0)
        self.players: dict[str, FlatModule] = {
            name: FlatModule(module.to(self.device, dtype)) for name, module in fresh.items()
        }
        self.data_rng = torch.Generator(self.device)
        self.noise_rng = torch.Generator(self.device)
        self.loss_rng = torch.Generator(self.device)  # for losses that draw (penalty interpolates, instance noise)

    def _build(self, seed: int) -> dict[str, nn.Module]:
        """Fresh networks initialised on the CPU from ``seed``, without touching the global RNG."""
        return build_players(self.task, seed)

    def reset(self, seed: int) -> None:
        """New initial weights and restarted random streams, all derived from ``seed``."""
        init_seed, data_seed, noise_seed, loss_seed = stream_seeds(seed)
        self.data_rng.manual_seed(data_seed)
        self.noise_rng.manual_seed(noise_seed)
        self.loss_rng.manual_seed(loss_seed)
        self.task.reset(self.data_rng)  # a fixed training set comes first: the networks may scale by it
        for name, module in self._build(init_seed).items():
            self.players[name].module.load_state_dict(module.state_dict())

    def parameters(self, player: str) -> torch.Tensor:
        """The player's live flat parameter buffer (a view, not a copy)."""
        return self.players[player].flat

    def sample(self, batch_size: int | None = None, part: str = BOTH) -> Minibatch:
        """Draw one turn's minibatch from the game's own streams.

        ``part="real"`` or ``"fake"`` draws half batches (``batch_size // 2`` target
        samples and as many noise vectors): the discriminator's loss on it is then its
        real-data or its generated-data term alone, while the other player can still
        be observed on the same minibatch.
        """
        check_choice("minibatch part", part, PARTS)
        n = self.task.batch_size if batch_size is None else batch_size
        if part != BOTH:
            n //= 2
            if n < 1:
                raise ValueError(f"a half-batch turn needs a batch size of at least 2, got {batch_size}")
        return Minibatch(
            self.task.sample_data(n, self.data_rng, self.device, self.dtype),
            self.task.sample_noise(n, self.noise_rng, self.device, self.dtype),
            part,
        )

    def evaluate(
        self, batch: Minibatch, players: tuple[str, ...] = PLAYERS, update_buffers: bool = True
    ) -> Evaluation:
        """Losses and flat gradients of ``players`` on ``batch``, in one forward/backward each.

        ``update_buffers=False`` leaves the generator's buffers (BatchNorm running
        statistics) and the loss stream as they were: for looking at a player who is
        not moving, so that observing never changes the game.

        Each gradient is taken with respect to that player's own parameters only. The
        modules run directly (their parameters are views of the flat buffers), which costs
        less than ``torch.func.functional_call``; ``FlatModule.forward_with`` remains for
        functional uses (vmap, Jacobian-vector products).
        """
        d, g = self.players[DISCRIMINATOR], self.players[GENERATOR]
        want_d, want_g = DISCRIMINATOR in players, GENERATOR in players
        # On a half-batch turn the discriminator needs only its half; the generator always needs both.
        need_real = want_g or batch.part != FAKE
        need_fake = want_g or batch.part != REAL
        losses: dict[str, torch.Tensor] = {}
        gradients: dict[str, torch.Tensor] = {}
        empty = batch.real.new_empty(0)
        with torch.enable_grad(), _state_kept(g.module, self.loss_rng, keep=not update_buffers):
            # Build only the graph each requested gradient needs.
            with torch.set_grad_enabled(want_g):
                fake = self._fakes(batch.noise, want_g) if need_fake else batch.real[:0]
            with torch.set_grad_enabled(want_d):
                real_logits = d(batch.real) if need_real else empty
            fake_logits = d(fake) if need_fake else empty
            outcome = Outcome(batch.real, fake, real_logits, fake_logits, d.module, self.loss_rng)
            if want_d:
                terms = {
                    BOTH: self.loss.discriminator_loss,
                    REAL: self.loss.discriminator_real_loss,
                    FAKE: self.loss.discriminator_fake_loss,
                }
                loss_d = terms[batch.part](outcome)
                gradients[DISCRIMINATOR] = d.flat_gradient(loss_d, retain_graph=want_g)
                losses[DISCRIMINATOR] = loss_d.detach()
            if want_g:
                loss_g = self.loss.generator_loss(outcome)
                gradients[GENERATOR] = g.flat_gradient(loss_g)
                losses[GENERATOR] = loss_g.detach()
        with torch.no_grad():
            real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
            return Evaluation(  # None for what a half-batch turn did not need to compute
                losses=losses,
                gradients=gradients,
                d_real=torch.sigmoid(real_logits).mean() if need_real else None,
                d_fake=torch.sigmoid(fake_logits).mean() if need_fake else None,
                value=gan_value(real_logits, fake_logits) if need_real and need_fake else None,
            )

    def losses_at(
        self, params: dict[str, torch.Tensor], batch: Minibatch, rng: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Both players' losses on ``batch`` as differentiable functions of flat parameters ``params``.

        The functional twin of :meth:`evaluate` (the modules run with ``params`` in place of
        their own), for the joint vector field and its Jacobian (:mod:`minimax.core.field`).
        Buffers (BatchNorm statistics) are left as they were.
        """
        d, g = self.players[DISCRIMINATOR], self.players[GENERATOR]
        g_buffers, d_buffers = g.buffer_copies(), d.buffer_copies()  # the modules' own stay untouched
        fake = g.forward_with(params[GENERATOR], batch.noise, buffers=g_buffers)
        critic = lambda x: d.forward_with(params[DISCRIMINATOR], x, buffers=d_buffers)  # noqa: E731
        outcome = Outcome(batch.real, fake, critic(batch.real), critic(fake), critic, rng)
        terms = {BOTH: self.loss.discriminator_loss, REAL: self.loss.discriminator_real_loss,
                 FAKE: self.loss.discriminator_fake_loss}  # fmt: skip
        return {DISCRIMINATOR: terms[batch.part](outcome), GENERATOR: self.loss.generator_loss(outcome)}

    def _fakes(self, noise: torch.Tensor, for_generator: bool) -> torch.Tensor:
        """G(noise); in eval mode for a discriminator-only turn when ``fake_mode`` says so."""
        g = self.players[GENERATOR].module
        if for_generator or self.fake_mode == "train" or not g.training:
            return g(noise)
        g.eval()
        try:
            return g(noise)
        finally:
            g.train()

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
