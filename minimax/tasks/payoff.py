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

from minimax.core.game import Evaluation, Minibatch, gradient_norm
from minimax.core.players import BOTH, DISCRIMINATOR, GENERATOR, PLAYERS
from minimax.utils.checks import check_float, check_int

Payoff = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
    """min over the generator x, max over the discriminator y, of ``payoff(x, y)``, for N games in lockstep.

    ``payoff`` takes one game's vectors ``x (Px,)`` and ``y (Py,)`` and returns a scalar; N
    games evaluate it through ``torch.func.vmap`` (one game calls it directly). Each game's
    parameters are a row of the ``(N, P)`` buffers, and every game starts at ``(x0, y0)``.
    ``gradient_noise`` adds N(0, sigma^2) to each observed gradient (drawn from each game's
    own noise stream, so a seed fixes it); the joint field of :mod:`minimax.core.field` is the
    noiseless one.
    """

    task = None
    fake_mode = "train"
    precision = "highest"
    CONFIG = ("payoff", "name", "num_games", "all_games", "device", "dtype", "gradient_noise", "start", "buffers",
              "losses", "loss", "zero_sum", "_empty", "_batched", "matrix", "a", "b", "sampled")  # fmt: skip
    STATE = {"params": "parameters", "noise_rngs": "rngs", "loss_rngs": "rngs"}

    def __init__(
        self,
        payoff: Payoff,
        x0: Any,
        y0: Any,
        gradient_noise: float = 0.0,
        name: str = "payoff",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        num_games: int = 1,
    ) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.payoff = payoff
        self.sampled = bool(getattr(payoff, "sampled", False))  # one term of a finite sum per turn (BilinearPayoff)
        self.name = name
        self.num_games = check_int("num_games", num_games, minimum=1)
        self.all_games = tuple(range(self.num_games))
        self.device = torch.empty(0, device=device).device
        self.dtype = dtype
        self.gradient_noise = check_float("gradient_noise", gradient_noise, minimum=0.0)
        self.start = {GENERATOR: _vector("x0", x0), DISCRIMINATOR: _vector("y0", y0)}
        self.params = {p: self.start[p].to(self.device, dtype).unsqueeze(0).repeat(self.num_games, 1) for p in PLAYERS}
        self.buffers: dict[str, dict[str, torch.Tensor]] = {p: {} for p in PLAYERS}
        self.losses = [ZeroSum()] * self.num_games
        self.loss = self.losses[0]
        self.zero_sum = [True] * self.num_games
        self.noise_rngs = [torch.Generator(self.device) for _ in range(self.num_games)]
        self.loss_rngs = [torch.Generator(self.device) for _ in range(self.num_games)]
        self._empty = torch.empty(self.num_games, 0, 1, device=self.device, dtype=dtype)
        self._batched = torch.func.vmap(payoff)

    def size(self, player: str) -> int:
        return self.params[player].shape[1]

    def parameters(self, player: str) -> torch.Tensor:
        """``player``'s live ``(N, P)`` parameters (x for the generator, y for the discriminator)."""
        return self.params[player]

    def rows(self, games: Sequence[int] | None) -> tuple[int, ...]:
        return self.all_games if games is None else tuple(int(i) for i in games)

    def reset(self, seeds: Sequence[int]) -> None:
        """Back to the start point; each game's gradient-noise stream restarts from its seed."""
        seeds = [int(s) for s in seeds]
        if len(seeds) != self.num_games:
            raise ValueError(f"reset needs one seed per game ({self.num_games}), got {len(seeds)}")
        for i, seed in enumerate(seeds):
            noise_seed, loss_seed = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
            self.noise_rngs[i].manual_seed(int(noise_seed) % 2**63)
            self.loss_rngs[i].manual_seed(int(loss_seed) % 2**63)
        with torch.no_grad():
            for p in PLAYERS:
                self.params[p].copy_(self.start[p].to(self.device, self.dtype).expand_as(self.params[p]))

    def sample(self, part: str = BOTH, games: Sequence[int] | None = None, batch_size: int | None = None) -> Minibatch:
        """The turn's gradient noise: per game, one entry per parameter of both players (zeros without noise)."""
        if part != BOTH:
            raise ValueError(f"a payoff game has no real or generated half batches, got part {part!r}")
        rows = self.rows(games)
        size = sum(self.size(p) for p in PLAYERS)
        # ``real`` is empty, or in a sampled game each game's weights of the turn's term
        real = (self.payoff.draw_terms([self.noise_rngs[i] for i in rows], self.device, self.dtype) if self.sampled
                else self._empty[: len(rows)])  # fmt: skip
        if not self.gradient_noise:
            return Minibatch(real, torch.zeros(len(rows), size, device=self.device, dtype=self.dtype))
        draws = [torch.randn(size, generator=self.noise_rngs[i], device=self.device, dtype=self.dtype) for i in rows]
        return Minibatch(real, torch.stack(draws) * self.gradient_noise)

    def _f(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The payoff of each game, (n,)."""
        if x.shape[0] == 1:  # one game: the payoff on its vectors as they are
            return self.payoff(x[0], y[0]).unsqueeze(0)
        return self._batched(x, y)

    def losses_at(self, params: dict[str, torch.Tensor], batch: Minibatch, rngs: Any = None,
                  games: Sequence[int] | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        if self.sampled:
            f = self.payoff.sampled_value(params[GENERATOR], params[DISCRIMINATOR], batch.real)
        else:
            f = self._f(params[GENERATOR], params[DISCRIMINATOR])
        return {GENERATOR: f, DISCRIMINATOR: -f}

    def evaluate(self, batch: Minibatch, players: tuple[str, ...] = PLAYERS, games: Sequence[int] | None = None,
                 update_buffers: bool = True) -> Evaluation:  # fmt: skip
        rows = self.rows(games)
        at = None if rows == self.all_games else torch.as_tensor(rows, device=self.device)
        leaves = {p: (self.params[p] if at is None else self.params[p][at]).detach().clone().requires_grad_(p in players)
                  for p in PLAYERS}  # fmt: skip
        with torch.enable_grad():
            losses = self.losses_at(leaves, batch)
            gradients = {}
            offset = 0
            for p in PLAYERS:
                size = self.size(p)
                if p in players:
                    (grad,) = torch.autograd.grad(losses[p].sum(), leaves[p], retain_graph=True, allow_unused=True)
                    grad = torch.zeros_like(leaves[p]) if grad is None else grad
                    gradients[p] = grad.detach() + batch.noise[:, offset : offset + size]
                offset += size
        return Evaluation(
            losses={p: losses[p].detach() for p in players},
            gradients=gradients,
            grad_norms={p: gradient_norm(g) for p, g in gradients.items()},
            d_real=None,
            d_fake=None,
            value=losses[GENERATOR].detach(),
        )

    def distance_to(self, point: dict[str, torch.Tensor]) -> torch.Tensor:
        """Euclidean distance of each game's state to ``point`` (e.g. the equilibrium), (N,)."""
        return torch.sqrt(sum((self.params[p] - point[p].to(self.device, self.dtype)).pow(2).sum(-1) for p in PLAYERS))

    def state_dict(self) -> dict[str, Any]:
        return {"parameters": {p: self.params[p].clone() for p in PLAYERS},
                "rngs": {"noise": [g.get_state() for g in self.noise_rngs], "loss": [g.get_state() for g in self.loss_rngs]}}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"parameters", "rngs"}:
            raise ValueError(f"payoff game state: expected the keys ['parameters', 'rngs'], got {state!r}"[:200])
        for p in PLAYERS:
            value = state["parameters"].get(p)
            if not isinstance(value, torch.Tensor) or value.shape != self.params[p].shape or value.dtype != self.dtype:
                raise ValueError(f"payoff game state: {p} parameters must be a {self.dtype} tensor of shape "
                                 f"{list(self.params[p].shape)}")  # fmt: skip
        for name in ("noise", "loss"):
            saved = state["rngs"].get(name)
            if not isinstance(saved, (list, tuple)) or len(saved) != self.num_games:
                raise ValueError(f"payoff game state: the {name} streams must hold one state per game ({self.num_games})")
        for g, s in zip(self.noise_rngs, state["rngs"]["noise"]):
            g.set_state(s)
        for g, s in zip(self.loss_rngs, state["rngs"]["loss"]):
            g.set_state(s)
        with torch.no_grad():
            for p in PLAYERS:
                self.params[p].copy_(state["parameters"][p])


