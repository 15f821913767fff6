"""Spectra of neural games, matrix-free, at checkpoints of a run: predicted against observed local behaviour.

For each task and update rule, one game is trained; at each checkpoint:

* predicted: the leading eigenvalues of one schedule cycle's map (parameters and rule buffers),
  by Arnoldi on finite-difference products (``minimax.eval.spectra.update_operator_spectrum``:
  a hundred cycles, where the dense ``update_operator`` needs one per parameter);
* observed: two copies of the game at that state, one moved by a tiny random displacement,
  play ``--cycles`` (T) more cycles on the same minibatches; the rate is
  ``(|d_T| / |d_{T/2}|) ** (2 / T)``, over the second half, once the displacement has turned
  towards the dominant directions. Below 1 nearby runs come together (locally stable), above 1
  they part.

The predicted radius linearises one fixed draw of minibatches; the observed rate runs on fresh
ones. Where the two agree, the operator's radius is what the game does nearby.

    python -m benchmarks.spectra                                      # Normal1D and Ring8, about a minute
    python -m benchmarks.spectra --tasks mnist --data-dir ../shared/data/mnist --checkpoints 0 200

Writes results/spectra/ (or --out): results.json, results.md, spectra.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pettingzoo  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import agents  # noqa: E402
import minimax  # noqa: E402
from benchmarks.reporting import atomic_write, markdown_table, save_figure, save_json  # noqa: E402
from minimax.eval.analysis import CycleMap  # noqa: E402
from minimax.eval.spectra import cycle_spectrum  # noqa: E402

TASKS = {  # id, options (float64 so that finite differences of 1e-6 are exact to ~1e-10)
    "normal1d": ("minimax/Normal1D-v0", {"dtype": "float64"}),
    "ring8": ("minimax/Ring8-v0", {"dtype": "float64"}),
    "mnist": ("minimax/MNIST-v0", {"dtype": "float64"}),
}
WARMUP = 2  # cycles before the first measurement, as in minimax.eval.analysis.update_operator
RULES = {  # label: (rule name, options, schedule)
    "SGD 0.05, simultaneous": ("sgd", {"lr": 0.05}, "simultaneous"),
    "SGD 0.05, alternating": ("sgd", {"lr": 0.05}, "alternating"),
    "momentum 0.05 (beta -0.3), alternating": ("momentum", {"lr": 0.05, "momentum": -0.3}, "alternating"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["normal1d", "ring8"])
    p.add_argument("--rules", nargs="+", choices=sorted(RULES), default=list(RULES))
    p.add_argument("--checkpoints", type=int, nargs="+", default=[2, 500, 2000],
                   help="iterations at which to measure (>= 2: the rules' buffers exist once both players have moved)")
    p.add_argument("--cycles", type=int, default=400, help="cycles the two nearby runs play (T; the rate is over the last T/2)")
    p.add_argument("--k", type=int, default=4, help="leading eigenvalues per operator")
    p.add_argument("--products", type=int, default=120, help="Arnoldi's largest number of products per operator")
    p.add_argument("--epsilon", type=float, default=1e-6, help="finite-difference step of the products")
    p.add_argument("--displacement", type=float, default=1e-6, help="|d_0| between the two nearby runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, help="MNIST directory (for --tasks mnist)")
    p.add_argument("--out", type=Path, default=Path("results/spectra"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for name, least in (("cycles", 2), ("k", 1), ("products", 1)):
        if getattr(args, name) < least:
            p.error(f"--{name} must be >= {least}, got {getattr(args, name)}")
    if args.products < args.k:
        p.error(f"--products must be >= --k ({args.k}): Arnoldi needs at least k products, got {args.products}")
    if any(c < WARMUP for c in args.checkpoints):
        p.error(f"--checkpoints must be >= {WARMUP} (the rules' buffers exist once both players have moved), "
                f"got {args.checkpoints}")
    args.checkpoints = sorted(set(args.checkpoints))
    return args


def make_env(task: str, schedule: str, data_dir: Path | None) -> Any:
    env_id, options = TASKS[task]
    kind = "parallel" if schedule == "simultaneous" else "aec"
    extra = {} if kind == "parallel" else {"schedule": schedule}
    if task == "mnist" and data_dir is not None:
        extra["root"] = str(data_dir)
    return pettingzoo.make(kind, env_id, view="torch", **options, **extra)


def measure(cycle: CycleMap, args: argparse.Namespace) -> dict[str, Any]:
    """Predicted leading eigenvalues and the observed rate at the cycle map's kept point."""
    started = time.perf_counter()
    spectrum = cycle_spectrum(cycle, args.k, epsilon=args.epsilon, max_products=args.products, seed=args.seed)
    predicted_s = time.perf_counter() - started
    direction = torch.randn(cycle.state.numel(), generator=torch.Generator().manual_seed(args.seed + 1), dtype=torch.float64)
    displaced = cycle.state + args.displacement * direction / direction.norm()
    half = args.cycles // 2

    def apart(cycles: int) -> float:
        return float((cycle.play(displaced, cycles) - cycle.play(cycle.state, cycles)).norm())

    # the rate over the second half: by then the displacement has turned towards the dominant directions
    rate = (apart(args.cycles) / apart(half)) ** (1 / (args.cycles - half))
    cycle.rewind()
    return {"values": [[float(z.real), float(z.imag)] for z in spectrum.values], "radius": spectrum.radius,
            "residual": float(spectrum.residuals.max()), "converged": spectrum.converged, "products": spectrum.products,
            "dimension": cycle.state.numel(), "observed_rate": rate, "predicted_s": predicted_s}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    jobs = [(t, r) for t in args.tasks for r in args.rules]
    for task, label in tqdm(jobs, desc="games", disable=args.no_progress):
        name, options, schedule = RULES[label]
        rules = {p: agents.make(name, **options) for p in minimax.PLAYERS}
        cycle = CycleMap(lambda: make_env(task, schedule, args.data_dir), rules, warmup=WARMUP, seed=args.seed)
        at = WARMUP
        for checkpoint in args.checkpoints:
            cycle.advance(checkpoint - at)
            at = checkpoint
            if not torch.isfinite(cycle.state).all():
                rows.append({"task": task, "rule": label, "iteration": checkpoint, "diverged": True})
                break
            rows.append({"task": task, "rule": label, "iteration": checkpoint, "diverged": False, **measure(cycle, args)})

    header = ["task", "rule", "iteration", "parameters + buffers", "predicted |λ| (leading)", "observed rate",
              "ratio", "Arnoldi products", "max residual", "seconds"]
    table = []
    for r in rows:
        if r["diverged"]:
            table.append([r["task"], r["rule"], str(r["iteration"]), "diverged", "", "", "", "", "", ""])
            continue
        mods = ", ".join(f"{np.hypot(*z):.5f}" for z in r["values"][:3])
        table.append([r["task"], r["rule"], str(r["iteration"]), str(r["dimension"]), mods, f"{r['observed_rate']:.5f}",
                      f"{r['observed_rate'] / r['radius']:.4f}", f"{r['products']}{'' if r['converged'] else ' (not converged)'}",
                      f"{r['residual']:.1e}", f"{r['predicted_s']:.2f}"])  # fmt: skip
    text = (f"Matrix-free spectra (one thread, float64; {args.k} leading eigenvalues, at most {args.products} products; "
            f"observed over cycles {args.cycles // 2}-{args.cycles} from a displacement of {args.displacement:g})\n\n"
            + markdown_table(header, table))  # fmt: skip
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.md", (text + "\n").encode())
    save_json(args.out / "results.json", {"settings": vars(args), "rows": rows})
    plot(args.out / "spectra.png", rows)
    print(f"wrote {args.out}/results.md, results.json, spectra.png")
    return {"rows": rows}


