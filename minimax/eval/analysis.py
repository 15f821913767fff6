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

from minimax.core.schedules import DISCRIMINATOR, PLAYERS

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


def _rule_states(rules: Any) -> list[torch.Tensor]:
    if getattr(rules, "joint", False):
        return _state_leaves(getattr(rules, "state", None))
    return [leaf for p in PLAYERS for leaf in _state_leaves(rules[p].state)]


def _one_cycle(env: Any, rules: Any) -> None:
    """Play one iteration (schedule cycle) of ``env`` with ``rules``."""
    if hasattr(env, "schedule"):  # AEC
        for _ in range(env.schedule.turns_per_iteration):
            player = env.agent_selection
            env.step(rules[player].act(env.observe(player)))
        return
    env._evaluation = env.game.evaluate(env._batch)  # the state may have been written since the last step
    observations = {p: env._observation(p, env._evaluation) for p in PLAYERS}
    if getattr(rules, "joint", False):
        env.step(rules.act(observations, env.field()))
    else:
        env.step({p: rules[p].act(observations[p]) for p in PLAYERS})


def _read(env: Any, rules: Any) -> torch.Tensor:
    parts = [env.game.parameters(p).reshape(-1) for p in PLAYERS] + [t.reshape(-1) for t in _rule_states(rules)]
    return torch.cat(parts).detach().to(torch.float64).clone()


def _write(env: Any, rules: Any, vector: torch.Tensor) -> None:
    targets = [env.game.parameters(p) for p in PLAYERS] + _rule_states(rules)
    offset = 0
    with torch.no_grad():
        for t in targets:
            t.copy_(vector[offset : offset + t.numel()].reshape(t.shape).to(t.dtype))
            offset += t.numel()


def update_operator(
    make_env: Callable[[], Any], rules: Any, warmup: int = 2, seed: int = 0, epsilon: float = 1e-6
) -> torch.Tensor:
    """The matrix M of one schedule cycle on the state (both players' parameters, then the rules' buffers).

    ``make_env()`` builds a fresh env of a linear game (float64 recommended); ``rules``
    is ``{player: UpdateRule}`` or a joint rule. The rules first play ``warmup`` cycles
    so that every buffer exists and first-step special cases are past; the random
    streams are rewound before each image, so a stochastic game is linearised on one
    fixed draw of minibatches; then column i of
    M is (F(s + epsilon e_i) - F(s)) / epsilon, F being one cycle from the state s reached.
    Exact up to rounding for linear games and linear rules (gradient descent, momentum,
    extragradient, optimism, consensus, CGD); on a nonlinear game started at its
    equilibrium it is the local linearisation (the Jacobian of the cycle map), as in
    Mescheder et al. 2018; for nonlinear rules (Adam) it should not be read as a prediction.
    """
    env = make_env()
    env.reset(seed=seed)
    for r in ([rules] if getattr(rules, "joint", False) else rules.values()):
        r.reset()
    for _ in range(warmup):
        _one_cycle(env, rules)
    base_state = _read(env, rules)
    saved = [copy.deepcopy(getattr(r, "_state", None)) for r in _rule_objects(rules)]
    streams = [getattr(env.game, name) for name in ("data_rng", "noise_rng", "loss_rng")]
    stream_states = [s.get_state() for s in streams]
    batch = env._batch

    def image(vector: torch.Tensor) -> torch.Tensor:
        _restore(rules, saved)
        for stream, state in zip(streams, stream_states):  # the same minibatches for every column
            stream.set_state(state)
        env._batch = batch
        if hasattr(env, "_evaluations"):
            env._evaluations = {}
        _write(env, rules, vector)
        _one_cycle(env, rules)
        return _read(env, rules)

    size = base_state.numel()
    origin = image(base_state)
    basis = torch.eye(size, dtype=torch.float64)
    columns = [(image(base_state + epsilon * basis[i]) - origin) / epsilon for i in range(size)]
    _restore(rules, saved)
    return torch.stack(columns, dim=1)


def _rule_objects(rules: Any) -> list[Any]:
    return [rules] if getattr(rules, "joint", False) else [rules[p] for p in PLAYERS]


def _restore(rules: Any, saved: list[Any]) -> None:
    """Put back the rules' states (counts included) as they were after the warm-up."""
    for rule, state in zip(_rule_objects(rules), saved):
        if hasattr(rule, "_state"):
            rule._state = copy.deepcopy(state)


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
                      evaluation_batch: int = 4096, seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Train the discriminator against the frozen generator; report how far the value moves.

    Returns the value V on one fixed evaluation batch before and after ``steps`` Adam
    steps of the discriminator alone, and their difference: 0 means the discriminator
    already plays a best response; a large gap means an apparent equilibrium is an
    artefact of a weak discriminator. The game is left exactly as it was (parameters,
    buffers and random streams are restored).
    """
    import agents

    from minimax.core.game import Minibatch

    theta = game.parameters(DISCRIMINATOR)
    saved_theta = theta.clone()
    modules = [game.players[p].module for p in PLAYERS]
    saved_buffers = [[b.clone() for b in m.buffers()] for m in modules]
    streams = [game.data_rng, game.noise_rng, game.loss_rng]
    saved_streams = [s.get_state() for s in streams]
    try:
        rng = torch.Generator(game.device).manual_seed(seed)
        n = evaluation_batch
        fixed = Minibatch(game.task.sample_data(n, rng, game.device, game.dtype),
                          game.task.sample_noise(n, rng, game.device, game.dtype))  # fmt: skip
        before = game.evaluate(fixed, (DISCRIMINATOR,), update_buffers=False).value
        rule = agents.make("adam", lr=lr)
        state = rule.init(theta)
        for _ in range(steps):
            gradient = game.evaluate(game.sample(batch_size), (DISCRIMINATOR,), update_buffers=False)
            delta, state = rule.update(gradient.gradients[DISCRIMINATOR], state, theta)
            theta.add_(delta)
        after = game.evaluate(fixed, (DISCRIMINATOR,), update_buffers=False).value
    finally:
        theta.copy_(saved_theta)
        for module, buffers in zip(modules, saved_buffers):
            for b, v in zip(module.buffers(), buffers):
                b.copy_(v)
        for s, v in zip(streams, saved_streams):
            s.set_state(v)
    return {"value_before": float(before), "value_after": float(after), "gap": float(after - before)}
