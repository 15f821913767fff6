"""The training loop: update rules play a game env for a number of iterations.

An *iteration* is one cycle of the env's schedule (Algorithm 1's outer loop:
k discriminator moves then m generator moves, or one simultaneous joint move).
Per-iteration metrics are written into preallocated device tensors, so the loop
itself never waits on the host; they become numpy arrays in the returned
:class:`History`. A run that diverges stops there, keeps everything it
recorded and says why.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from minimax.envs.aec import GameAECEnv
from minimax.envs.parallel import GameParallelEnv
from minimax.errors import check_int
from minimax.schedules import DISCRIMINATOR, GENERATOR, PLAYERS

METRICS = (
    "discriminator_loss",
    "generator_loss",
    "value",
    "d_real",
    "d_fake",
    "discriminator_grad_norm",
    "generator_grad_norm",
)


@dataclass
class History:
    """What a run recorded, one entry per completed iteration.

    ``metrics[name]`` is a numpy array; the losses are the mean over the player's
    moves in the iteration, the other diagnostics are those of the iteration's
    last move that measured them (a half-batch turn measures only its half). ``terminated`` and ``reason`` report a divergence.
    """

    metrics: dict[str, np.ndarray]
    iterations: int
    moves: int
    wall_time: float
    terminated: bool = False
    truncated: bool = False
    reason: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None)."""
        clean = lambda a: [None if not np.isfinite(x) else float(x) for x in a]  # noqa: E731
        return {
            "iterations": self.iterations,
            "moves": self.moves,
            "wall_time": self.wall_time,
            "terminated": self.terminated,
            "truncated": self.truncated,
            "reason": self.reason,
            "settings": self.settings,
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
        }


Callback = Callable[[int, Any, "History"], Any]


def _agents_for(agents: Any) -> dict[str, Any]:
    """One update rule per player: a mapping, or one rule copied for both."""
    if isinstance(agents, Mapping):
        missing = set(PLAYERS) - set(agents)
        extra = set(agents) - set(PLAYERS)
        if missing or extra:
            raise ValueError(f"agents must map exactly {list(PLAYERS)}; missing {sorted(missing)}, extra {sorted(extra)}")
        chosen = dict(agents)
        if chosen[DISCRIMINATOR] is chosen[GENERATOR]:
            raise ValueError("the two players need separate update-rule instances (each keeps its own state)")
    else:
        chosen = {p: copy.deepcopy(agents) for p in PLAYERS}
    for player, rule in chosen.items():
        if not callable(getattr(rule, "act", None)):
            raise TypeError(f"agent for {player} must be an update rule with act(observation), got {rule!r}")
    return chosen


class _Recorder:
    """Preallocated device buffers, one slot per iteration."""

    def __init__(self, iterations: int, device: torch.device) -> None:
        self.buffers = {name: torch.full((iterations,), float("nan"), device=device) for name in METRICS}
        self.loss_sums = {p: torch.zeros((), device=device) for p in PLAYERS}
        self.loss_counts = {p: 0 for p in PLAYERS}
        self.grad_norms: dict[str, torch.Tensor] = {}
        self.last: dict[str, Any] = {}

    def move(self, player: str, info: Mapping[str, Any]) -> None:
        self.loss_sums[player] = self.loss_sums[player] + info["loss"]
        self.loss_counts[player] += 1
        self.last.update({k: info[k] for k in ("value", "d_real", "d_fake") if k in info})
        self.grad_norms[player] = info["grad_norm"]

    def end_iteration(self, i: int) -> None:
        for p in PLAYERS:
            if self.loss_counts[p]:
                self.buffers[f"{p}_loss"][i] = self.loss_sums[p] / self.loss_counts[p]
            if p in self.grad_norms:
                self.buffers[f"{p}_grad_norm"][i] = self.grad_norms[p]
            self.loss_sums[p] = torch.zeros_like(self.loss_sums[p])
            self.loss_counts[p] = 0
        for name in ("value", "d_real", "d_fake"):  # the latest move that had each
            if name in self.last:
                self.buffers[name][i] = self.last[name]

    def history(self, done: int) -> dict[str, np.ndarray]:
        return {k: v[:done].cpu().numpy().copy() for k, v in self.buffers.items()}


