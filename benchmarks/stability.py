"""Stability maps: where in (step size, momentum) each schedule converges, cycles or diverges, measured against
the update operator's prediction, cell by cell.

Every cell of a grid over step size x momentum (heavy ball's beta, negative values included; or Adam's beta1) x
schedule (simultaneous, alternating with k = 1, 2, 5 discriminator steps) x game (Dirac-GAN under the GAN loss,
the bilinear game xy) is one game of the engine: all the cells of a (game, rule) run in lockstep in one vector
env, each with its own schedule and hyper-parameters. Each cell is

* *predicted* (heavy ball): the spectral radius rho of one iteration's update operator at the equilibrium,
  including the momentum buffers (``minimax.eval.analysis.update_operators``: every cell's matrix from S + 1
  images of the N-game cycle); rho < 1 - tol converges, rho > 1 + tol diverges, cycles in between;
* *observed*: played for T iterations from a point near the equilibrium (1e-6 in every coordinate, float64,
  so that the linearisation holds while it is measured); over the iterations t* before the distance d to the
  equilibrium first exceeds 10^4 d_0 = 1e-2 (the linear regime; t* = T if it never does), the rate
  rho_hat = (D_late / D_early)^(1 / (t* / 2)), D the largest d over iterations (t*/4, t*/2] and (3t*/4, t*]
  (envelopes: the phase of a rotation cancels), gives the same three classes (leaving the linear regime in
  fewer than 8 iterations, or going non-finite: diverges). A diverging Dirac-GAN cell may end on a bounded
  orbit (the loss saturates): that is the nonlinear game, not its linearisation, and is not what is compared.

A cell that disagrees is *at the grid's resolution* when a neighbouring cell (one step in step size or in
momentum) is predicted as the cell was observed: the boundary then lies between the two. On these linear and
linearised games every disagreement must be at resolution. Adam (beta1 from -0.9 to 0.9, beta2 = 0.999) has
no linear prediction (its step divides by a running RMS); it is observed from the literature's start (1, 1).

    python -m benchmarks.stability                       # 4 x 32 x 32 cells per (game, rule): 16,384 cells
    python -m benchmarks.stability --lrs 12 --betas 12 --iterations 100    # a quick map
    python -m benchmarks.stability --games Normal1D --lrs 12 --betas 12    # the neural map: 1,152 cells

Neural games (Normal1D: G and D 1-16-16-1, batch 128, normal noise) have no linear prediction: every cell is
played from the same start for --neural-iterations and classified by its run, with two more classes, from W1
to the target at ten evaluations and the spread of the samples (:func:`neural_classes`): *collapses* (the
samples end spreading less than 10% of the target's std, after spreading wider) and *stalls* (W1 never came
below a quarter of the start's); *converges* ends below a quarter and within 1.5x of its best, *cycles* came
below and moved away again, *diverges* went non-finite. On Ring8 (the mixture's default networks, batch 128,
3,000 iterations) the classes come from the modes (:func:`mode_classes`): *converges* covers 7 or 8 of the 8
modes, *collapses* covers fewer and keeps its dominant mode, *cycles* covers fewer and its dominant mode hops,
*stalls* has under 10% high-quality samples at the end.

    python -m benchmarks.stability --games Ring8 --rules adam --lrs 8 --betas 8    # 256 mixture cells

Writes results/stability/ (or --out): results.md, results.json, stability.png.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import agents  # noqa: E402
import minimax  # noqa: E402
from benchmarks.reporting import atomic_write, machine, markdown_table, save_figure, save_json  # noqa: E402
from minimax.eval.analysis import CONVERGED, CYCLES, DIVERGES, spectral_radii, update_operators  # noqa: E402

CLASSES = (CONVERGED, CYCLES, DIVERGES)
SCHEDULES = ("simultaneous", "alternating:k=1", "alternating:k=2", "alternating:k=5")
#: game -> (env id, its options, the start-point option names)
GAMES = {"Dirac-GAN": ("minimax/DiracGAN-v0", {"loss": "minimax"}, ("theta", "psi")),
         "bilinear xy": ("minimax/Bilinear-v0", {"A": 1.0}, ("x0", "y0"))}  # fmt: skip
RULES = ("momentum", "adam")
#: neural games (no linear prediction: each cell is classified by its own run, see :func:`observe_neural`)
NEURAL = {"Normal1D": ("minimax/Normal1D-v0", {"hidden": 16, "batch_size": 128, "noise": "normal"}),
          "Ring8": ("minimax/Ring8-v0", {"batch_size": 128})}  # fmt: skip
NEURAL_LR_RANGE = {"momentum": (1e-3, 1.0), "adam": (1e-4, 0.1)}
NEURAL_ITERATIONS = {"Normal1D": 1000, "Ring8": 3000}  # the default T of each neural game
COLLAPSES, STALLS = "collapses", "stalls"
ALL_CLASSES = (*CLASSES, COLLAPSES, STALLS)
COLLAPSE_STD = 0.1  # generated samples spreading less than 10% of the target's std: collapsed
EVALUATIONS = 10  # W1 to the target along each neural cell's run (and at its start)
CONVERGES_AT, CYCLES_AT, DIVERGES_AT, COLLAPSES_AT, STALLS_AT = range(len(ALL_CLASSES))  # class indices in maps
NEAR = 1e-6  # the linear-regime start of the heavy-ball cells
LINEAR = 1e4  # how far the distance to the equilibrium may grow (x d_0) while a rate is measured: 1e-6 -> 1e-2


# ---- 1. Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lrs", type=int, default=32, help="step sizes, log-spaced over --lr-range (default 32)")
    p.add_argument("--lr-range", type=float, nargs=2, default=(0.01, 2.0), metavar=("LO", "HI"))
    p.add_argument("--betas", type=int, default=32, help="momentum values, evenly over [-0.95, 0.95] (default 32)")
    p.add_argument("--iterations", type=int, default=400, help="T, iterations per cell (default 400)")
    p.add_argument("--neural-iterations", type=int, default=None,
                   help=f"iterations per neural cell (default {NEURAL_ITERATIONS})")
    p.add_argument("--seeds", type=int, default=1,
                   help="neural games: seeds per cell, a second axis (each cell's class is its seeds' most common)")
    p.add_argument("--tolerance", type=float, default=0.005, help="|rho - 1| below it is 'cycles' (default 0.005)")
    p.add_argument("--games", nargs="+", choices=sorted(GAMES) + sorted(NEURAL), default=sorted(GAMES),
                   help="analytic games (default: both) and neural ones (Normal1D: step sizes over "
                        f"{NEURAL_LR_RANGE} per rule, classes from each cell's run)")
    p.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    p.add_argument("--out", type=Path, default=Path("results/stability"))
    args = p.parse_args(argv)
    for name in ("lrs", "betas"):
        if getattr(args, name) < 2:
            p.error(f"--{name} must be at least 2, got {getattr(args, name)}")
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.neural_iterations is not None and args.neural_iterations < EVALUATIONS:
        p.error(f"--neural-iterations must be at least {EVALUATIONS}, got {args.neural_iterations}")
    if args.iterations < 8 or args.iterations % 4:
        p.error(f"--iterations must be a multiple of 4, at least 8, got {args.iterations}")
    if not 0 < args.lr_range[0] < args.lr_range[1]:
        p.error(f"--lr-range must be 0 < LO < HI, got {args.lr_range}")
    return args


# ---- 2. One map: every cell of a (game, rule) in one vector env ----------------------------------


@dataclass
class Grid:
    """The cells of one map, flattened schedule-major: cell i has schedule, lr and beta."""

    lrs: np.ndarray
    betas: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(SCHEDULES), len(self.betas), len(self.lrs)

    def cells(self) -> tuple[list[str], list[float], list[float]]:
        s, b, l = np.meshgrid(np.arange(len(SCHEDULES)), self.betas, self.lrs, indexing="ij")
        return [SCHEDULES[i] for i in s.ravel()], l.ravel().tolist(), b.ravel().tolist()


def rules_for(rule: str, lrs: list[float], betas: list[float], dtype: torch.dtype = torch.float64) -> dict[str, Any]:
    per = lambda v: minimax.per_game(v, dtype=dtype)  # noqa: E731
    if rule == "momentum":
        return {p: agents.make("momentum", lr=per(lrs), momentum=per(betas)) for p in minimax.PLAYERS}
    return {p: agents.make("adam", lr=per(lrs), betas=(per(betas), 0.999)) for p in minimax.PLAYERS}


def make_env(game: str, schedules: list[str], start: float) -> Any:
    env_id, options, start_names = GAMES[game]
    return minimax.make_vector(env_id, len(schedules), schedule=schedules, dtype="float64", nonfinite_check_every=50,
                               **options, **{name: start for name in start_names})  # fmt: skip


def distance(env: Any) -> np.ndarray:
    """Each game's distance to the equilibrium (0, 0), as float64 (inf where non-finite)."""
    both = torch.cat([env.game.parameters(p) for p in minimax.PLAYERS], dim=1)
    d = both.norm(dim=1).to("cpu", torch.float64).numpy()
    return np.where(np.isfinite(d), d, np.inf)


