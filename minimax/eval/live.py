"""A live verdict: while a run goes, is it converging, cycling, diverging or collapsing?

:class:`LiveVerdict` is a ``minimax.train`` callback. Every time it is called it takes a snapshot of both
players' parameters (game 0 of a vector env) and reads signals the run already has, without knowing where
the equilibrium is (a real GAN does not tell):

* **diverging**: a non-finite loss or parameter (the engine's divergence flags), or a trajectory whose
  spread around its own recent centre grows (the last half of the window's median distance to the centre
  ``growth`` x the first half's) with its steps;
* **collapsing** (tasks with samples): the generated samples' spread, per coordinate, below
  ``collapse_fraction`` of the target's: the generator puts everything in one place;
* **modes** (tasks with modes: a mixture's ``centers`` and ``std``, where they replace the spread): once at
  least ``mode_quality`` of the samples lie within 3 std of a mode, the modes decide, as the stability maps
  classify mixture runs: covering
  all modes but at most one is *converging*; covering fewer is *collapsing* when the mode holding most samples
  stayed the same over the last three snapshots, and *cycling* when it hopped (mode hopping);
* **converging**: the spread around the centre shrinks (the last half's below ``shrink`` x the first half's)
  with the steps between snapshots, or the run is at rest (steps below 1e-9 of its scale);
* **cycling**: the trajectory turns around its centre (at least ``turns`` turns of its projection on the
  plane of its two main directions) without shrinking or growing;
* **undecided**: too few snapshots yet, or none of the above.

It needs ``window`` snapshots before it says anything but undecided. ``stop_on`` names verdicts that should
end the run: pass ``stop=verdict.stop`` to ``minimax.train`` (``train(..., callbacks=[v], stop=v.stop)``).
``history`` holds every ``(iteration, verdict)``; a :class:`minimax.training.runlog.RunLog` given as ``log``
gets each change of verdict, with its reason, in ``notes.jsonl``, TensorBoard's text tab and W&B
(:meth:`RunLog.note`); a tqdm bar given as ``bar`` shows the verdict beside its count.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from minimax.core.players import PLAYERS
from minimax.eval.analysis import winding
from minimax.eval.mode_metrics import mode_report

CONVERGING, CYCLING, DIVERGING, COLLAPSING, UNDECIDED = "converging", "cycling", "diverging", "collapsing", "undecided"
VERDICTS = (CONVERGING, CYCLING, DIVERGING, COLLAPSING, UNDECIDED)


class LiveVerdict:
    """A ``minimax.train`` callback that says, as the run goes, what it is doing (see the module's docstring)."""

    def __init__(self, window: int = 20, shrink: float = 0.9, growth: float = 1.1, turns: float = 1.0,
                 collapse_fraction: float = 0.1, samples: int = 512, stop_on: Iterable[str] = (),
                 log: Any = None, bar: Any = None, mode_quality: float = 0.1) -> None:  # fmt: skip
        if window < 4:
            raise ValueError(f"window must be at least 4 snapshots, got {window}")
        unknown = set(stop_on) - set(VERDICTS)
        if unknown:
            raise ValueError(f"stop_on names unknown verdicts {sorted(unknown)}; expected some of {list(VERDICTS)}")
        self.window, self.shrink, self.growth, self.turns = window, shrink, growth, turns
        if not 0.0 <= mode_quality <= 1.0:
            raise ValueError(f"mode_quality must be a share in [0, 1], got {mode_quality}")
        self.collapse_fraction, self.samples, self.mode_quality = collapse_fraction, samples, mode_quality
        self.dominant: list[int] = []  # per snapshot on a task with modes: the mode holding most samples (-1: none)
        self.stop_on, self.log, self.bar = frozenset(stop_on), log, bar
        self.snapshots: list[np.ndarray] = []
        self.history: list[tuple[int, str]] = []
        self.why = ""
        self._target_spread: np.ndarray | None = None

    # ------------------------------------------------------------------ the callback

    def __call__(self, iteration: int, env: Any, history: Any) -> str:
        game = env.match.game if hasattr(env, "match") else env.unwrapped.match.game
        theta = torch.cat([game.parameters(p)[0].detach().reshape(-1) for p in PLAYERS]).to("cpu", torch.float64)
        self.snapshots.append(theta.numpy().copy())
        diverged = bool(np.asarray(history.terminated).reshape(-1)[0]) if history is not None else False
        verdict, why = self.judge(game, diverged)
        self.history.append((iteration, verdict))
        self.why = why
        if self.log is not None and (len(self.history) == 1 or self.history[-2][1] != verdict):
            self.log.note(iteration, {"verdict": verdict, "why": why})  # each change of verdict, with its reason
        if self.bar is not None:
            self.bar.set_postfix_str(verdict)
        return verdict

    def stop(self) -> bool:
        """Whether the latest verdict is one of ``stop_on`` (for ``minimax.train(..., stop=...)``)."""
        return bool(self.history) and self.history[-1][1] in self.stop_on

    @property
    def verdict(self) -> str:
        return self.history[-1][1] if self.history else UNDECIDED

    def decided_at(self) -> int | None:
        """The first iteration from which the verdict stayed what it is now (None while undecided)."""
        if not self.history or self.verdict == UNDECIDED:
            return None
        at = self.history[-1][0]
        for iteration, verdict in reversed(self.history):
            if verdict != self.verdict:
                break
            at = iteration
        return at

    # ------------------------------------------------------------------ the signals

    def judge(self, game: Any, diverged: bool) -> tuple[str, str]:
        """The verdict on the snapshots so far, and why (one phrase)."""
        with np.errstate(over="ignore", invalid="ignore"):  # a run on its way to infinity
            return self._judge(game, diverged)

    def _judge(self, game: Any, diverged: bool) -> tuple[str, str]:
        last = self.snapshots[-1]
        if diverged or not np.isfinite(last).all():
            return DIVERGING, "a loss or a parameter is not finite"
        modes = self._modes(game)
        spread = self._collapse(game) if modes is None else None  # the modes say more than the spread
        if spread is not None and spread < self.collapse_fraction:
            return COLLAPSING, f"generated spread {spread:.3g} x the target's"
        if modes is not None:
            covered, k, quality = modes
            if quality >= self.mode_quality:
                if covered >= k - 1:
                    return CONVERGING, f"covers {covered} of {k} modes ({quality:.0%} of its samples on them)"
                recent = self.dominant[-3:]
                if len(recent) == 3 and min(recent) >= 0:
                    if len(set(recent)) == 1:
                        return COLLAPSING, f"covers {covered} of {k} modes, mode {recent[-1]} holding most"
                    return CYCLING, f"covers {covered} of {k} modes, the one holding most hopping ({recent})"
        if len(self.snapshots) < self.window:
            return UNDECIDED, f"{len(self.snapshots)} of {self.window} snapshots"
        points = np.stack(self.snapshots[-self.window :])
        half = self.window // 2
        steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
        centre = points[half:].mean(0)
        radius = np.linalg.norm(points - centre, axis=1)
        tiny = 1e-12 * (1 + np.abs(points).max())
        early_step, late_step = np.median(steps[: half - 1]) + tiny, np.median(steps[half - 1 :]) + tiny
        early_r, late_r = np.median(radius[:half]) + tiny, np.median(radius[half:]) + tiny
        scale = 1 + np.abs(points).max()
        if np.median(steps[half - 1 :]) < 1e-9 * scale:
            return CONVERGING, "at rest (its steps are below 1e-9 of its scale)"
        if late_r > self.growth * early_r and late_step > early_step:
            return DIVERGING, f"spread around its centre grew {late_r / early_r:.3g}x over the window"
        if late_r < self.shrink * early_r and late_step < early_step:
            return CONVERGING, f"spread around its centre shrank {late_r / early_r:.3g}x over the window"
        turns = abs(winding(_plane(points - centre)))
        if turns >= self.turns:
            return CYCLING, f"{turns:.2g} turns around its centre"
        return UNDECIDED, "no trend yet"

    def _collapse(self, game: Any) -> float | None:
        """The generated samples' spread over the target's (median over coordinates), for tasks with samples."""
        task = getattr(game, "task", None)
        if task is None or not callable(getattr(game, "generate", None)):
            return None
        if getattr(task, "data_shape", None) is None or game.size("generator") <= 1:
            return None  # a one-parameter generator (Dirac-GAN) has no spread to lose
        rng = torch.Generator(game.device).manual_seed(0)
        generated = game.generate(self.samples, rng, games=[0])[0].reshape(self.samples, -1).to("cpu", torch.float64)
        if not torch.isfinite(generated).all():
            return None
        if self._target_spread is None:
            data = task.sample_data(self.samples, torch.Generator().manual_seed(1), torch.device("cpu"), torch.float64)
            self._target_spread = data.reshape(self.samples, -1).std(0).numpy()
        ratio = generated.std(0).numpy() / np.maximum(self._target_spread, 1e-12)
        return float(np.median(ratio))


    def _modes(self, game: Any) -> tuple[int, int, float] | None:
        """(modes covered, modes, high-quality share) of game 0's samples on a task with modes, noting the
        dominant mode; None on other tasks or when a sample is not finite."""
        task = getattr(game, "task", None)
        centers, std = getattr(task, "centers", None), getattr(task, "std", None)
        if centers is None or std is None or not callable(getattr(game, "generate", None)):
            return None
        rng = torch.Generator(game.device).manual_seed(0)
        generated = game.generate(self.samples, rng, games=[0])[0].reshape(self.samples, -1).to("cpu", torch.float64)
        if not torch.isfinite(generated).all():
            return None
        report = mode_report(generated.numpy(), torch.as_tensor(centers).cpu().numpy(), std)
        self.dominant.append(int(np.argmax(report["histogram"])) if report["high_quality"] else -1)
        return report["modes_covered_1pct"], report["modes"], report["high_quality_fraction"]


def _plane(points: np.ndarray) -> np.ndarray:
    """Points projected on their two main directions (``(T, 2)``; a one-dimensional trajectory gets a zero column)."""
    if points.shape[1] == 1:
        return np.concatenate([points, np.zeros_like(points)], axis=1)
    _, _, vt = np.linalg.svd(points, full_matrices=False)
    return points @ vt[:2].T