def plot(path: Path, rows: list[dict[str, Any]]) -> None:
    """Predicted radius against observed rate, one point per (task, rule, checkpoint); the diagonal is agreement."""
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    measured = [r for r in rows if not r["diverged"]]
    markers = {t: m for t, m in zip(sorted({r["task"] for r in measured}), "osD^v")}
    colors = {label: plt.cm.tab10(i) for i, label in enumerate(sorted({r["rule"] for r in measured}))}
    for r in measured:
        ax.scatter(r["radius"], r["observed_rate"], marker=markers[r["task"]], color=colors[r["rule"]], s=36)
    values = [v for r in measured for v in (r["radius"], r["observed_rate"])]
    if values:
        lo, hi = min(values), max(values)
        pad = 0.05 * (hi - lo or 1)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k:", lw=1)
    for task, marker in markers.items():
        ax.scatter([], [], marker=marker, color="gray", label=task)
    for label, color in colors.items():
        ax.scatter([], [], marker="s", color=color, label=label)
    ax.axhline(1, color="k", lw=0.6)
    ax.axvline(1, color="k", lw=0.6)
    ax.set(xlabel="predicted: leading |eigenvalue| of one cycle", ylabel="observed: growth rate of nearby runs per cycle",
           title="Neural games: predicted against observed")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


if __name__ == "__main__":
    main()