def classify(rate: np.ndarray, tolerance: float) -> np.ndarray:
    return np.where(rate < 1 - tolerance, 0, np.where(rate > 1 + tolerance, 2, 1))


def observe(game: str, rule: str, grid: Grid, iterations: int, tolerance: float) -> dict[str, np.ndarray]:
    """Play every cell for ``iterations`` and measure its rate and class."""
    schedules, lrs, betas = grid.cells()
    start = NEAR if rule == "momentum" else 1.0
    env = make_env(game, schedules, start)
    d0 = np.sqrt(2) * start
    seen: list[np.ndarray] = []
    minimax.train(env, rules_for(rule, lrs, betas), iterations, seed=0, progress=False,
                  callbacks=[lambda i, e, h: seen.append(distance(e))], callback_every=1)  # fmt: skip
    d = np.stack(seen)  # (T, cells); a game that ended (diverged) keeps its frozen, non-finite state
    end = d[-1]
    # The linear regime: the iterations before d first exceeds LINEAR (a diverging cell then leaves it, and a
    # nonlinear game such as Dirac-GAN may settle on a bounded orbit that the linearisation knows nothing of).
    t = np.arange(1, iterations + 1)[:, None]
    outside = d > LINEAR * d0
    last = np.where(outside.any(0), outside.argmax(0), iterations)  # iterations inside, per cell
    early = np.where((t > last / 4) & (t <= last / 2), d, -np.inf).max(0)  # envelopes: a rotation's phase cancels
    late = np.where((t > 3 * last / 4) & (t <= last), d, -np.inf).max(0)
    with np.errstate(all="ignore"):
        rate = np.where(early > 0, (late / early) ** (1 / np.maximum(last / 2, 1)), 0.0)
    rate = np.where(np.isfinite(rate) & (last >= 8), rate, np.where(last < 8, np.inf, rate))
    classes = classify(rate, tolerance)
    classes = np.where(np.isinf(rate), 2, np.where(end < 1e-12 * d0, 0, classes))
    return {"rate": rate.reshape(grid.shape), "observed": classes.reshape(grid.shape)}


