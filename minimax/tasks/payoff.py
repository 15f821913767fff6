"""Zero-sum games given by a payoff f(x, y): bilinear games and the toy saddle, with the env interface.

The generator is the minimiser x, the discriminator the maximiser y:

    min_x max_y f(x, y),   L_G = f,   L_D = -f.

``Bilinear`` is f = x^T A y + (a/2)|x|^2 - (b/2)|y|^2 (scalar ``alpha x y`` when A is a
number: Gidel et al. 2019's x y and theta phi games, Schaefer & Anandkumar's alpha x y);
``Saddle`` is Heusel et al.'s toy f = (1 + x^2)(100 - y^2) with Gaussian gradient noise
(the two time-scale example). A :class:`PayoffGame` has what the environments use of a
:class:`minimax.Game` (flat parameter buffers, ``sample``, ``evaluate``, ``reset``,
``losses_at`` for :mod:`minimax.core.field`), so every env, schedule, update rule and the
joint-field analysis work on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from minimax.utils.checks import check_float
from minimax.core.flat import FlatModule
from minimax.core.game import Evaluation, Minibatch
from minimax.core.schedules import BOTH, DISCRIMINATOR, GENERATOR, PLAYERS

Payoff = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Point(nn.Module):
    """A player who is just a vector of parameters."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.value = nn.Parameter(start.clone())


class ZeroSum:
    """The loss 'family' of a payoff game: L_G = f, L_D = -f."""

    name = "payoff"
    zero_sum = True


def _vector(name: str, value: Any, size: int | None = None) -> torch.Tensor:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite number or 1-D sequence of numbers, got {value!r}")
    if size is not None and array.size != size:
        raise ValueError(f"{name} must have {size} entries, got {array.size}")
    return torch.from_numpy(array)


class PayoffGame:
    """min over the generator x, max over the discriminator y, of ``payoff(x, y)``.

    ``gradient_noise`` adds N(0, sigma^2) to each observed gradient (drawn from the
    game's noise stream, so a seed fixes it); the joint field of :mod:`minimax.core.field`
    is the noiseless one.
    """

    task = None

    def __init__(
        self,
        payoff: Payoff,
        x0: Any,
        y0: Any,
        gradient_noise: float = 0.0,
        name: str = "payoff",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.payoff = payoff
        self.name = name
        self.device = torch.empty(0, device=device).device
        self.dtype = dtype
        self.gradient_noise = check_float("gradient_noise", gradient_noise, minimum=0.0)
        self.start = {GENERATOR: _vector("x0", x0), DISCRIMINATOR: _vector("y0", y0)}
        self.players = {p: FlatModule(Point(self.start[p]).to(self.device, dtype)) for p in PLAYERS}
        self.loss = ZeroSum()
        self.fake_mode = "train"
        self.data_rng = torch.Generator(self.device)
        self.noise_rng = torch.Generator(self.device)
        self.loss_rng = torch.Generator(self.device)
        self._empty = torch.empty(0, 1, device=self.device, dtype=dtype)

    def reset(self, seed: int) -> None:
        """Back to the start point; the gradient-noise stream restarts from ``seed``."""
        noise_seed, loss_seed = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
        self.noise_rng.manual_seed(int(noise_seed) % 2**63)
        self.loss_rng.manual_seed(int(loss_seed) % 2**63)
        with torch.no_grad():
            for p in PLAYERS:
                self.players[p].flat.copy_(self.start[p])

    def parameters(self, player: str) -> torch.Tensor:
        return self.players[player].flat

    def sample(self, batch_size: int | None = None, part: str = BOTH) -> Minibatch:
        """The turn's gradient noise, one entry per parameter of both players (zeros without noise)."""
        if part != BOTH:
            raise ValueError(f"a payoff game has no real or generated half batches, got part {part!r}")
        size = sum(self.players[p].size for p in PLAYERS)
        if self.gradient_noise:
            noise = torch.randn(size, generator=self.noise_rng, device=self.device, dtype=self.dtype)
            return Minibatch(self._empty, noise * self.gradient_noise)
        return Minibatch(self._empty, torch.zeros(size, device=self.device, dtype=self.dtype))

    def losses_at(self, params: dict[str, torch.Tensor], batch: Minibatch, rng: torch.Generator | None = None):
        f = self.payoff(params[GENERATOR], params[DISCRIMINATOR])
        return {GENERATOR: f, DISCRIMINATOR: -f}

    def evaluate(self, batch: Minibatch, players: tuple[str, ...] = PLAYERS, update_buffers: bool = True) -> Evaluation:
        leaves = {p: self.players[p].flat.detach().clone().requires_grad_(p in players) for p in PLAYERS}
        with torch.enable_grad():
            losses = self.losses_at(leaves, batch)
            gradients = {}
            offset = 0
            for p in PLAYERS:
                size = self.players[p].size
                if p in players:
                    (grad,) = torch.autograd.grad(losses[p], leaves[p], retain_graph=True, allow_unused=True)
                    grad = torch.zeros_like(leaves[p]) if grad is None else grad
                    gradients[p] = grad.detach() + batch.noise[offset : offset + size]
                offset += size
        value = losses[GENERATOR].detach()
        return Evaluation(
            losses={p: losses[p].detach() for p in players},
            gradients=gradients,
            d_real=None,
            d_fake=None,
            value=value,
        )

    def distance_to(self, point: dict[str, torch.Tensor]) -> torch.Tensor:
        """Euclidean distance of the current state to ``point`` (e.g. the equilibrium)."""
        return torch.sqrt(sum((self.players[p].flat - point[p].to(self.dtype)).pow(2).sum() for p in PLAYERS))


def Bilinear(
    A: float | Sequence[Sequence[float]] = 1.0,
    x0: Any = 1.0,
    y0: Any = 1.0,
    a: float = 0.0,
    b: float = 0.0,
    gradient_noise: float = 0.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> PayoffGame:
    """f(x, y) = x^T A y + (a/2)|x|^2 - (b/2)|y|^2; the equilibrium is (0, 0) when A is nonsingular or a, b > 0."""
    matrix = np.atleast_2d(np.asarray(A, dtype=np.float64))
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise ValueError(f"A must be a finite number or matrix, got {A!r}")
    x, y = _vector("x0", x0, matrix.shape[0]), _vector("y0", y0, matrix.shape[1])
    a, b = check_float("a", a), check_float("b", b)
    tensor = torch.as_tensor(matrix, device=device, dtype=dtype)

    def payoff(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ tensor @ y + 0.5 * a * x.pow(2).sum() - 0.5 * b * y.pow(2).sum()

    game = PayoffGame(payoff, x, y, gradient_noise, "Bilinear", device, dtype)
    game.matrix, game.a, game.b = matrix, a, b
    return game


def Saddle(
    x0: float = 1.0, y0: float = 1.0, gradient_noise: float = 0.0,
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
) -> PayoffGame:  # fmt: skip
    """Heusel et al. 2017's toy saddle f(x, y) = (1 + x^2)(100 - y^2), saddle at (0, 0)."""

    def payoff(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((1 + x.pow(2)) * (100 - y.pow(2))).sum()

    return PayoffGame(payoff, x0, y0, gradient_noise, "Saddle", device, dtype)
