"""The live verdict against labelled runs: how often it is right, and how early it decides.

``minimax.eval.live.LiveVerdict`` watches a run without knowing its equilibrium. Here it watches runs whose
answer is known:

* every line of the convergence atlas (``benchmarks.convergence``: Dirac-GAN, bilinear games, the linear WGAN,
  the toy saddle, each rule and schedule the literature names), labelled by the atlas's own verdict (the
  distance to the known equilibrium over the run: converges / cycles / diverges);
* Normal1D runs whose final metrics decide (several seeds each): a generator whose samples spread less than
  10% of the target's has *collapsed*, a non-finite run *diverged*, and one whose W1 to the target ends below a
  quarter of the start's and within 1.5x of its best *converged*; runs that none of these describe (a W1 that
  fell and rose again) are left unlabelled, and their verdicts are shown but not scored;
* Ring8 runs (the mixture's default networks, batch 128) labelled by their modes at ten evaluations, as the
  stability maps classify them (``benchmarks.stability.mode_classes``: all modes but at most one *converged*;
  fewer *collapsed* when the dominant mode stayed, *cycled* when it hopped; non-finite *diverged*); a run
  that never reached the modes (under 10% of its samples within 3 std of one) is unlabelled.

For each run: the verdict at the end, whether it is the label, and when it was decided (the first iteration
from which it stayed the final verdict, as a fraction of the run).

    python -m benchmarks.verdict                # about 12 minutes on one thread
    python -m benchmarks.verdict --atlas-lines 5 --seeds 1 --iterations 300 --ring8-iterations 300   # a quick look

Writes results/verdict/ (or --out): results.md, results.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pettingzoo
import torch
from tqdm.auto import tqdm

import agents
import minimax
from benchmarks import convergence, stability
from benchmarks.reporting import atomic_write, machine, markdown_table, save_json
from minimax.eval.analysis import CONVERGED, CYCLES, DIVERGES
from minimax.eval.live import COLLAPSING, CONVERGING, CYCLING, DIVERGING, LiveVerdict
from minimax.eval.metrics import wasserstein1_to_normal

LABELS = {CONVERGED: CONVERGING, CYCLES: CYCLING, DIVERGES: DIVERGING}
SNAPSHOTS = 60  # callbacks per run: the verdict's window is a third of them


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="seeds per Normal1D configuration (default 3)")
    p.add_argument("--iterations", type=int, default=1500, help="Normal1D iterations (default 1500)")
    p.add_argument("--ring8-iterations", type=int, default=3000, help="Ring8 iterations (default 3000)")
    p.add_argument("--atlas-lines", type=int, default=None, metavar="N",
                   help="watch only the atlas's first N lines (default: all of them)")
    p.add_argument("--out", type=Path, default=Path("results/verdict"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("seeds", "iterations", "ring8_iterations", "atlas_lines"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for name in ("iterations", "ring8_iterations"):
        value = getattr(args, name)
        if value < SNAPSHOTS:
            p.error(f"--{name.replace('_', '-')} must be at least {SNAPSHOTS} (the verdict is called every "
                    f"iterations/{SNAPSHOTS}), got {value}")  # fmt: skip
    return args


def watched(env: Any, rules: Any, iterations: int, seed: int) -> LiveVerdict:
    """Play ``iterations`` with a live verdict called SNAPSHOTS times (and at the end)."""
    live = LiveVerdict(window=SNAPSHOTS // 3)
    minimax.train(env, rules, iterations, seed=seed, progress=False, callbacks=[live],
                  callback_every=max(1, iterations // SNAPSHOTS))  # fmt: skip
    return live


def atlas_runs(lines: int | None = None, progress: tqdm | None = None) -> list[dict[str, Any]]:
    rows = []
    for case in convergence.atlas()[:lines]:
        label = LABELS[convergence.run_case(case, None)["observed"]]
        live = watched(case.make_env(), case.rules(), case.steps, seed=0)
        rows.append({"set": "atlas", "run": f"{case.game} · {case.label}", "label": label, "verdict": live.verdict,
                     "why": live.why, "decided": _fraction(live, case.steps)})  # fmt: skip
        if progress is not None:
            progress.update()
    return rows


#: Normal1D configurations chosen to land in each class (labels still come from each run's final metrics).
NEURAL = {
    "adam 1e-3 · k=2 · non-saturating R1 · normal noise": (
        {"schedule": "alternating:k=2", "loss": "non-saturating:r1=1", "noise": "normal"},
        lambda: agents.make("adam", lr=1e-3, betas=(0.5, 0.999))),
    "adam 1e-3 · k=5 · non-saturating": ({"schedule": "alternating:k=5", "loss": "non-saturating"},
                                         lambda: agents.make("adam", lr=1e-3, betas=(0.5, 0.999))),
    "adam 1e-2 · minimax loss": ({"schedule": "alternating:k=1", "loss": "minimax"},
                                 lambda: agents.make("adam", lr=1e-2, betas=(0.5, 0.999))),
    "sgd 1e4 · simultaneous": ({"schedule": "simultaneous", "loss": "minimax"}, lambda: agents.make("sgd", lr=1e4)),
}


def neural_label(env: Any, start_w1: float, w1_curve: list[float], diverged: bool) -> str | None:
    task = env.game.task
    if diverged:
        return DIVERGING
    drawn = env.game.generate(4000, torch.Generator().manual_seed(0))[0].reshape(-1)
    if not torch.isfinite(drawn).all():
        return DIVERGING
    if float(drawn.std()) < 0.1 * task.std:
        return COLLAPSING
    if w1_curve[-1] < 0.25 * start_w1 and w1_curve[-1] <= 1.5 * min(w1_curve):
        return CONVERGING
    return None


def neural_runs(args: argparse.Namespace, progress: tqdm | None = None) -> list[dict[str, Any]]:
    rows = []
    for name, (options, rule) in NEURAL.items():
        for seed in range(args.seeds):
            env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=16, batch_size=128, **options)
            env.reset(seed=seed)
            task = env.game.task
            w1 = lambda: float(wasserstein1_to_normal(env.game.generate(4000, torch.Generator().manual_seed(0)),  # noqa: E731
                                                      task.mean, task.std))  # fmt: skip
            start = w1()
            curve: list[float] = []
            live = LiveVerdict(window=SNAPSHOTS // 3)

            def both(i: int, e: Any, h: Any) -> None:
                live(i, e, h)
                curve.append(w1() if np.isfinite(live.snapshots[-1]).all() else np.inf)

            history = minimax.train(env, {p: rule() for p in minimax.PLAYERS}, args.iterations, seed=seed,
                                    progress=False, callbacks=[both], callback_every=args.iterations // SNAPSHOTS)
            label = neural_label(env, start, curve, bool(history.terminated.any()))
            rows.append({"set": "Normal1D", "run": f"{name} · seed {seed}", "label": label, "verdict": live.verdict,
                         "why": live.why, "decided": _fraction(live, args.iterations)})  # fmt: skip
            if progress is not None:
                progress.update()
    return rows


#: Ring8 configurations chosen from the stability maps to land in each class (labels come from each run's modes).
RING8 = {
    "adam 1.9e-3 · beta1 0.5 · k=1": ("alternating:k=1", lambda: agents.make("adam", lr=1.9e-3, betas=(0.5, 0.999))),
    "adam 1e-3 · beta1 0 · k=5": ("alternating:k=5", lambda: agents.make("adam", lr=1e-3, betas=(0.0, 0.999))),
    "momentum 1e-2 · beta 0 · k=5": ("alternating:k=5", lambda: agents.make("momentum", lr=1e-2, momentum=0.0)),
    "momentum 1 · beta 0.95 · simultaneous": ("simultaneous", lambda: agents.make("momentum", lr=1.0, momentum=0.95)),
}
MODE_LABELS = {stability.CONVERGES_AT: CONVERGING, stability.CYCLES_AT: CYCLING, stability.DIVERGES_AT: DIVERGING,
               stability.COLLAPSES_AT: COLLAPSING, stability.STALLS_AT: None}  # fmt: skip


def ring8_runs(args: argparse.Namespace, progress: tqdm | None = None) -> list[dict[str, Any]]:
    rows = []
    for name, (schedule, rule) in RING8.items():
        for seed in range(args.seeds):
            env = pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", batch_size=128, schedule=schedule)
            env.reset(seed=seed)
            live = LiveVerdict(window=SNAPSHOTS // 3)
            every = args.ring8_iterations // SNAPSHOTS
            seen = [stability.modes_of(env)]

            def both(i: int, e: Any, h: Any) -> None:
                live(i, e, h)
                if i % (every * (SNAPSHOTS // stability.EVALUATIONS)) == 0:  # the labels' ten evaluations
                    seen.append(stability.modes_of(env))

            history = minimax.train(env, {p: rule() for p in minimax.PLAYERS}, args.ring8_iterations, seed=seed,
                                    progress=False, callbacks=[both], callback_every=every)  # fmt: skip
            curves = {k: np.stack([snapshot[k] for snapshot in seen]) for k in seen[0]}
            ended = np.asarray(history.terminated, dtype=bool).reshape(-1)[:1]
            label = MODE_LABELS[int(stability.mode_classes(curves["modes"], curves["high_quality"], curves["dominant"],
                                                           curves["finite"], ended, len(env.game.task.centers))[0])]
            rows.append({"set": "Ring8", "run": f"{name} · seed {seed}", "label": label, "verdict": live.verdict,
                         "why": live.why, "decided": _fraction(live, args.ring8_iterations)})  # fmt: skip
            if progress is not None:
                progress.update()
    return rows


def _fraction(live: LiveVerdict, iterations: int) -> float | None:
    at = live.decided_at()
    return None if at is None else at / iterations


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    begin = time.perf_counter()
    lines = len(convergence.atlas()[: args.atlas_lines])
    total = lines + (len(NEURAL) + len(RING8)) * args.seeds
    with tqdm(total=total, desc="labelled runs", disable=args.no_progress) as progress:
        rows = atlas_runs(args.atlas_lines, progress) + neural_runs(args, progress) + ring8_runs(args, progress)
    wall = time.perf_counter() - begin
    labelled = [r for r in rows if r["label"] is not None]
    summary = []
    for group in ("atlas", "Normal1D", "Ring8"):
        mine = [r for r in labelled if r["set"] == group]
        right = [r for r in mine if r["verdict"] == r["label"]]
        when = [r["decided"] for r in right if r["decided"] is not None]
        summary.append([group, str(len(mine)), f"{len(right)}/{len(mine)}" if mine else "-",
                        f"{np.median(when):.0%}" if when else "-"])  # fmt: skip
    table = markdown_table(["runs", "labelled", "verdict = label", "median decision (fraction of the run)"], summary)
    detail = markdown_table(["set", "run", "label", "live verdict", "why", "decided at"],
                            [[r["set"], r["run"], r["label"] or "unlabelled", r["verdict"], r["why"],
                              "-" if r["decided"] is None else f"{r['decided']:.0%}"] for r in rows])  # fmt: skip
    text = (f"# The live verdict against labelled runs\n\n{len(rows)} runs ({len(labelled)} labelled), {wall:.0f} s on "
            f"{machine()}, one thread.\n\n{table}\n\n{detail}\n")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.md", text.encode())
    save_json(args.out / "results.json", {"rows": rows, "wall_s": wall})
    print(text)
    return {"rows": rows, "table": table}


if __name__ == "__main__":
    main()