def w1_and_spread(env: Any, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Each game's W1 to the normal target and the std of its samples (n samples, the same noise for all; inf
    where non-finite). W1 from sorted samples against the target's quantiles at (i - 1/2) / n: the midpoint rule
    of :func:`minimax.eval.metrics.wasserstein1_to_normal`'s exact integral, for all games at once (within 5e-4
    of it, tested)."""
    task = env.game.task
    x = env.game.generate(n, torch.Generator().manual_seed(0)).reshape(env.num_envs, n).double()
    quantiles = task.mean + task.std * torch.special.ndtri((torch.arange(n, dtype=torch.float64) + 0.5) / n)
    w1 = (x.sort(dim=1).values - quantiles).abs().mean(1).numpy()
    spread = x.std(dim=1).numpy()
    finite = np.isfinite(w1) & np.isfinite(spread)
    return np.where(finite, w1, np.inf), np.where(finite, spread, np.inf)


def neural_classes(w1: np.ndarray, spread: np.ndarray, ended: np.ndarray, target_std: float) -> np.ndarray:
    """Each cell's class from its W1 and spread curves (evaluations x cells, the start first).

    diverges: non-finite, or the game ended on a non-finite move; collapses: its samples end spreading less
    than COLLAPSE_STD of the target's after spreading wider at some evaluation (a generator that starts narrow
    and stays so has not collapsed: it stalls); converges: it ends below a quarter of the start's W1 and within
    1.5x of its best; stalls: it never came below a quarter; cycles: it did, and moved away again.
    """
    start, final, best = w1[0], w1[-1], w1.min(0)
    narrow = COLLAPSE_STD * target_std
    out = np.full(final.shape, CYCLES_AT)
    out = np.where(best >= 0.25 * start, STALLS_AT, out)
    out = np.where((final < 0.25 * start) & (final <= 1.5 * best), CONVERGES_AT, out)
    out = np.where((spread[-1] < narrow) & (spread.max(0) >= narrow), COLLAPSES_AT, out)
    return np.where(ended | ~np.isfinite(final) | ~np.isfinite(spread[-1]), DIVERGES_AT, out)


def modes_of(env: Any, n: int = 2000) -> dict[str, np.ndarray]:
    """Each game's mode metrics on n samples (the same noise for all): modes covered by at least 1% of a uniform
    share, the high-quality share, the mode holding most high-quality samples, and whether all are finite."""
    from minimax.eval.mode_metrics import mode_report

    task = env.game.task
    x = env.game.generate(n, torch.Generator().manual_seed(0)).double().numpy()
    reports = [mode_report(samples, task.centers, task.std) for samples in x]
    return {"modes": np.array([r["modes_covered_1pct"] for r in reports]),
            "high_quality": np.array([r["high_quality_fraction"] for r in reports]),
            "dominant": np.array([int(np.argmax(r["histogram"])) if r["high_quality"] else -1 for r in reports]),
            "finite": np.array([r["finite"] == n for r in reports])}  # fmt: skip


def mode_classes(modes: np.ndarray, high_quality: np.ndarray, dominant: np.ndarray, finite: np.ndarray,
                 ended: np.ndarray, all_modes: int) -> np.ndarray:
    """Each cell's class on a mixture from its mode metrics (evaluations x cells, the start first).

    diverges: non-finite, or the game ended on a non-finite move; stalls: under 10% of its samples are high
    quality at the end (it never reached the modes); converges: it covers all but at most one mode; cycles: it
    covers fewer, and its dominant mode changed over the last three evaluations (mode hopping); collapses: it
    covers fewer and keeps the same dominant mode. The high-quality threshold is the mode metrics' 3 std.
    """
    recent = dominant[-3:]
    hopping = ((recent != dominant[-1]) & (recent >= 0)).any(0)  # -1: no high-quality sample at that evaluation
    out = np.where(hopping, CYCLES_AT, COLLAPSES_AT)
    out = np.where(modes[-1] >= all_modes - 1, CONVERGES_AT, out)
    out = np.where(high_quality[-1] < 0.1, STALLS_AT, out)
    return np.where(ended | ~finite[-1], DIVERGES_AT, out)


def observe_neural(game: str, rule: str, grid: Grid, iterations: int, seeds: int = 1) -> dict[str, np.ndarray]:
    """Play every cell of a neural game for ``iterations`` with seeds 0..seeds-1 and classify it by its runs.

    Within a seed every cell starts from the same parameters and data: only its hyper-parameters differ. All
    cells x seeds are games of one vector env. A cell's class is the one most of its seeds end in (ties: the
    lower class), ``agreement`` the share of its seeds in that class; its numbers are medians over seeds.
    """
    schedules, lrs, betas = (list(np.repeat(v, seeds)) for v in grid.cells())
    env_id, options = NEURAL[game]
    env = minimax.make_vector(env_id, len(schedules), schedule=schedules, nonfinite_check_every=50, **options)
    seed_of = [k % seeds for k in range(len(schedules))]
    env.reset(seed=seed_of)
    mixture = game != "Normal1D"
    read = modes_of if mixture else (lambda e: dict(zip(("w1", "spread"), w1_and_spread(e))))
    seen = [read(env)]
    history = minimax.train(env, rules_for(rule, lrs, betas, torch.float32), iterations, seed=seed_of,
                            progress=False, callbacks=[lambda i, e, h: seen.append(read(e))],
                            callback_every=max(1, iterations // EVALUATIONS))  # fmt: skip
    curves = {k: np.stack([snapshot[k] for snapshot in seen]) for k in seen[0]}
    ended = np.asarray(history.terminated, dtype=bool)
    if mixture:
        classes = mode_classes(curves["modes"], curves["high_quality"], curves["dominant"], curves["finite"], ended,
                               len(env.game.task.centers))  # fmt: skip
        numbers = {"modes": curves["modes"][-1], "high_quality": curves["high_quality"][-1]}
    else:
        classes = neural_classes(curves["w1"], curves["spread"], ended, env.game.task.std)
        numbers = {"w1": curves["w1"][-1], "w1_start": curves["w1"][0]}
    per_seed = classes.reshape(-1, seeds)
    counts = np.stack([(per_seed == c).sum(1) for c in range(len(ALL_CLASSES))], axis=1)
    modal = counts.argmax(1)
    out = {k: np.median(v.reshape(-1, seeds), axis=1).reshape(grid.shape) for k, v in numbers.items()}
    return {**out, "observed": modal.reshape(grid.shape), "agreement": (counts.max(1) / seeds).reshape(grid.shape)}


def predict(game: str, grid: Grid, tolerance: float) -> dict[str, np.ndarray]:
    """Every heavy-ball cell's spectral radius at the equilibrium, from the batched update operators."""
    schedules, lrs, betas = grid.cells()
    matrices = update_operators(lambda: make_env(game, schedules, 0.0), rules_for("momentum", lrs, betas))
    radius = spectral_radii(matrices).numpy()
    return {"radius": radius.reshape(grid.shape), "predicted": classify(radius, tolerance).reshape(grid.shape)}


