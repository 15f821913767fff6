"""The 1D normal task (report chapter 3.1): learn N(4, 1.25^2) from uniform noise.

Runs Algorithm 1 and simultaneous gradient play for a few seeds, then measures
the generator against the target with exact distances (W1, KS), moment errors,
a histogram JSD, and how far the game sits from Goodfellow's equilibrium
(mean D(x) = 1/2, V = -log 4). Every table has a *floor* row: the same metrics
for a sample of the same size drawn from the target itself.

    python -m benchmarks.normal1d                       # quick default
    python -m benchmarks.normal1d --iterations 5000 --seeds 5 --schedules alternating:k=5 simultaneous

Writes results/normal1d/{results.json, results.md, histograms.png, curves.png}.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pettingzoo  # noqa: E402
import torch  # noqa: E402

import agents  # noqa: E402
import minimax  # noqa: E402
from benchmarks.reporting import markdown_table, mean_std, save_figure, save_json, atomic_write  # noqa: E402
from minimax.metrics import LOG4, normal_report  # noqa: E402

METRICS = ("w1", "ks", "mean_error", "std_error", "hist_jsd", "d_real_gap", "d_fake_gap", "value_gap")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--schedules", nargs="+", default=["alternating:k=1", "simultaneous"],
                   help="schedules to compare, e.g. alternating:k=5 or simultaneous")
    p.add_argument("--loss", default="non-saturating", help="loss family: minimax or non-saturating")
    p.add_argument("--rule", default="adam", help=f"update rule for both players: {', '.join(agents.available())}")
    p.add_argument("--lr", type=float, default=3e-3, help="learning rate of both players")
    p.add_argument("--iterations", type=int, default=2000, help="iterations (schedule cycles) per run")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds per schedule")
    p.add_argument("--mean", type=float, default=4.0)
    p.add_argument("--std", type=float, default=1.25)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--samples", type=int, default=10_000, help="generated samples per evaluation")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny networks: 1 is fastest)")
    p.add_argument("--out", type=Path, default=Path("results/normal1d"))
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args()


def make_rule(args: argparse.Namespace) -> agents.UpdateRule:
    extra = {"betas": (0.5, 0.999)} if args.rule == "adam" else {}
    return agents.make(args.rule, lr=args.lr, **extra)


def run(args: argparse.Namespace, schedule: str, seed: int) -> dict:
    env = pettingzoo.make(
        "aec", "minimax/Normal1D-v0", schedule=schedule, loss=args.loss,
        mean=args.mean, std=args.std, hidden=args.hidden, batch_size=args.batch_size,
    )
    rules = {p: make_rule(args) for p in minimax.PLAYERS}
    start = time.perf_counter()
    history = minimax.train(env, rules, args.iterations, seed=seed, progress=not args.no_progress,
                            description=f"{schedule} seed {seed}")
    wall = time.perf_counter() - start
    eval_rng = torch.Generator().manual_seed(10_000 + seed)
    samples = env.game.generate(args.samples, eval_rng).reshape(-1).numpy()
    tail = slice(-max(1, history.iterations // 10), None)  # the last 10% of iterations
    metrics = normal_report(samples, args.mean, args.std) if np.isfinite(samples).all() else {}
    metrics.update(
        d_real_gap=float(abs(np.mean(history["d_real"][tail]) - 0.5)),
        d_fake_gap=float(abs(np.mean(history["d_fake"][tail]) - 0.5)),
        value_gap=float(abs(np.mean(history["value"][tail]) + LOG4)),
    )
    return {"schedule": schedule, "seed": seed, "wall_time": wall, "diverged": history.terminated,
            "reason": history.reason, "iterations": history.iterations, "metrics": metrics,
            "samples": samples, "history": history}


def floor(args: argparse.Namespace) -> dict[str, list[float]]:
    """The same distances for target samples of the same size: what a perfect generator scores."""
    reports = [normal_report(np.random.default_rng(s).normal(args.mean, args.std, args.samples), args.mean, args.std)
               for s in range(args.seeds)]
    return {k: [r[k] for r in reports] for k in reports[0]}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    runs = [run(args, s, seed) for s in args.schedules for seed in range(args.seeds)]
    floors = floor(args)

    header = ["schedule", "W1", "KS", "|mean err|", "|std err|", "hist JSD", "|D(x)-1/2|", "|D(G(z))-1/2|",
              "|V+log 4|", "wall s", "diverged"]
    rows = []
    for schedule in args.schedules:
        mine = [r for r in runs if r["schedule"] == schedule]
        cells = [mean_std([r["metrics"].get(m, math.nan) for r in mine]) for m in METRICS]
        rows.append([f"`{schedule}`", *cells, mean_std([r["wall_time"] for r in mine], 2),
                     f"{sum(r['diverged'] for r in mine)}/{len(mine)}"])
    rows.append(["floor (target vs target)", *[mean_std(floors[m]) for m in METRICS[:5]], "0", "0", "0", "", ""])
    title = (f"Normal1D N({args.mean:g}, {args.std:g}^2), {args.loss} loss, {args.rule} lr {args.lr:g}, "
             f"{args.iterations} iterations, {args.seeds} seeds, {args.samples} samples; mean ± std over seeds")
    table = f"{title}\n\n{markdown_table(header, rows)}\n"
    print(table)

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.md", table.encode())
    save_json(args.out / "results.json", {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "floor": floors,
        "runs": [{k: v for k, v in r.items() if k not in ("samples", "history")} for r in runs],
    })
    plot(args, runs)
    print(f"wrote {args.out}/results.md, results.json, histograms.png, curves.png")


def plot(args: argparse.Namespace, runs: list[dict]) -> None:
    xs = np.linspace(args.mean - 4 * args.std, args.mean + 4 * args.std, 400)
    density = np.exp(-0.5 * ((xs - args.mean) / args.std) ** 2) / (args.std * math.sqrt(2 * math.pi))
    fig, axes = plt.subplots(1, len(args.schedules), figsize=(4.5 * len(args.schedules), 3.4), squeeze=False)
    for ax, schedule in zip(axes[0], args.schedules):
        run0 = next(r for r in runs if r["schedule"] == schedule)
        finite = run0["samples"][np.isfinite(run0["samples"])]
        ax.hist(finite, bins=80, range=(xs[0], xs[-1]), density=True, alpha=0.6, label="generated")
        ax.plot(xs, density, "k", lw=1.5, label="target")
        ax.set_title(f"{schedule}, seed 0, iteration {run0['iterations']}")
        ax.legend(fontsize=8)
    save_figure(args.out / "histograms.png", fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for schedule in args.schedules:
        curves = np.array([r["history"]["value"] for r in runs if r["schedule"] == schedule
                           and r["iterations"] == args.iterations])
        if len(curves):
            mean, std = curves.mean(0), curves.std(0)
            steps = np.arange(1, len(mean) + 1)
            ax.plot(steps, mean, label=schedule)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.axhline(-LOG4, color="k", ls="--", lw=1, label="-log 4 (equilibrium)")
    ax.set_xlabel("iteration (generator updates)")
    ax.set_ylabel("empirical value V")
    ax.legend(fontsize=8)
    save_figure(args.out / "curves.png", fig)
    plt.close(fig)


if __name__ == "__main__":
    main()
