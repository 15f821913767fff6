"""MNIST and Fashion-MNIST (report chapters 3.2 and 3.3), measured with a classifier instead of by eye.

The report's networks (G 100-256-512-1024-784 with BatchNorm, D 784-512-256-1),
Adam(2e-4, beta1 0.5), batch 32. ``--preset report`` trains exactly as its Keras
code did (per iteration: a half batch of real images and a half batch of generated
ones as two discriminator updates, then the generator on a full batch; the
discriminator's fakes made in inference mode); ``--preset default`` is
Algorithm 1 on full minibatches. Samples are scored by a small classifier trained
once per data set and cached (see minimax.eval.classifier): classifier score, Frechet
distance on its features, classes produced, KL(class histogram || uniform),
precision and recall, each next to its real-versus-real floor.

    python -m benchmarks.mnist                                   # quick: report setup, 2,000 iterations (a few minutes, 2 cores)
    python -m benchmarks.mnist --iterations 30000                # the report's MNIST run (grids at 0, 2k, 5k, 10k, 30k)
    python -m benchmarks.mnist --dataset fashion --iterations 100000   # its Fashion-MNIST run (0, 1k, 10k, 50k, 100k)
    python -m benchmarks.mnist --study --iterations 3000         # k in {1, 2, 5} x {adam, momentum} x {minimax, non-saturating}
    python -m benchmarks.mnist --device cuda                     # on a GPU
    python -m benchmarks.mnist --dataset fashion --iterations 100000 --checkpoint-every 5000   # interruptible;
                                                                 # the same command with --resume continues it

Data: --data-dir, else $MINIMAX_MNIST_DIR / $MINIMAX_FASHION_MNIST_DIR, else the cache
folder (Fashion-MNIST: also Debian's /usr/share/datasets/fashion-mnist). When only
the MNIST test split is present, the GAN trains on it and the output says so.
Writes results/mnist/ (or --out): results.md, results.json, grids.png, curves.png.
"""

from __future__ import annotations

import argparse
import itertools
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
from minimax.render import panels  # noqa: E402
import minimax.training.checkpoint as ckpt  # noqa: E402
from benchmarks.reporting import atomic_write, markdown_table, mean_std, save_figure, save_json  # noqa: E402
from minimax.eval.classifier import TrainedClassifier, load_or_train  # noqa: E402
from minimax.eval.image_metrics import image_report, real_floor  # noqa: E402
from minimax.tasks.images import PRESETS, REPORT_GRID_ITERATIONS, FashionMNIST  # noqa: E402

TASKS = {"mnist": minimax.MNIST, "fashion": FashionMNIST}
METRICS = ("classifier_score", "frechet_distance", "classes", "kl_uniform", "precision", "recall")
HEADERS = ("classifier score ↑", "Fréchet dist. ↓", "classes ↑", "KL(hist‖unif) ↓", "precision ↑", "recall ↑")
GRID_SIZE = 5  # 5 x 5 samples per grid, as the report's figures