def train(
    env: GameAECEnv | GameParallelEnv,
    agents: Any,
    iterations: int,
    *,
    seed: int | None = None,
    callbacks: Iterable[Callback] = (),
    callback_every: int = 100,
    callback_at: Iterable[int] | None = None,
    progress: bool = True,
    description: str | None = None,
) -> History:
    """Reset ``env`` (with ``seed``) and let the update rules play ``iterations`` iterations.

    ``agents`` maps ``"discriminator"`` and ``"generator"`` to update rules (or is
    one rule, copied for each player), or is one game-aware rule that moves both
    players from the joint field (:class:`agents.joint.JointRule`, Parallel env only). Each callback is called as
    ``callback(iteration, env, history)`` every ``callback_every`` iterations (or
    at the completed-iteration counts listed in ``callback_at``) and after the
    last; it sees the history so far.
    """
    iterations = check_int("iterations", iterations, minimum=1)
    callback_every = check_int("callback_every", callback_every, minimum=1)
    due = None if callback_at is None else {check_int("callback_at item", i, minimum=1) for i in callback_at}
    if not isinstance(env, (GameAECEnv, GameParallelEnv)):
        raise TypeError(
            f"train takes a torch-native minimax env (GameAECEnv or GameParallelEnv), got {type(env).__name__}; "
            "build one with pettingzoo.make('aec' or 'parallel', 'minimax/...')"
        )
    parallel = isinstance(env, GameParallelEnv)
    joint = agents if getattr(agents, "joint", False) else None
    if joint is not None:
        if not parallel:
            raise TypeError(
                f"{type(joint).__name__} moves both players from the joint vector field, which needs simultaneous "
                "moves: use the Parallel env (pettingzoo.make('parallel', ...)), not the AEC env"
            )
        joint.reset()
        rules: dict[str, Any] = {}
    else:
        rules = _agents_for(agents)
    callbacks = list(callbacks)
    for rule in rules.values():
        rule.reset()
    recorder = _Recorder(iterations, env.game.device)
    start = time.perf_counter()
    done = 0
    over = False

    def snapshot(completed: int) -> History:
        return History(
            metrics=recorder.history(completed),
            iterations=completed,
            moves=env._moves,
            wall_time=time.perf_counter() - start,
            terminated=env._game_over_reason is not None,
            truncated=bool(env.max_steps is not None and env._moves >= env.max_steps),
            reason=env._game_over_reason,
            settings={"seed": seed, "iterations_requested": iterations},
        )

    if parallel:
        observations, _ = env.reset(seed=seed)
    else:
        env.reset(seed=seed)
        turns = env.schedule.turns_per_iteration
    with tqdm(total=iterations, disable=not progress, desc=description, leave=False) as bar:
        for i in range(iterations):
            if parallel:
                if joint is not None:
                    actions = joint.act(observations, env.field())
                else:
                    actions = {p: rules[p].act(observations[p]) for p in PLAYERS}
                observations, _, terminations, truncations, infos = env.step(actions)
                for p in PLAYERS:
                    recorder.move(p, infos[p])
                over = any(terminations.values()) or any(truncations.values())
            else:
                for _ in range(turns):
                    player = env.agent_selection
                    env.step(rules[player].act(env.observe(player)))
                    recorder.move(player, env.infos[player])
                    over = env.terminations[player] or env.truncations[player]
                    if over:
                        break
            recorder.end_iteration(i)
            done = i + 1
            bar.update(1)
            scheduled = done % callback_every == 0 if due is None else done in due
            if callbacks and (scheduled or done == iterations or over):
                history = snapshot(done)
                for callback in callbacks:
                    callback(done, env, history)
            if over:
                break
    return snapshot(done)
