"""Stacked MNIST (1000 modes): how many digit triples a GAN produces, and how evenly.

Task ``minimax/StackedMNIST-v0``: three MNIST images drawn independently and uniformly,
stacked as the channels of a (3, 28, 28) image; its mode is the digit triple
100 d0 + 10 d1 + d2 (Metz et al. 2017, "Unrolled GANs"; VEEGAN; PacGAN Table 2).
Networks: the report's MNIST MLPs widened to 3 x 784 pixels (G 100-256-512-1024-2352
with BatchNorm, D 2352-512-256-1), noise N(0, I_100), batch 32. Methods (``--methods``):

    ns        non-saturating loss, one full-batch D step per G step (Algorithm 1), Adam(2e-4, 0.5)
    report    the report's Keras update: half batches of real and fake images as two D steps,
              fakes made in inference mode, then G; non-saturating; Adam(2e-4, 0.5)
    gan       minimax (saturating) loss, k=1, Adam(2e-4, 0.5)
    r1        non-saturating + R1 (gamma <--r1>), k=1, Adam(2e-4, 0.5)
    wgan-gp   "wasserstein:gp=10", 5 critic steps per G step, Adam(2e-4, (0.5, 0.9))

Metrics (minimax.eval.mode_metrics.stacked_mode_report) on ``--samples`` generated images
(PacGAN: 26,000): each channel classified by the cached MNIST evaluation classifier
(minimax.eval.classifier), giving a mode per sample; **modes covered** (of 1000; at least one
sample) and **KL(mode histogram || uniform)** in nats (0 for perfectly even modes,
log 1000 = 6.91 for one mode). Two floor rows: the same metrics on real stacked images
of the same size, classified (what a perfect generator scores with this classifier),
and with their true labels (no classifier error). ../shared/ANCHORS.md holds no
stacked-MNIST numbers, so the "published" column is empty; our runs use MLPs, not the
papers' DCGANs, and are short.

    python -m benchmarks.stacked_mnist                   # quick: ns, 1 seed, 2,000 iterations, 10,000 samples
                                                         # (a few minutes on 2 uncontended cores)
    python -m benchmarks.stacked_mnist --methods ns gan r1 --seeds 3 --iterations 10000
    python -m benchmarks.stacked_mnist --full            # every method, 5 seeds, 30,000 iterations (the report's
                                                         # MNIST run), 26,000 samples: CPU-days; use --device cuda

Data: --data-dir, else $MINIMAX_MNIST_DIR, else the cache folder; when only the 10k test
split is there the GAN trains on it and the output says so (the classifier then trains on
8,000 of those images; see minimax.eval.classifier). Writes results/stacked-mnist/ (or --out):
results.md, results.json, samples.png (generated images as RGB, one panel per method, first
seed, and a real panel) and curves.png (modes covered and KL over iterations).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import agents  # noqa: E402
import minimax  # noqa: E402
from benchmarks.reporting import atomic_write, markdown_table, mean_std, save_figure, save_json  # noqa: E402
from minimax.eval.classifier import TrainedClassifier, load_or_train  # noqa: E402
from minimax.eval.mode_metrics import STACKED_MODES, stacked_mode_report, stacked_report  # noqa: E402
from minimax.tasks.stacked import StackedMNIST  # noqa: E402

QUICK_METHODS = ("ns",)
QUICK_ITERATIONS, FULL_ITERATIONS = 2_000, 30_000
QUICK_SAMPLES, FULL_SAMPLES = 10_000, 26_000  # PacGAN: 26,000
HEADLINE = ("modes_covered", "kl_uniform")
GRID = 6  # 6 x 6 images per panel


# ---- 1. Methods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One named configuration: the loss family, the discriminator's schedule, how fakes are made, Adam's betas."""

    name: str
    label: str
    loss: str
    schedule: str
    fake_mode: str = "train"
    betas: tuple[float, float] = (0.5, 0.999)
    reference: dict[str, str] = field(default_factory=dict, hash=False)  # published "modes"/"kl" (none in ANCHORS)


def methods(r1: float) -> dict[str, Method]:
    return {m.name: m for m in (
        Method("ns", "non-saturating (k=1, Adam)", "non-saturating", "alternating:k=1"),
        Method("report", "report's Keras update (split D, eval fakes)", "non-saturating",
               "alternating:k=1,split=true", fake_mode="eval"),
        Method("gan", "GAN (minimax, k=1, Adam)", "minimax", "alternating:k=1"),
        Method("r1", f"non-saturating + R1 (γ={r1:g}, k=1)", f"non-saturating:r1={r1:g}", "alternating:k=1"),
        Method("wgan-gp", "WGAN-GP (gp=10, k=5, Adam β=(0.5, 0.9))", "wasserstein:gp=10", "alternating:k=5",
               betas=(0.5, 0.9)),
    )}  # fmt: skip