def at_resolution(observed: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Cells whose observed class a neighbour (one step in lr or beta, same schedule) is predicted to have."""
    near = np.zeros(observed.shape, dtype=bool)
    for axis in (1, 2):
        for shift in (1, -1):
            neighbour = np.roll(predicted, shift, axis=axis)
            edge = [slice(None)] * 3
            edge[axis] = 0 if shift == 1 else -1
            valid = np.ones(observed.shape, dtype=bool)
            valid[tuple(edge)] = False  # np.roll wraps around: the far edge is no neighbour
            near |= valid & (neighbour == observed)
    return near


def one_map(game: str, rule: str, grid: Grid, args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    result: dict[str, Any] = {"game": game, "rule": rule, "lrs": grid.lrs, "betas": grid.betas}
    if game in NEURAL:
        result["iterations"] = args.neural_iterations or NEURAL_ITERATIONS[game]
        result["seeds"] = args.seeds
        result.update(observe_neural(game, rule, grid, result["iterations"], args.seeds))
        result["observe_s"] = time.perf_counter() - start
        return result
    result.update(observe(game, rule, grid, args.iterations, args.tolerance))
    result["observe_s"] = time.perf_counter() - start
    if rule == "momentum":
        begin = time.perf_counter()
        result.update(predict(game, grid, args.tolerance))
        result["predict_s"] = time.perf_counter() - begin
        agree = result["observed"] == result["predicted"]
        result["agree"] = agree
        result["beyond_resolution"] = ~agree & ~at_resolution(result["observed"], result["predicted"])
        finite = np.isfinite(result["rate"]) & (result["rate"] > 0)
        result["rate_error"] = np.abs(result["rate"][finite] - result["radius"][finite])
    return result


# ---- 3. Tables and the figure -------------------------------------------------------------------


def summary_rows(maps: list[dict[str, Any]], classes: int = len(CLASSES)) -> list[list[str]]:
    rows = []
    for m in maps:
        for s, schedule in enumerate(SCHEDULES):
            shares = [f"{(m['observed'][s] == c).mean():.0%}" for c in range(classes)]
            if "predicted" in m:
                cells = m["observed"][s].size
                agree = f"{int(m['agree'][s].sum())}/{cells}"
                beyond = str(int(m["beyond_resolution"][s].sum()))
                finite = np.isfinite(m["rate"][s]) & (m["rate"][s] > 0)
                error = f"{np.median(np.abs(m['rate'][s][finite] - m['radius'][s][finite])):.1e}"
            elif m["game"] in NEURAL:
                agree, beyond, error = "no linear prediction (a neural game)", "-", "-"
            else:
                agree, beyond, error = "no linear prediction", "-", "-"
            rows.append([m["game"], m["rule"], schedule, *shares, agree, beyond, error])
    return rows


def plot(path: Path, maps: list[dict[str, Any]]) -> None:
    """One panel per (game, rule) and schedule: observed classes, the predicted boundary rho = 1 over them."""
    colours = ListedColormap(["#4c9a5b", "#e8c547", "#c8553d", "#7b4fa0", "#9e9e9e"])
    fig, axes = plt.subplots(len(maps), len(SCHEDULES), figsize=(3.4 * len(SCHEDULES), 3.0 * len(maps)),
                             squeeze=False, sharey=True)  # fmt: skip
    for row, m in zip(axes, maps):
        lx, betas = np.log10(m["lrs"]), m["betas"]
        for s, ax in enumerate(row):
            ax.pcolormesh(lx, betas, m["observed"][s], cmap=colours, vmin=-0.5, vmax=len(ALL_CLASSES) - 0.5,
                          shading="nearest", rasterized=True)  # fmt: skip
            if "radius" in m and (m["radius"][s] > 1).any() and (m["radius"][s] < 1).any():
                ax.contour(lx, betas, m["radius"][s], levels=[1.0], colors="k", linewidths=1.2)
            title = f"{m['game']} · {m['rule']}\n{SCHEDULES[s]}"
            if "agree" in m:
                title += f" · agree {m['agree'][s].mean():.0%}"
            ax.set_title(title, fontsize=8)
        row[0].set_ylabel("beta1 (Adam)" if m["rule"] == "adam" else "momentum beta")
    for ax in axes[-1]:
        ax.set_xlabel("log10 step size")
    shown = len(ALL_CLASSES) if any(m["game"] in NEURAL for m in maps) else len(CLASSES)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours(i)) for i in range(shown)]
    handles.append(plt.Line2D([], [], color="k", lw=1.2))
    fig.legend(handles, [*ALL_CLASSES[:shown], "predicted ρ = 1"], loc="lower center", ncol=shown + 1, fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(path, fig)
    plt.close(fig)


# ---- 4. Main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    def grid_for(game: str, rule: str) -> Grid:
        low, high = NEURAL_LR_RANGE[rule] if game in NEURAL else args.lr_range
        return Grid(np.logspace(np.log10(low), np.log10(high), args.lrs), np.linspace(-0.95, 0.95, args.betas))

    begin = time.perf_counter()
    maps = []
    for game in args.games:
        for rule in args.rules:
            maps.append(one_map(game, rule, grid_for(game, rule), args))
            m = maps[-1]
            print(f"{game} · {rule}: {m['observed'].size:,} cells, observed in {m['observe_s']:.1f} s"
                  + (f", predicted in {m['predict_s']:.1f} s, {int(m['beyond_resolution'].sum())} disagreements "
                     "beyond the grid's resolution" if "predicted" in m else ""), flush=True)  # fmt: skip
    wall = time.perf_counter() - begin
    cells = sum(m["observed"].size for m in maps)
    shown = ALL_CLASSES if any(m["game"] in NEURAL for m in maps) else CLASSES
    neural_lengths = "".join(f"; {m['iterations']} for {m['game']} · {m['rule']} ({m['seeds']} seed(s) a cell, "
                             f"{m['agreement'].mean():.0%} of them in the cell's class)"
                             for m in maps if m["game"] in NEURAL)  # fmt: skip
    header = ["game", "rule", "schedule", *shown, "observed = predicted", "beyond resolution", "median |ρ̂ − ρ|"]
    table = markdown_table(header, summary_rows(maps, len(shown)))
    text = (f"# Stability maps\n\n{cells:,} cells ({len(maps)} maps of {len(SCHEDULES)} schedules x {args.betas} "
            f"momenta x {args.lrs} step sizes), T = {args.iterations} iterations each"
            f"{neural_lengths}, "
            f"tolerance {args.tolerance}; "
            f"{wall:.0f} s in all on {machine()}, one thread.\n\n{table}\n")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.md", text.encode())
    save_json(args.out / "results.json", {
        "cells": cells, "wall_s": wall, "iterations": args.iterations, "tolerance": args.tolerance,
        "schedules": SCHEDULES, "classes": shown,
        "maps": [{k: v for k, v in m.items() if k not in ("rate_error",)} for m in maps],
    })  # fmt: skip
    plot(args.out / "stability.png", maps)
    print(text)
    print(f"wrote {args.out}/results.md, results.json, stability.png")
    return {"maps": maps, "cells": cells, "wall_s": wall, "table": table}


if __name__ == "__main__":
    main()