# ---- 1. Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=sorted(TASKS), default="mnist")
    p.add_argument("--data-dir", type=Path, help="folder of the IDX files (default: env var, then cache)")
    p.add_argument("--no-download", action="store_true", help="never try to download missing files")
    p.add_argument("--preset", choices=sorted(PRESETS), default="report", help="how the discriminator is updated")
    p.add_argument("--iterations", type=int, default=2000, help="generator updates per run")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--study", action="store_true", help="the schedule comparison grid instead of one setup")
    p.add_argument("--ks", type=int, nargs="+", default=None, help="discriminator steps per generator step (study: 1 2 5)")
    p.add_argument("--rules", nargs="+", default=None, choices=["adam", "momentum"], help="(study: adam momentum)")
    p.add_argument("--losses", nargs="+", default=None, help="loss families (study: minimax non-saturating)")
    p.add_argument("--adam-lr", type=float, default=2e-4)
    p.add_argument("--adam-betas", type=float, nargs=2, default=(0.5, 0.999))
    p.add_argument("--momentum-lr", type=float, default=1e-2)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--grid-at", type=int, nargs="+", default=None,
                   help="iterations of the sample grids (default: the report's, up to --iterations, and the last)")
    p.add_argument("--evaluations", type=int, default=6, help="metric points along each run (besides the grids)")
    p.add_argument("--samples", type=int, default=10_000, help="generated samples per evaluation")
    p.add_argument("--device", default="auto", help="auto (cuda when available, else cpu), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    p.add_argument("--out", type=Path, default=None, help="default results/mnist or results/fashion-mnist")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="ITERATIONS",
                   help="save each run's whole state (and its evaluations so far) under OUT/checkpoints/ every "
                        "ITERATIONS iterations, so a long run survives an interruption")
    p.add_argument("--resume", action="store_true",
                   help="continue each run from its newest checkpoint in OUT/checkpoints/ (bitwise as if never "
                        "interrupted); a run without one starts afresh")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for name in ("iterations", "seeds", "samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        p.error(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.evaluations < 0:
        p.error(f"--evaluations must be >= 0, got {args.evaluations}")
    if args.samples < 2 * GRID_SIZE**2:
        p.error(f"--samples must be at least {2 * GRID_SIZE ** 2}, got {args.samples}")
    args.ks = args.ks or ([1, 2, 5] if args.study else [1])
    args.rules = args.rules or (["adam", "momentum"] if args.study else ["adam"])
    args.losses = args.losses or (["minimax", "non-saturating"] if args.study else [PRESETS[args.preset]["training"]["loss"]])
    if any(k < 1 for k in args.ks):
        p.error(f"--ks must all be >= 1, got {args.ks}")
    for loss in args.losses:
        try:
            minimax.make_loss(loss)
        except ValueError as error:
            p.error(f"--losses: {error}")
    report_points = [i for i in REPORT_GRID_ITERATIONS[args.dataset] if i <= args.iterations]
    args.grid_at = sorted(set(args.grid_at if args.grid_at is not None else report_points) | {0, args.iterations})
    if any(not 0 <= i <= args.iterations for i in args.grid_at):
        p.error(f"--grid-at must lie in [0, {args.iterations}], got {args.grid_at}")
    args.device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        torch.empty(0, device=args.device)
    except (RuntimeError, AssertionError) as error:
        p.error(f"--device {args.device!r} is not usable here: {error}")
    args.out = args.out or Path("results") / ("mnist" if args.dataset == "mnist" else "fashion-mnist")
    return args


# ---- 2. The configurations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One setup: the discriminator's schedule, both players' update rule, the loss family."""

    k: int
    rule: str
    rule_options: dict[str, Any] = field(hash=False)
    loss: str
    preset: str

    @property
    def schedule(self) -> str:
        split = ",split=true" if "split=true" in PRESETS[self.preset]["training"]["schedule"] else ""
        return f"alternating:k={self.k}{split}"

    @property
    def label(self) -> str:
        return f"k={self.k} · {self.rule} · {self.loss}"


def configurations(args: argparse.Namespace) -> list[Config]:
    options = {"adam": {"lr": args.adam_lr, "betas": tuple(args.adam_betas)},
               "momentum": {"lr": args.momentum_lr, "momentum": args.momentum}}
    return [Config(k, rule, options[rule], loss, args.preset)
            for k, rule, loss in itertools.product(args.ks, args.rules, args.losses)]


# ---- 3. Evaluation ---------------------------------------------------------------------------------


def scores(classifier: TrainedClassifier, images: torch.Tensor, real: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """Every metric of generated ``images`` against the real reference (probabilities, features)."""
    if not torch.isfinite(images).all():
        return {m: math.nan for m in METRICS}
    probs, features = classifier.evaluate(images)
    return image_report(real[0], real[1], probs, features)


# ---- 4. One run ------------------------------------------------------------------------------------


def run_directory(args: argparse.Namespace, config: Config, seed: int) -> Path:
    """Where one run keeps its checkpoints and its evaluations so far (``--checkpoint-every``, ``--resume``)."""
    slug = "".join(c if c.isalnum() else "-" for c in config.label).strip("-")
    return args.out / "checkpoints" / f"{slug}-seed{seed}"


EVALUATIONS = "mnist benchmark evaluations"  # the kind of the evaluations file (checkpoint layout, no pickles)


def save_evaluations(path: Path, curve: dict[str, list[float]], grids: dict[int, np.ndarray], spent: dict[str, float]) -> None:
    """The evaluations so far, beside the run's checkpoints: atomic, checksummed, plain data and arrays only."""
    ckpt.save_record(path, {"curve": curve, "grids": {str(i): g for i, g in grids.items()}, "spent": spent}, EVALUATIONS)


def load_evaluations(path: Path, up_to: int) -> dict[str, Any] | None:
    """The evaluations a checkpointed run made up to iteration ``up_to`` (later ones are redone on resume).

    The file is checked as a checkpoint is (magic, checksum, kind, tensors only): a damaged or
    foreign file is a :class:`minimax.training.checkpoint.CheckpointError`, never code run.
    """
    if not path.exists():
        return None
    saved = ckpt.load_record(path, EVALUATIONS)
    curve, grids, spent = saved.get("curve"), saved.get("grids"), saved.get("spent")
    if not (isinstance(curve, dict) and isinstance(grids, dict) and isinstance(spent, dict)) or "iteration" not in curve:
        raise ckpt.CheckpointError(path, "evaluations without their curve, grids and times")
    keep = [j for j, i in enumerate(curve["iteration"]) if i <= up_to]
    return {"curve": {k: [v[j] for j in keep] for k, v in curve.items()},
            "grids": {int(i): np.asarray(g) for i, g in grids.items() if int(i) <= up_to}, "spent": spent}  # fmt: skip


def run(config: Config, seed: int, args: argparse.Namespace, classifier: TrainedClassifier,
        real: tuple[torch.Tensor, torch.Tensor], progress: bool) -> dict[str, Any]:
    """Train one game; metrics at the evaluation points, 5x5 sample grids at the grid points.

    With ``--checkpoint-every`` the run's state goes to :func:`run_directory` and each
    evaluation is saved beside it; ``--resume`` continues from the newest checkpoint. An
    evaluation draws from its own random stream, so a resumed run is the uninterrupted one.
    """
    env = minimax.make_aec(TASKS[args.dataset], view="torch", root=args.data_dir, download=not args.no_download,
                           schedule=config.schedule, loss=config.loss,
                           fake_mode=PRESETS[config.preset]["training"]["fake_mode"], device=args.device)
    rules = {p: agents.make(config.rule, **config.rule_options) for p in minimax.PLAYERS}
    every = max(1, args.iterations // max(1, args.evaluations))
    curve_points = set(range(every, args.iterations + 1, every)) if args.evaluations else set()
    points = curve_points | set(args.grid_at) | {args.iterations}
    curve: dict[str, list[float]] = {"iteration": [], **{m: [] for m in METRICS}}
    grids: dict[int, np.ndarray] = {}
    spent = {"evaluation": 0.0}
    directory = run_directory(args, config, seed) if args.checkpoint_every or args.resume else None
    evaluations_file = directory / "evaluations.ckpt" if directory is not None else None

    def evaluate(iteration: int, env: Any, during_training: bool = False) -> None:
        start = time.perf_counter()
        game = env.game
        images = game.generate(args.samples, torch.Generator(game.device).manual_seed(10_000 + seed))[0]
        if iteration in args.grid_at:
            grids[iteration] = images[: GRID_SIZE**2, 0].float().cpu().numpy()
        metrics = scores(classifier, images, real)
        curve["iteration"].append(iteration)
        for m in METRICS:
            curve[m].append(metrics[m])
        if during_training:  # train()'s wall time includes its callbacks; the table reports training alone
            spent["evaluation"] += time.perf_counter() - start
        if evaluations_file is not None:
            save_evaluations(evaluations_file, curve, grids, spent)

    def checkpoint(iteration: int, env: Any, history: Any = None) -> None:
        if iteration in points:
            evaluate(iteration, env, during_training=True)

    env.reset(seed=seed)
    restored = ckpt.load_latest(directory) if directory is not None else None
    if restored is not None and not args.resume:
        raise SystemExit(f"{directory} already holds a checkpoint ({restored.path.name}): pass --resume to continue "
                         f"it, or remove the folder to start afresh")
    if restored is None:
        if evaluations_file is not None and evaluations_file.exists():
            evaluations_file.unlink()  # a fresh start: evaluations of an earlier attempt must not mix in
        evaluate(0, env)
    else:
        ckpt.restore(env, rules, restored)
        saved = load_evaluations(evaluations_file, restored.iteration) or {"curve": curve, "grids": {}, "spent": spent}
        curve.update(saved["curve"])
        grids.update(saved["grids"])
        spent.update(saved["spent"])
        if restored.iteration in points and restored.iteration not in curve["iteration"]:
            evaluate(restored.iteration, env)  # interrupted between the checkpoint and its evaluation
        print(f"{config.label} · seed {seed}: resuming at iteration {restored.iteration:,} from {restored.path}")
    history = minimax.train(env, rules, args.iterations, seed=None if restored is not None else seed,
                            callbacks=[checkpoint], callback_at=points - {0}, progress=progress,
                            description=f"{config.label} · seed {seed}", checkpoint_dir=directory,
                            checkpoint_every=args.checkpoint_every, resume=restored is not None)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = history.wall_time - spent["evaluation"]
    final = {m: curve[m][-1] for m in METRICS}
    return {
        "label": config.label, "schedule": config.schedule, "rule": config.rule, "loss": config.loss, "seed": seed,
        "iterations": history.iterations, "wall_time": wall, "iterations_per_second": history.iterations / wall,
        "diverged": bool(history.terminated.any()), "reason": history.reason, "metrics": final, "curve": curve, "grids": grids,
        "losses": {p: history.game(0)[f"{p}_loss"] for p in minimax.PLAYERS},
        "d_real": history.game(0)["d_real"], "d_fake": history.game(0)["d_fake"], "data": env.game.task.note,
        "resumed_at": history.settings.get("resumed_at", []),
    }


# ---- 5. Tables and figures -----------------------------------------------------------------------


def table(configs: list[Config], runs: list[dict], floor: dict[str, float], floor_note: str) -> str:
    header = ["setup", *HEADERS, "wall s (training)", "it/s", "diverged"]
    rows = []
    for config in configs:
        mine = [r for r in runs if r["label"] == config.label]
        rows.append([config.label, *[mean_std([r["metrics"][m] for r in mine], 4) for m in METRICS],
                     mean_std([r["wall_time"] for r in mine], 3), mean_std([r["iterations_per_second"] for r in mine], 3),
                     f"{sum(r['diverged'] for r in mine)}/{len(mine)}"])
    rows.append([f"floor: {floor_note}", *[f"{floor[m]:.4g}" for m in METRICS], "", "", ""])
    return markdown_table(header, rows)


def plot_grids(path: Path, run: dict, title: str) -> None:
    """The report's figures 17-21 / 23-27: 5x5 samples at each grid iteration, side by side."""
    points = sorted(run["grids"])
    fig, axes = plt.subplots(1, len(points), figsize=(2.6 * len(points), 2.9), squeeze=False)
    for ax, it in zip(axes[0], points):
        panels.draw_grid(ax, run["grids"][it].reshape(GRID_SIZE * GRID_SIZE, 28, 28), columns=GRID_SIZE)
        ax.set_title(f"iteration {it:,}", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_curves(path: Path, configs: list[Config], runs: list[dict], floor: dict[str, float]) -> None:
    """Each metric over iterations (mean ± std over seeds, floor dotted), then both players' losses."""
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5))
    panels = list(zip(METRICS, HEADERS)) + [("losses", "losses (solid D, dashed G)"), ("d", "mean D(x), D(G(z))")]
    for i, config in enumerate(configs):
        mine = [r for r in runs if r["label"] == config.label and r["iterations"] == runs[0]["iterations"]]
        if not mine:
            continue
        color = plt.cm.tab10(i % 10)
        x = np.asarray(mine[0]["curve"]["iteration"])
        for ax, (metric, _) in zip(axes.flat, panels[: len(METRICS)]):
            y = np.array([r["curve"][metric] for r in mine], dtype=float)
            ax.plot(x, y.mean(0), color=color, marker=".", label=config.label)
            if len(mine) > 1:
                ax.fill_between(x, y.mean(0) - y.std(0), y.mean(0) + y.std(0), color=color, alpha=0.15)
        for key, style, ax in (("discriminator", "-", axes.flat[6]), ("generator", "--", axes.flat[6]),
                               ("d_real", "-", axes.flat[7]), ("d_fake", "--", axes.flat[7])):
            series = np.array([r["losses"][key] if key in r["losses"] else r[key] for r in mine])
            smooth = max(1, series.shape[1] // 200)
            curve = np.array([np.convolve(row, np.ones(smooth) / smooth, mode="valid") for row in series])
            ax.plot(np.arange(curve.shape[1]) + smooth, curve.mean(0), style, color=color, lw=1)
    for ax, (metric, name) in zip(axes.flat, panels):
        if metric in floor:
            ax.axhline(floor[metric], color="k", ls=":", lw=1, label="real floor")
        ax.set(title=name, xlabel="iteration (generator updates)")
    axes.flat[1].set_yscale("log")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


# ---- 6. Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = configurations(args)
    progress = not args.no_progress

    # The evaluation classifier and the real reference: every metric gets its real-versus-real floor.
    classifier = load_or_train(args.dataset, root=args.data_dir, progress=progress)
    task = TASKS[args.dataset](root=args.data_dir, download=not args.no_download)
    print(f"data: {task.note}")
    print(f"classifier: held-out accuracy {classifier.accuracy:.2%} on {classifier.heldout:,} images "
          f"({classifier.note}); weights sha256 {classifier.checksum[:16]}…")
    order = torch.randperm(len(task), generator=torch.Generator().manual_seed(0))
    n_real = min(len(task), 2 * args.samples)
    real_images = task.scaled()[order[:n_real]]
    real_probs, real_features = classifier.evaluate(real_images)
    floor = real_floor(real_probs, real_features)
    half = n_real // 2
    floor_note = f"real vs real, {half:,} vs {half:,}"
    reference = (real_probs[: min(n_real, args.samples)], real_features[: min(n_real, args.samples)])

    jobs = [(c, seed) for c in configs for seed in range(args.seeds)]
    runs = [run(c, seed, args, classifier, reference, progress) for c, seed in tqdm(jobs, desc="runs", disable=not progress)]

    text = table(configs, runs, floor, floor_note)
    device = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    title = (f"{task.name}, preset {args.preset}, {args.iterations:,} iterations, batch {task.batch_size}, "
             f"{args.seeds} seed(s), {args.samples:,} generated samples vs {len(reference[0]):,} real; device {device}.\n"
             f"Data: {task.note}. Classifier: {classifier.accuracy:.2%} held-out accuracy ({classifier.note}).")
    report = f"{title}\n\n{text}\n"
    print(report)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.md", report.encode())
    first = runs[0]
    plot_grids(out / "grids.png", first, f"{task.name} · {first['label']} · preset {args.preset} · seed {first['seed']}")
    plot_curves(out / "curves.png", configs, runs, floor)
    save_json(out / "results.json", {
        "settings": vars(args), "task": task.describe(), "device": device, "classifier": classifier.describe(),
        "floor": floor, "floor_note": floor_note,
        "runs": [{k: v for k, v in r.items() if k not in ("grids", "losses", "d_real", "d_fake")} for r in runs],
    })
    print(f"wrote {out}/results.md, results.json, grids.png, curves.png")
    return {"runs": runs, "floor": floor, "classifier": classifier.describe()}


if __name__ == "__main__":
    main()