# ---- 2. Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study = p.add_argument_group("study")
    study.add_argument("--full", action="store_true",
                       help=f"every method, 5 seeds, {FULL_ITERATIONS:,} iterations, {FULL_SAMPLES:,} samples")
    study.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                       help=f"any of {', '.join(methods(10.0))} (default {' '.join(QUICK_METHODS)}; --full: all)")
    study.add_argument("--seeds", type=int, default=None, help="default 1 (--full: 5)")
    study.add_argument("--iterations", type=int, default=None,
                       help=f"generator updates per run (default {QUICK_ITERATIONS:,}; --full: {FULL_ITERATIONS:,})")
    study.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate, both players (the report's)")
    study.add_argument("--r1", type=float, default=10.0, help="R1 weight gamma of the r1 method")
    data = p.add_argument_group("data and networks")
    data.add_argument("--data-dir", type=Path, help="folder of the MNIST IDX files (default: $MINIMAX_MNIST_DIR, "
                      "then the cache folder)")  # fmt: skip
    data.add_argument("--no-download", action="store_true", help="never try to download missing files")
    data.add_argument("--batch-size", type=int, default=32)
    data.add_argument("--noise-dim", type=int, default=100)
    data.add_argument("--g-hidden", type=int, nargs="+", default=[256, 512, 1024], help="generator widths")
    data.add_argument("--d-hidden", type=int, nargs="+", default=[512, 256], help="discriminator widths")
    run = p.add_argument_group("run")
    run.add_argument("--samples", type=int, default=None,
                     help=f"generated images per evaluation (default {QUICK_SAMPLES:,}; --full and PacGAN: "
                          f"{FULL_SAMPLES:,})")  # fmt: skip
    run.add_argument("--evaluations", type=int, default=4, help="points of the curve after iteration 0")
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (the classifier runs on the CPU)")
    run.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    run.add_argument("--out", type=Path, default=Path("results/stacked-mnist"))
    run.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    table_of = methods(args.r1)
    args.methods = args.methods or (list(table_of) if args.full else list(QUICK_METHODS))
    unknown = [m for m in args.methods if m not in table_of]
    if unknown:
        p.error(f"--methods: unknown {unknown}; known: {', '.join(table_of)}")
    args.methods = list(dict.fromkeys(args.methods))
    args.seeds = args.seeds if args.seeds is not None else (5 if args.full else 1)
    args.iterations = args.iterations if args.iterations is not None else (
        FULL_ITERATIONS if args.full else QUICK_ITERATIONS)  # fmt: skip
    args.samples = args.samples if args.samples is not None else (FULL_SAMPLES if args.full else QUICK_SAMPLES)
    for name in ("seeds", "iterations", "samples", "evaluations", "threads", "batch_size", "noise_dim"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if any(w < 1 for w in (*args.g_hidden, *args.d_hidden)):
        p.error(f"--g-hidden and --d-hidden widths must be >= 1, got {args.g_hidden} and {args.d_hidden}")
    if not (args.lr > 0 and math.isfinite(args.lr)) or args.r1 < 0:
        p.error(f"--lr must be > 0 and --r1 >= 0, got {args.lr} and {args.r1}")
    try:
        torch.empty(0, device=args.device)
    except (RuntimeError, AssertionError) as error:
        p.error(f"--device {args.device!r} is not usable here: {error}")
    return args


def task_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"root": args.data_dir, "download": not args.no_download, "batch_size": args.batch_size,
            "noise_dim": args.noise_dim, "g_hidden": tuple(args.g_hidden),
            "d_hidden": tuple(args.d_hidden)}  # fmt: skip


# ---- 3. One run -----------------------------------------------------------------------------------


def evaluation_points(iterations: int, evaluations: int) -> list[int]:
    """Completed-iteration counts at which the curve is measured (the last always among them)."""
    return sorted({max(1, round(iterations * (i + 1) / evaluations)) for i in range(evaluations)})


def run(method: Method, seed: int, args: argparse.Namespace, classifier: TrainedClassifier,
        progress: bool) -> dict[str, Any]:  # fmt: skip
    """Train one game, measuring mode coverage along the way; plain numbers and the final images come back."""
    env = minimax.make_aec(StackedMNIST, view="torch", **task_options(args), schedule=method.schedule, loss=method.loss,
                           fake_mode=method.fake_mode, device=args.device)  # fmt: skip
    rules = {p: agents.make("adam", lr=args.lr, betas=method.betas) for p in minimax.PLAYERS}
    points = evaluation_points(args.iterations, args.evaluations)
    curve: dict[str, list[float]] = {"iteration": [], **{m: [] for m in HEADLINE}}
    spent = {"evaluation": 0.0}
    latest: dict[str, Any] = {}

    def measure(iteration: int, env: Any, history: Any = None) -> None:
        start = time.perf_counter()
        game = env.game
        # the same noise at every evaluation: the curve shows the generator, not resampling
        images = game.generate(args.samples, torch.Generator(game.device).manual_seed(10_000 + seed))[0].cpu()
        report = stacked_mode_report(images, classifier)
        curve["iteration"].append(iteration)
        for m in HEADLINE:
            curve[m].append(report[m])
        latest.update(report=report, images=images[: GRID * GRID].float().numpy())
        spent["evaluation"] += time.perf_counter() - start

    env.reset(seed=seed)  # train() resets with the same seed: the same initial state
    measure(0, env)
    start = time.perf_counter()
    history = minimax.train(env, rules, args.iterations, seed=seed, callbacks=[measure], callback_at=points,
                            progress=progress, description=f"{method.name} · seed {seed}")  # fmt: skip
    if str(args.device).startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start - spent["evaluation"]
    return {
        "method": method.name, "seed": seed, "iterations": history.iterations, "wall_time": wall,
        "iterations_per_second": history.iterations / wall if wall > 0 else math.nan,
        "diverged": bool(history.terminated.any()), "reason": history.reason, "final": latest["report"], "curve": curve,
        "images": latest["images"], "data": env.game.task.note,
    }  # fmt: skip


def floors(task: StackedMNIST, classifier: TrainedClassifier, n: int, seeds: int) -> dict[str, list[dict]]:
    """The metrics of real stacked images of size n (one draw per seed): classified, and by their true labels."""
    classified, labelled = [], []
    for s in range(seeds):
        images, modes = task.sample_with_modes(n, torch.Generator().manual_seed(1_000_000 + s))
        classified.append(stacked_mode_report(images, classifier))
        labelled.append(stacked_report(modes))
    return {"classified": classified, "labels": labelled}


# ---- 4. Tables and figures -----------------------------------------------------------------------


def table(chosen: list[Method], runs: list[dict], floor: dict[str, list[dict]]) -> tuple[str, list[dict]]:
    header = ["method", f"modes covered (of {STACKED_MODES}) ↑", "KL(modes‖uniform) ↓", "published modes / KL",
              "train s", "it/s", "diverged"]  # fmt: skip
    rows, summary = [], []
    for method in chosen:
        mine = [r for r in runs if r["method"] == method.name]
        final = [r["final"] for r in mine]
        published = " / ".join(method.reference.get(k, "—") for k in ("modes", "kl")) if method.reference else "—"
        rows.append([
            method.label, mean_std([f["modes_covered"] for f in final], 4), mean_std([f["kl_uniform"] for f in final]),
            published, mean_std([r["wall_time"] for r in mine]), mean_std([r["iterations_per_second"] for r in mine]),
            f"{sum(r['diverged'] for r in mine)}/{len(mine)}",
        ])  # fmt: skip
        summary.append({
            "method": method.name, "label": method.label, "runs": len(mine), "published": method.reference or None,
            **{f"{m}_mean": float(np.mean([f[m] for f in final])) for m in HEADLINE},
            **{f"{m}_std": float(np.std([f[m] for f in final], ddof=1)) if len(final) > 1 else 0.0 for m in HEADLINE},
        })  # fmt: skip
    for key, label in (("classified", "floor: real stacked images, classified"),
                       ("labels", "floor: real stacked images, true labels")):  # fmt: skip
        rows.append([label, mean_std([f["modes_covered"] for f in floor[key]], 4),
                     mean_std([f["kl_uniform"] for f in floor[key]]), "—", "", "", ""])  # fmt: skip
    return markdown_table(header, rows), summary


def _mosaic(images: np.ndarray) -> np.ndarray:
    """(GRID^2, 3, 28, 28) in [-1, 1] -> one RGB picture in [0, 1], 1-pixel black borders."""
    tiles = np.clip(0.5 * (images[: GRID * GRID] + 1.0), 0, 1).transpose(0, 2, 3, 1)  # (m, 28, 28, 3)
    tiles = np.concatenate([tiles, np.zeros((GRID * GRID - len(tiles), 28, 28, 3))]) if len(tiles) < GRID**2 else tiles
    tiles = np.pad(tiles.reshape(GRID, GRID, 28, 28, 3), ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
    return tiles.transpose(0, 2, 1, 3, 4).reshape(GRID * 30, GRID * 30, 3)


def plot_samples(path: Path, chosen: list[Method], runs: list[dict], real: np.ndarray, iterations: int) -> None:
    """Generated images (channels as R, G, B) of each method's first seed at the end, and real ones."""
    panels = [(f"{m.label}\n{r['final']['modes_covered']} modes, KL {r['final']['kl_uniform']:.2f}", r["images"])
              for m in chosen for r in runs if r["method"] == m.name and r["seed"] == min(
                  x["seed"] for x in runs if x["method"] == m.name)]  # fmt: skip
    panels.append(("real stacked images", real))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, images) in zip(axes[0], panels):
        ax.imshow(_mosaic(images), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Stacked MNIST after {iterations:,} iterations (first seed; channels shown as RGB)", fontsize=10)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_curves(path: Path, chosen: list[Method], runs: list[dict], floor: dict[str, list[dict]]) -> None:
    """Modes covered and KL over iterations (mean ± std over seeds), the classified real floor dotted."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, method in enumerate(chosen):
        mine = [r for r in runs if r["method"] == method.name]
        length = min(len(r["curve"]["iteration"]) for r in mine)  # a diverged run stops early
        x = np.asarray(mine[0]["curve"]["iteration"][:length])
        for ax, key in zip(axes, HEADLINE):
            y = np.array([r["curve"][key][:length] for r in mine], dtype=float)
            ax.plot(x, y.mean(0), marker=".", color=plt.cm.tab10(i % 10), label=method.label)
            if len(mine) > 1:
                ax.fill_between(x, y.mean(0) - y.std(0), y.mean(0) + y.std(0), color=plt.cm.tab10(i % 10), alpha=0.15)
    for ax, key, name in zip(axes, HEADLINE, ("modes covered (of 1000)", "KL(mode histogram ‖ uniform), nats")):
        ax.axhline(np.mean([f[key] for f in floor["classified"]]), color="k", ls=":", lw=1, label="real floor")
        ax.set(title=name, xlabel="iteration (generator updates)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


# ---- 5. Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    progress = not args.no_progress
    chosen = [methods(args.r1)[m] for m in args.methods]

    classifier = load_or_train("mnist", root=args.data_dir, progress=progress)
    task = StackedMNIST(**task_options(args))
    print(f"data: {task.note}")
    print(f"classifier: held-out accuracy {classifier.accuracy:.2%} on {classifier.heldout:,} images "
          f"({classifier.note}); weights sha256 {classifier.checksum[:16]}…")  # fmt: skip
    floor = floors(task, classifier, args.samples, args.seeds)

    jobs = [(m, seed) for m in chosen for seed in range(args.seeds)]
    start = time.perf_counter()
    runs = [run(m, seed, args, classifier, progress) for m, seed in tqdm(jobs, desc="runs", disable=not progress)]
    elapsed = time.perf_counter() - start

    text, summary = table(chosen, runs, floor)
    device = args.device if str(args.device).startswith("cuda") else f"CPU ({torch.get_num_threads()} thread(s))"
    title = (f"### Stacked MNIST (1000 modes): G {task.noise_dim}-{'-'.join(map(str, task.g_hidden))}-2352, "
             f"D 2352-{'-'.join(map(str, task.d_hidden))}-1, batch {task.batch_size}, Adam lr {args.lr:g}; "
             f"{args.iterations:,} iterations, {args.seeds} seed(s), {args.samples:,} samples per evaluation; "
             f"mean ± std over seeds; device {device}")  # fmt: skip
    notes = (f"Data: {task.note}.\nClassifier: {classifier.accuracy:.2%} held-out accuracy ({classifier.note}).\n"
             "Published: ../shared/ANCHORS.md has no stacked-MNIST numbers; the papers' runs (DCGANs, tens of "
             "thousands of iterations) are not comparable with these.\n"
             f"All runs: {elapsed:.0f} s wall (training and evaluation).")  # fmt: skip
    report = f"{title}\n\n{text}\n\n{notes}\n"
    print(report)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.md", report.encode())
    real = task.sample_data(GRID * GRID, torch.Generator().manual_seed(7), torch.device("cpu")).numpy()
    plot_samples(out / "samples.png", chosen, runs, real, args.iterations)
    plot_curves(out / "curves.png", chosen, runs, floor)
    save_json(out / "results.json", {
        "settings": vars(args), "task": task.describe(), "device": device, "classifier": classifier.describe(),
        "methods": {m.name: {"label": m.label, "loss": m.loss, "schedule": m.schedule, "fake_mode": m.fake_mode,
                             "betas": m.betas, "published": m.reference or None} for m in chosen},
        "floor": floor, "summary": summary, "elapsed": elapsed,
        "runs": [{k: v for k, v in r.items() if k != "images"} for r in runs],
    })  # fmt: skip
    print(f"wrote {out}/results.md, results.json, samples.png, curves.png")
    return {"summary": summary, "floor": floor, "runs": runs, "elapsed": elapsed}


if __name__ == "__main__":
    main()
