"""Convergence analysis: predicted update operators, verdicts, rotation, best-response gaps.

* :func:`update_operator` linearises one schedule cycle of an agent pair (or a
  joint rule) on a game, including the rules' own state (momentum buffers,
  past gradients): on a linear game with linear rules this *is* the update map
  s_{t+1} = M s_t, so its spectral radius predicts convergence (< 1) or
  divergence (> 1) before anything is run.
* :func:`verdict` reads a distance-to-equilibrium trajectory: converges, cycles or
  diverges; :func:`winding` counts how many turns a trajectory makes around the
  equilibrium (rotation detection).
* :func:`best_response_gap`: for any game, how much the value moves when the
  discriminator is trained to convergence against the frozen generator.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from minimax.core.game import Minibatch
from minimax.core.players import DISCRIMINATOR, PLAYERS

CONVERGED = "converges"
CYCLES = "cycles"
DIVERGES = "diverges"


def _state_leaves(state: Any) -> list[torch.Tensor]:
    """The floating-point tensors of a rule state (NamedTuples, tuples, dicts), in a fixed order."""
    if state is None:
        return []
    if torch.is_tensor(state):
        return [state] if state.is_floating_point() else []
    if isinstance(state, dict):
        return [leaf for key in sorted(state) for leaf in _state_leaves(state[key])]
    if isinstance(state, (tuple, list)):
        return [leaf for item in state for leaf in _state_leaves(item)]
    return []


def _rule_objects(rules: Any) -> list[Any]:
    return [rules] if getattr(rules, "joint", False) else [rules[p] for p in PLAYERS]


def _rule_states(rules: Any) -> list[torch.Tensor]:
    return [leaf for rule in _rule_objects(rules) for leaf in _state_leaves(getattr(rule, "state", None))]


def _read(env: Any, rules: Any) -> torch.Tensor:
    game = env.match.game
    parts = [game.parameters(p).reshape(-1) for p in PLAYERS] + [t.reshape(-1) for t in _rule_states(rules)]
    return torch.cat(parts).detach().to(torch.float64).clone()


def _write(env: Any, rules: Any, vector: torch.Tensor) -> None:
    game = env.match.game
    targets = [game.parameters(p) for p in PLAYERS] + _rule_states(rules)
    offset = 0
    with torch.no_grad():
        for t in targets:
            t.copy_(vector[offset : offset + t.numel()].reshape(t.shape).to(t.dtype))
            offset += t.numel()
    env.match.refresh()  # the parameters changed from outside: evaluations are recomputed


def update_operator(
    make_env: Callable[[], Any], rules: Any, warmup: int = 2, seed: int = 0, epsilon: float = 1e-6
) -> torch.Tensor:
    """The matrix M of one schedule cycle on the state (both players' parameters, then the rules' buffers).

    ``make_env()`` builds a fresh env of a linear game (float64 recommended); ``rules``
    is ``{player: UpdateRule}`` or a joint rule. The rules first play ``warmup`` cycles
    so that every buffer exists and first-step special cases are past; the env is then
    rewound to that state (its ``state_dict``: random streams and minibatch included) before
    each image, so a stochastic game is linearised on one fixed draw of minibatches; then
    column i of M is (F(s + epsilon e_i) - F(s)) / epsilon, F being one cycle from the state s reached.
    Exact up to rounding for linear games and linear rules (gradient descent, momentum,
    extragradient, optimism, consensus, CGD); on a nonlinear game started at its
    equilibrium it is the local linearisation (the Jacobian of the cycle map), as in
    Mescheder et al. 2018; for nonlinear rules (Adam) it should not be read as a prediction.
    """
    cycle = CycleMap(make_env, rules, warmup=warmup, seed=seed)
    base_state = cycle.state
    size = base_state.numel()
    origin = cycle.image(base_state)
    basis = torch.eye(size, dtype=torch.float64)
    columns = [(cycle.image(base_state + epsilon * basis[i]) - origin) / epsilon for i in range(size)]
    cycle.rewind()
    return torch.stack(columns, dim=1)


def update_operators(
    make_env: Callable[[], Any], rules: Any, warmup: int = 2, seed: int = 0, epsilon: float = 1e-6
) -> torch.Tensor:
    """Each game's :func:`update_operator` at once, for a vector env of N independent linear games: ``(N, S, S)``.

    The games do not interact, so perturbing coordinate j of every game in the same image gives column j of
    every game's matrix: S + 1 images of the N-game cycle instead of N (S + 1) images of lone cycles. Every state
    tensor (parameters, rule buffers) must hold one row per game; the order of a game's S coordinates is
    :func:`update_operator`'s (both players' parameters, then the rules' buffers).
    """
    cycle = CycleMap(make_env, rules, warmup=warmup, seed=seed)
    env = cycle.driver.env
    n = env.match.game.num_games
    tensors = [env.match.game.parameters(p) for p in PLAYERS] + _rule_states(rules)
    if any(t.dim() == 0 or t.shape[0] != n for t in tensors):
        raise ValueError(f"update_operators needs state tensors with one row per game ({n}); got shapes "
                         f"{[tuple(t.shape) for t in tensors]}")  # fmt: skip
    # index[g, j]: where coordinate j of game g lives in the flat state vector
    blocks, offset = [], 0
    for t in tensors:
        width = t[0].numel()
        blocks.append(offset + torch.arange(n).unsqueeze(1) * width + torch.arange(width))
        offset += t.numel()
    index = torch.cat(blocks, dim=1)
    base = cycle.state
    origin = cycle.image(base)[index]
    columns = []
    for j in range(index.shape[1]):
        moved = base.clone()
        moved[index[:, j]] += epsilon
        columns.append((cycle.image(moved)[index] - origin) / epsilon)
    cycle.rewind()
    return torch.stack(columns, dim=2)


def spectral_radii(matrices: torch.Tensor) -> torch.Tensor:
    """max |eigenvalue| of each matrix of a batch ``(N, S, S)``: ``(N,)`` float64."""
    return torch.linalg.eigvals(matrices.to(torch.float64)).abs().amax(dim=-1)


class CycleMap:
    """One schedule cycle as a function of the state vector, from a fixed point of play.

    The env is built by ``make_env()``, the rules play ``warmup`` cycles, and that point (the
    env's ``state_dict``, the rules' states) is kept: :meth:`image` rewinds to it, writes a state
    vector (both players' parameters, then the rules' buffers, float64), plays one cycle on the
    same minibatches and returns the state reached. :attr:`state` is the vector at that point.
    """

    def __init__(self, make_env: Callable[[], Any], rules: Any, warmup: int = 2, seed: int = 0) -> None:
        from minimax.training.loop import Driver

        self.rules = rules
        self.driver = Driver(make_env(), rules)
        self.driver.env.reset(seed=seed)
        self.driver.reset_agents()
        for _ in range(warmup):
            self.driver.iteration()
        self.env_state = self.driver.env.state_dict()
        self.state = _read(self.driver.env, rules)
        self.saved = [copy.deepcopy(getattr(r, "state", None)) for r in _rule_objects(rules)]

    def image(self, vector: torch.Tensor) -> torch.Tensor:
        """The state one cycle after ``vector``."""
        return self.play(vector, 1)

    def play(self, vector: torch.Tensor, cycles: int) -> torch.Tensor:
        """The state ``cycles`` cycles after ``vector``, on the minibatches that follow the kept point."""
        self.rewind()  # the same minibatches and streams for every image
        _write(self.driver.env, self.rules, vector)
        for _ in range(cycles):
            self.driver.iteration()
        return _read(self.driver.env, self.rules)

    def advance(self, cycles: int) -> None:
        """Move the kept point ``cycles`` cycles further along the game (training from it)."""
        self.state = self.play(self.state, cycles)
        self.env_state = self.driver.env.state_dict()
        self.saved = [copy.deepcopy(getattr(r, "state", None)) for r in _rule_objects(self.rules)]

    def rewind(self) -> None:
        """Put the env and the rules back at the kept point."""
        _restore(self.rules, self.saved)
        self.driver.env.load_state_dict(self.env_state)


def _restore(rules: Any, saved: list[Any]) -> None:
    """Put back the rules' states (counts included) as they were after the warm-up."""
    for rule, state in zip(_rule_objects(rules), saved):
        if callable(getattr(rule, "set_state", None)):
            rule.set_state(copy.deepcopy(state))
        elif callable(getattr(rule, "load_state_dict", None)) and state is not None:
            rule.load_state_dict(copy.deepcopy(state))