class BilinearPayoff:
    """f(x, y) = x^T A y + (a/2)|x|^2 - (b/2)|y|^2 on one game's vectors (a class, so games pickle).

    ``sampled``: the bilinear part as a finite sum over the rows of A, f_i = d x_i (A y)_i (d the
    rows; the mean of the d terms is x^T A y), and each turn sees one term, i drawn uniformly from
    the game's noise stream: the stochastic bilinear game on which stochastic extragradient with a
    fresh term at each of its two steps diverges (Chavdarova et al. 2019).
    """

    def __init__(self, matrix: torch.Tensor, a: float, b: float, sampled: bool = False) -> None:
        self.matrix, self.a, self.b, self.sampled = matrix, a, b, sampled

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix @ y + 0.5 * self.a * x.pow(2).sum() - 0.5 * self.b * y.pow(2).sum()

    def draw_terms(self, rngs: list[torch.Generator], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Each game's term weights for one turn, ``(n, d, 1)``: d at the drawn row i, 0 elsewhere."""
        d = self.matrix.shape[0]
        rows = torch.cat([torch.randint(d, (1,), generator=g, device=device) for g in rngs])
        weights = torch.zeros(len(rngs), d, 1, device=device, dtype=dtype)
        weights[torch.arange(len(rngs), device=device), rows, 0] = float(d)
        return weights

    def sampled_value(self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The drawn terms' payoffs for games ``(n, Px)``, ``(n, Py)`` with weights ``(n, Px, 1)``: (n,)."""
        bilinear = (weights[..., 0] * x * (y @ self.matrix.T)).sum(-1)
        return bilinear + 0.5 * self.a * x.pow(2).sum(-1) - 0.5 * self.b * y.pow(2).sum(-1)


def saddle_payoff(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Heusel et al. 2017's toy saddle f(x, y) = (1 + x^2)(100 - y^2)."""
    return ((1 + x.pow(2)) * (100 - y.pow(2))).sum()


def Bilinear(
    A: float | Sequence[Sequence[float]] = 1.0,
    x0: Any = 1.0,
    y0: Any = 1.0,
    a: float = 0.0,
    b: float = 0.0,
    gradient_noise: float = 0.0,
    sampled: bool = False,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    num_games: int = 1,
) -> PayoffGame:
    """f(x, y) = x^T A y + (a/2)|x|^2 - (b/2)|y|^2; the equilibrium is (0, 0) when A is nonsingular or a, b > 0.

    ``sampled=True`` makes the bilinear part a finite sum of which each turn sees one term
    (:class:`BilinearPayoff`): the stochastic bilinear game of the stochastic-extragradient atlas line.
    """
    matrix = np.atleast_2d(np.asarray(A, dtype=np.float64))
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise ValueError(f"A must be a finite number or matrix, got {A!r}")
    x, y = _vector("x0", x0, matrix.shape[0]), _vector("y0", y0, matrix.shape[1])
    a, b = check_float("a", a), check_float("b", b)
    if not isinstance(sampled, bool):
        raise TypeError(f"sampled must be True or False, got {sampled!r}")
    tensor = torch.as_tensor(matrix, device=device, dtype=dtype)
    game = PayoffGame(BilinearPayoff(tensor, a, b, sampled), x, y, gradient_noise, "Bilinear", device, dtype, num_games)
    game.matrix, game.a, game.b = matrix, a, b
    return game


def Saddle(
    x0: float = 1.0, y0: float = 1.0, gradient_noise: float = 0.0,
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, num_games: int = 1,
) -> PayoffGame:  # fmt: skip
    """Heusel et al. 2017's toy saddle f(x, y) = (1 + x^2)(100 - y^2), saddle at (0, 0)."""
    return PayoffGame(saddle_payoff, x0, y0, gradient_noise, "Saddle", device, dtype, num_games)
