"""The training loop: update rules play a game env for a number of iterations.

An *iteration* is one cycle of the env's schedule (Algorithm 1's outer loop:
k discriminator moves then m generator moves, or one simultaneous joint move).
Per-iteration metrics are written into preallocated device tensors, so the loop
itself never waits on the host; they become numpy arrays in the returned
:class:`History`. A run that diverges stops there, keeps everything it
recorded and says why.

With ``checkpoint_dir`` the run saves its whole state there (every
``checkpoint_every`` iterations and at the end, see :mod:`minimax.training.checkpoint`) and
``resume=True`` continues it from the newest checkpoint, bitwise as if it had never
stopped (on the CPU). ``log`` streams the per-iteration metrics as the run goes
(:class:`minimax.training.runlog.RunLog`: JSON lines, CSV, TensorBoard).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from minimax.training import checkpoint as ckpt
from minimax.envs.aec import GameAECEnv
from minimax.envs.parallel import GameParallelEnv
from minimax.utils.checks import check_int
from minimax.core.schedules import DISCRIMINATOR, GENERATOR, PLAYERS
from minimax.training.history import METRICS, History

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

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Iterations ``start + 1 .. stop`` as dicts (one host copy), non-finite values as None."""
        columns = {k: v[start:stop].cpu().tolist() for k, v in self.buffers.items()}
        return [
            {"iteration": start + j + 1, **{k: (x if math.isfinite(x) else None) for k, x in ((k, c[j]) for k, c in columns.items())}}
            for j in range(stop - start)
        ]

    def state(self) -> dict[str, Any]:
        """What carries over from one iteration to the next (for checkpoints)."""
        return {"last": dict(self.last), "grad_norms": dict(self.grad_norms)}

    def load(self, metrics: Mapping[str, np.ndarray], done: int, state: Mapping[str, Any] | None) -> None:
        """Continue after ``done`` recorded iterations (from a checkpoint)."""
        for name, buffer in self.buffers.items():
            if name in metrics:
                buffer[:done] = torch.as_tensor(np.asarray(metrics[name])[:done], device=buffer.device, dtype=buffer.dtype)
        device = next(iter(self.buffers.values())).device
        state = state or {}
        self.last = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in state.get("last", {}).items()}
        self.grad_norms = {k: v.to(device) for k, v in state.get("grad_norms", {}).items()}


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
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 2,
    resume: bool = False,
    log: Any = None,
    log_every: int = 1,
    run_spec: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
) -> History:
    """Reset ``env`` (with ``seed``) and let the update rules play ``iterations`` iterations.

    ``agents`` maps ``"discriminator"`` and ``"generator"`` to update rules (or is
    one rule, copied for each player), or is one game-aware rule that moves both
    players from the joint field (:class:`agents.joint.JointRule`, Parallel env only). Each callback is called as
    ``callback(iteration, env, history)`` every ``callback_every`` iterations (or
    at the completed-iteration counts listed in ``callback_at``) and after the
    last; it sees the history so far.

    Crash safety (all optional):

    * ``checkpoint_dir``: save the whole state there (``checkpoint-<iteration>.ckpt``,
      atomically) every ``checkpoint_every`` iterations (None: only at the end), at the
      end, at a divergence and when ``stop`` says so; the ``keep_checkpoints`` newest are
      kept. ``run_spec`` (what rebuilds the run, see :mod:`minimax.cli`) is written
      next to them as ``run.json`` and into each checkpoint; ``extra`` goes into each
      checkpoint too. A directory that already holds checkpoints is refused unless
      ``resume``.
    * ``resume=True``: continue from the newest valid checkpoint in ``checkpoint_dir``
      (a fresh start when there is none): env, rules, random streams and history are
      restored, and the run goes on to ``iterations`` (which may exceed the original
      count, to extend a run). ``seed`` must be None or the checkpoint's.
    * ``log``: a :class:`minimax.training.runlog.RunLog` (or a directory to make one in) that
      receives one row per iteration, every ``log_every`` iterations and before each
      checkpoint; on resume, rows after the checkpoint are dropped.
    * ``stop``: called after each iteration; when it returns True the run checkpoints
      and returns (``history.settings["stopped"]`` is True), e.g. on SIGTERM.
    """
    iterations = check_int("iterations", iterations, minimum=1)
    callback_every = check_int("callback_every", callback_every, minimum=1)
    due_callbacks = None if callback_at is None else {check_int("callback_at item", i, minimum=1) for i in callback_at}
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
    keep_checkpoints = check_int("keep_checkpoints", keep_checkpoints, minimum=1)
    log_every = check_int("log_every", log_every, minimum=1)
    if checkpoint_every is not None:
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, minimum=1)
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    if directory is None and (checkpoint_every is not None or resume):
        raise ValueError(f"{'resume' if resume else 'checkpoint_every'} needs a checkpoint_dir")
    for rule in rules.values():
        rule.reset()
    recorder = _Recorder(iterations, env.game.device)
    start = time.perf_counter()
    done = first = 0
    earlier_wall = 0.0
    over = stopped = False
    resumed_at: list[int] = []

    def snapshot(completed: int) -> History:
        settings = {"seed": seed, "iterations_requested": iterations}
        if resumed_at:
            settings["resumed_at"] = list(resumed_at)
        if stopped:
            settings["stopped"] = True
        return History(
            metrics=recorder.history(completed),
            iterations=completed,
            moves=env._moves,
            wall_time=earlier_wall + time.perf_counter() - start,
            terminated=env._game_over_reason is not None,
            truncated=bool(env.max_steps is not None and env._moves >= env.max_steps),
            reason=env._game_over_reason,
            settings=settings,
        )

    restored = None
    if directory is not None:
        ckpt.clean_partial(directory)
        if resume:
            restored = ckpt.load_latest(directory, set_aside=True)
        elif ckpt.checkpoints(directory):
            raise FileExistsError(
                f"{directory} already holds checkpoints ({ckpt.latest(directory).name}); pass resume=True to continue "
                "that run, or use another checkpoint_dir"
            )
    if restored is not None:
        training = restored.extra.get("training", {})
        if seed is not None and training.get("seed") != seed:
            raise ckpt.CheckpointError(
                restored.path, f"written by a run with seed {training.get('seed')!r}, train was called with seed {seed!r}"
            )
        seed = training.get("seed")
        if restored.iteration > iterations:
            raise ValueError(
                f"iterations must be at least the checkpoint's {restored.iteration} to resume it, got {iterations}"
            )
        ckpt.restore(env, joint if joint is not None else rules, restored)
        first = done = restored.iteration
        earlier_wall = restored.history.wall_time
        recorder.load(restored.history.metrics, first, training.get("recorder"))
        resumed_at = [*restored.history.settings.get("resumed_at", []), first]
        over = restored.history.terminated or restored.history.truncated
    else:
        if parallel:
            observations, _ = env.reset(seed=seed)
        else:
            env.reset(seed=seed)
    if directory is not None and run_spec is not None:
        ckpt.write_run_spec(directory, run_spec)
    elif directory is not None and not (directory / ckpt.RUN_SPEC).exists():  # a run started from Python
        ckpt.write_run_spec(directory, ckpt.describe_run(
            env, joint if joint is not None else rules, seed=seed, iterations=iterations,
            checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints))  # fmt: skip
    if parallel:
        if restored is not None:
            observations = env._observations(env._evaluation)
    else:
        turns = env.schedule.turns_per_iteration

    own_log = log is not None and isinstance(log, (str, os.PathLike))
    if own_log:
        from minimax.training.runlog import RunLog

        log = RunLog(log)
    logged = first
    if log is not None:
        log.begin(first, snapshot(first) if first else None)

    def flush_log(completed: int) -> None:
        nonlocal logged
        if log is not None and completed > logged:
            wall = earlier_wall + time.perf_counter() - start
            log.write([{**row, "wall_time": wall} for row in recorder.rows(logged, completed)])
            logged = completed

    def save_checkpoint(completed: int) -> None:
        path = ckpt.checkpoint_path(directory, completed)
        previous = ckpt.latest(directory)
        bookkeeping = {"seed": seed, "iterations": iterations, "recorder": recorder.state()}
        try:
            ckpt.save(path, env, joint if joint is not None else rules, snapshot(completed),
                      {**dict(extra or {}), "training": bookkeeping}, run_spec=run_spec)  # fmt: skip
        except OSError as error:
            kept = f"the previous checkpoint {previous} is intact" if previous else "there is no earlier checkpoint"
            raise OSError(
                error.errno, f"could not write checkpoint {path} ({error.strerror or error}); {kept}: "
                "free space and resume the run",
            ) from error  # fmt: skip
        ckpt.prune(directory, keep_checkpoints)

    try:
        if over or first >= iterations:
            return snapshot(first)
        with tqdm(total=iterations, initial=first, disable=not progress, desc=description, leave=False) as bar:
            for i in range(first, iterations):
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
                stopped = stop is not None and bool(stop())
                final = done == iterations or over or stopped
                due = checkpoint_every is not None and done % checkpoint_every == 0
                if log is not None and (final or due or done % log_every == 0):
                    flush_log(done)
                if directory is not None and (final or due):
                    save_checkpoint(done)
                scheduled = done % callback_every == 0 if due_callbacks is None else done in due_callbacks
                if callbacks and (scheduled or final):
                    history = snapshot(done)
                    for callback in callbacks:
                        callback(done, env, history)
                if over or stopped:
                    break
        return snapshot(done)
    finally:
        if log is not None:
            try:
                flush_log(done)  # what completed before an exception
            finally:
                if own_log:
                    log.close()
                else:
                    log.flush()