def spectral_radius(matrix: torch.Tensor) -> float:
    """max |eigenvalue|: < 1 predicts convergence of the linear iteration, > 1 divergence, = 1 cycling."""
    return float(torch.linalg.eigvals(matrix.to(torch.float64)).abs().max())


def predicted_verdict(radius: float, tolerance: float = 1e-6) -> str:
    if radius < 1 - tolerance:
        return CONVERGED
    if radius > 1 + tolerance:
        return DIVERGES
    return CYCLES


def verdict(distances: np.ndarray, converged: float = 1e-3, trend: float = 0.02, growth: float = 1.5,
            diverged: float = 10.0) -> str:  # fmt: skip
    """Read a distance-to-equilibrium trajectory: converges, cycles or diverges.

    Diverges: a non-finite distance, a final distance above ``diverged`` x the start,
    or a last quarter whose median exceeds the first quarter's by ``growth`` (slow
    spirals out). Converges: a final distance below ``converged`` x the start, or a
    last-quarter median below ``trend`` x the start (this admits stochastic games,
    which settle on a noise floor). Otherwise it cycles.
    """
    d = np.asarray(distances, dtype=float)
    if d.size == 0:
        raise ValueError("verdict needs at least one distance")
    start = max(d[0], 1e-300)
    if not np.isfinite(d).all() or d[-1] > diverged * start:
        return DIVERGES
    quarter = max(1, len(d) // 4)
    first, last = float(np.median(d[:quarter])), float(np.median(d[-quarter:]))
    if d[-1] < converged * start or last < trend * start:
        return CONVERGED
    if last > growth * first:
        return DIVERGES
    return CYCLES


def winding(trajectory: np.ndarray, center: np.ndarray | None = None) -> float:
    """Signed number of turns a 2-D trajectory (T, 2) makes around ``center`` (default: origin)."""
    points = np.asarray(trajectory, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"winding needs a trajectory of shape (T, 2), got {points.shape}")
    rel = points - (np.zeros(2) if center is None else np.asarray(center, dtype=float))
    angles = np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))
    return float((angles[-1] - angles[0]) / (2 * math.pi))


@torch.no_grad()
def best_response_gap(game: Any, steps: int = 500, lr: float = 1e-3, batch_size: int | None = None,
                      evaluation_batch: int = 4096, seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """Train each game's discriminator against its frozen generator; report how far the value moves.

    Returns, per game (arrays of N), the value V on one fixed evaluation batch before and after
    ``steps`` Adam steps of the discriminator alone, and their difference: 0 means the
    discriminator already plays a best response; a large gap means an apparent equilibrium is
    an artefact of a weak discriminator. The game is left exactly as it was (parameters,
    buffers and random streams are restored).
    """
    import agents

    saved = game.state_dict()
    try:
        theta = game.parameters(DISCRIMINATOR)
        rng = torch.Generator(game.device).manual_seed(seed)
        n = evaluation_batch
        real = game.task.sample_data(n, rng, game.device, game.dtype)
        noise = game.task.sample_noise(n, rng, game.device, game.dtype)
        shape = (game.num_games,)
        fixed = Minibatch(real.expand(*shape, *real.shape), noise.expand(*shape, *noise.shape))
        before = game.evaluate(fixed, (DISCRIMINATOR,), update_buffers=False).value
        rule = agents.make("adam", lr=lr)
        state = rule.init(theta)
        for _ in range(steps):
            evaluation = game.evaluate(game.sample(batch_size=batch_size), (DISCRIMINATOR,), update_buffers=False)
            delta, state = rule.update(evaluation.gradients[DISCRIMINATOR], state, theta)
            theta.add_(delta)
        after = game.evaluate(fixed, (DISCRIMINATOR,), update_buffers=False).value
    finally:
        game.load_state_dict(saved)
    before, after = before.double().cpu().numpy(), after.double().cpu().numpy()
    return {"value_before": before, "value_after": after, "gap": after - before}
