"""Mode collapse on mixtures of Gaussians: which losses, schedules and update rules cover every mode.

Tasks: Ring8 (8 Gaussians on the unit circle, std 0.01, The Numerics of GANs' 4 x 16 ReLU
networks, noise dim 16, batch 512) and Grid25 (25 Gaussians on {-4, -2, 0, 2, 4}^2, std
0.05, PacGAN's networks: generator 4 x 400 ReLU + BatchNorm, discriminator 3 x 200 maxout(5),
noise dim 2, batch 100), and Grid16 (``--task grid16``: the same grid 4 x 4, centres {-3, -1, 1, 3}^2,
for SGA's claim, Balduzzi et al. 2018: RMSProp collapses to a few modes, SGA finds all 16; its
networks are Grid25's). Methods, each a small named config (``--methods``):

    gan            GAN, minimax (saturating) loss, alternating k=1, Adam
    ns             non-saturating loss, alternating k=1, Adam
    wgan-gp        "wasserstein:gp=10", alternating k=5 critic steps, Adam betas (0.5, 0.9)
    r1             "non-saturating:r1=<--r1>", alternating k=1, Adam
    k5             minimax loss, 5 discriminator steps per generator step ("alternating:k=5"; the
                   cheap stand-in for an unrolled/near-optimal discriminator)
    pacgan2        the gan config with a packed discriminator, pack=2 (Lin et al. 2018)
    pacgan3        the same, pack=3
    pacgan4        the same, pack=4
    optimistic     minimax loss, simultaneous moves (Parallel env), optimistic Adam per player
    consensus      minimax loss, Parallel env, consensus (gamma <--gamma>) scaled by RMSProp
    rmsprop        minimax loss, Parallel env, RMSProp per player (SGA's baseline)
    sga            minimax loss, Parallel env, SGA (lambda 1, sign rule) scaled by RMSProp
    extragradient  minimax loss, Parallel env, extragradient with RMSProp scaling at both steps

The game-aware rules of ``agents`` take plain gradient steps; as The Numerics of GANs ran
consensus (RMSProp on the adjusted field), ``consensus`` and ``sga`` feed the rule's direction
(computed with lr 1) to a per-player RMSProp, and ``extragradient`` rescales both of its steps
by RMSProp (Gidel et al.'s "ExtraAdam", with RMSProp); see :class:`RMSScaled` and
:class:`ExtraRMSprop`. Every method uses ``--lr`` (Adam betas (0.5, 0.999) unless said).

Metrics (minimax.eval.mode_metrics, PacGAN's definitions) on ``--samples`` generated samples
(2500 as PacGAN): modes covered (a mode with at least one sample within 3 std of it), the
fraction of high-quality samples, and the reverse KL of the high-quality samples' mode
histogram to uniform. Every table has a *floor* row: the same metrics on a sample of the
target itself (every mode, 98.9% high quality in 2D, reverse KL ~ (K-1)/(2n)).

Published numbers (../shared/ANCHORS.md) sit next to ours: plain GAN 6.3/8 and 17.3/25 modes,
PacGAN2 7.9/8 and 23.8/25 (PacGAN, Table 1; their code's configs: the same two targets, their
networks on both, i.e. G 4 x 400 ReLU + BatchNorm and D 3 x 200 maxout(5), 2D noise, batch 100,
Adam 1e-4 beta1 0.8, a fixed training set of 100k samples, 400 epochs = 400k iterations), and for
consensus on the ring "all 8" (The Numerics of GANs, a figure, RMSProp 1e-4, gamma 10, 50k
iterations). "—" where there is none. Our quick runs are far shorter and use a larger learning
rate; they are not reproductions of those numbers. The ring with PacGAN's networks:
``--hidden 400 --d-hidden 200 --d-depth 3 --d-maxout 5 --g-batch-norm on --noise-dim 2 --batch-size 100``.

    python -m benchmarks.modes                  # quick: ring8, gan/pacgan2/consensus, 2 seeds,
                                                # 2000 iterations at lr 1e-3; about 2-3 minutes on 2 cores
    python -m benchmarks.modes --task grid25 --methods gan pacgan2 --hidden 128 --d-hidden 128
    python -m benchmarks.modes --full           # both tasks, every method, 10 seeds, lr 1e-4, the literature's
                                                # iterations (ring8 50k as Numerics of GANs, grid25 400k as
                                                # PacGAN): CPU-days at PacGAN's widths; shrink with --iterations
    python -m benchmarks.modes --full --checkpoint-every 1000 --hours 8   # a sitting of 8 hours, checkpointed;
    python -m benchmarks.modes --full --checkpoint-every 1000 --hours 8 --resume   # the next, until done

Writes results/modes/ (or --out): results.md, results.json, and per task samples_<task>.png
(generated samples over the modes at chosen iterations, one row per method, first seed) and
coverage_<task>.png (modes covered and high-quality fraction over iterations, mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
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
from minimax.training import checkpoint as ckpt  # noqa: E402
from minimax.render import panels  # noqa: E402
from benchmarks.reporting import atomic_write, markdown_table, mean_std, save_figure, save_json  # noqa: E402
from minimax.eval.mode_metrics import TARGET_HIGH_QUALITY_2D, mode_report  # noqa: E402

PLAYERS = minimax.PLAYERS
TASKS = {"ring8": "minimax/Ring8-v0", "grid25": "minimax/Grid25-v0", "grid16": "minimax/Grid25-v0"}
#: What a task sets on its registered env: grid16 is the grid's 4 x 4 form (SGA's figure, Balduzzi et al. 2018)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {"grid16": {"side": 4}}
QUICK_METHODS = ("gan", "pacgan2", "consensus")
# Numerics of GANs; PacGAN (400 epochs x 1000 steps); grid16: ANCHORS gives no budget, so --full runs grid25's
FULL_ITERATIONS = {"ring8": 50_000, "grid25": 400_000, "grid16": 400_000}
QUICK_ITERATIONS = 2000
HEADLINE = ("modes_covered", "high_quality_fraction", "reverse_kl")


# ---- 1. Methods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One named configuration: loss, who moves when, how the players update, the discriminator's packing."""

    name: str
    label: str
    loss: str
    schedule: str | None  # an AEC schedule, or None for the Parallel env (simultaneous moves)
    rule: str  # "adam", "optimistic-adam", "rmsprop", or a joint rule: "consensus", "sga", "extragradient"
    betas: tuple[float, float] = (0.5, 0.999)
    pack: int = 1
    reference: dict[str, str] = field(default_factory=dict, hash=False)  # task -> published modes covered
    reference_quality: dict[str, str] = field(default_factory=dict, hash=False)  # task -> published high quality %
    reference_kl: dict[str, str] = field(default_factory=dict, hash=False)  # task -> published reverse KL

    @property
    def joint(self) -> bool:
        return self.rule in ("consensus", "sga", "extragradient")


#: PacGAN's Table 1 (../shared/ANCHORS.md), per packing: task -> (modes covered, high quality %, reverse KL)
PACGAN_TABLE1 = {1: {"ring8": ("6.3", "98.2", "0.45"), "grid25": ("17.3", "94.8", "0.70")},
                 2: {"ring8": ("7.9", "95.6", "0.07"), "grid25": ("23.8", "91.3", "0.13")},
                 3: {"ring8": ("7.8", "97.7", "0.10"), "grid25": ("24.6", "94.2", "0.06")},
                 4: {"ring8": ("7.8", "95.9", "0.07"), "grid25": ("24.8", "93.6", "0.04")}}  # fmt: skip


def _pacgan(pack: int) -> dict[str, dict[str, str]]:
    """The Method reference fields of PacGAN's row for this packing (1: their plain GAN)."""
    table = PACGAN_TABLE1[pack]
    return {name: {task: row[j] for task, row in table.items()}
            for j, name in enumerate(("reference", "reference_quality", "reference_kl"))}  # fmt: skip


def methods(r1: float, gamma: float) -> dict[str, Method]:
    return {m.name: m for m in (
        Method("gan", "GAN (minimax, k=1, Adam)", "minimax", "alternating:k=1", "adam", **_pacgan(1)),
        Method("ns", "non-saturating (k=1, Adam)", "non-saturating", "alternating:k=1", "adam"),
        Method("wgan-gp", "WGAN-GP (gp=10, k=5, Adam β=(0.5, 0.9))", "wasserstein:gp=10", "alternating:k=5", "adam",
               betas=(0.5, 0.9)),
        Method("r1", f"non-saturating + R1 (γ={r1:g}, k=1, Adam)", f"non-saturating:r1={r1:g}", "alternating:k=1",
               "adam"),
        Method("k5", "GAN, k=5 D steps (Adam)", "minimax", "alternating:k=5", "adam"),
        Method("pacgan2", "PacGAN2 (GAN, pack=2)", "minimax", "alternating:k=1", "adam", pack=2, **_pacgan(2)),
        Method("pacgan3", "PacGAN3 (GAN, pack=3)", "minimax", "alternating:k=1", "adam", pack=3, **_pacgan(3)),
        Method("pacgan4", "PacGAN4 (GAN, pack=4)", "minimax", "alternating:k=1", "adam", pack=4, **_pacgan(4)),
        Method("optimistic", "optimistic Adam (simultaneous)", "minimax", None, "optimistic-adam"),
        Method("consensus", f"consensus (γ={gamma:g}) + RMSProp", "minimax", None, "consensus",
               reference={"ring8": "all 8 (fig.)"}),
        Method("rmsprop", "GAN, simultaneous RMSProp", "minimax", None, "rmsprop",
               reference={"grid16": "a few (fig.)"}),
        Method("sga", "SGA (λ=1) + RMSProp", "minimax", None, "sga", reference={"grid16": "all 16 (fig.)"}),
        Method("extragradient", "extragradient + RMSProp", "minimax", None, "extragradient"),
    )}  # fmt: skip


class RMSScaled(agents.JointRule):
    """A game-aware rule's direction, rescaled per coordinate by RMSProp (one instance per player).

    The inner rule is built with lr 1, so its delta is minus the adjusted field (e.g.
    xi + gamma J^T xi for consensus); RMSProp turns that into its step, as The Numerics of
    GANs ran consensus optimisation.
    """

    def __init__(self, inner: agents.JointRule, lr: float) -> None:
        self.inner, self.lr = inner, lr
        self.name = f"{type(inner).__name__}+RMSProp"
        self.reset()

    def reset(self) -> None:
        self.inner.reset()
        self.rules = {p: agents.make("rmsprop", lr=self.lr) for p in PLAYERS}
        self.states: dict[str, Any] = {}

    def act(self, observations: Any, field: Any) -> dict[str, torch.Tensor]:
        direction = self.inner.act(observations, field)
        out = {}
        with torch.no_grad():
            for p in PLAYERS:
                params = observations[p]["parameters"]
                if p not in self.states:
                    self.states[p] = self.rules[p].init(params)
                out[p], self.states[p] = self.rules[p].update(-direction[p], self.states[p], params)
        return out


class ExtraRMSprop(agents.JointRule):
    """Extragradient with both steps rescaled by RMSProp (Gidel et al. 2019's ExtraAdam, with RMSProp):

    theta_half = theta + RMSProp(xi(theta)),  delta = RMSProp(xi(theta_half)),

    the squared-gradient average updated at both steps.
    """

    name = "ExtraRMSprop"

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.reset()

    def reset(self) -> None:
        self.rules = {p: agents.make("rmsprop", lr=self.lr) for p in PLAYERS}
        self.states: dict[str, Any] = {}

    def act(self, observations: Any, field: Any) -> dict[str, torch.Tensor]:
        theta = {p: observations[p]["parameters"].detach() for p in PLAYERS}
        with torch.no_grad():
            for p in PLAYERS:
                if p not in self.states:
                    self.states[p] = self.rules[p].init(theta[p])
            xi = field(theta)
            half = {}
            for p in PLAYERS:
                step, self.states[p] = self.rules[p].update(xi[p], self.states[p], theta[p])
                half[p] = theta[p] + step
            xi_half = field(half)
            out = {}
            for p in PLAYERS:
                out[p], self.states[p] = self.rules[p].update(xi_half[p], self.states[p], theta[p])
        return out


def make_agents(method: Method, lr: float, gamma: float) -> Any:
    """The update rule(s) of a method: a {player: rule} dict, or one joint rule (Parallel env)."""
    if method.rule == "consensus":
        return RMSScaled(agents.make("consensus", lr=1.0, gamma=gamma), lr)
    if method.rule == "sga":
        return RMSScaled(agents.make("sga", lr=1.0, lam=1.0), lr)
    if method.rule == "extragradient":
        return ExtraRMSprop(lr)
    if method.rule == "rmsprop":  # SGA's baseline: the same RMSProp on the plain field
        return {p: agents.make("rmsprop", lr=lr) for p in PLAYERS}
    return {p: agents.make(method.rule, lr=lr, betas=method.betas) for p in PLAYERS}


# ---- 2. Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study = p.add_argument_group("study")
    study.add_argument("--full", action="store_true",
                       help="both tasks, every method, 10 seeds, lr 1e-4, the literature's iteration counts")
    study.add_argument("--task", nargs="+", choices=sorted(TASKS), default=None, help="default ring8 (--full: both)")
    study.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                       help=f"any of {', '.join(methods(1.0, 10.0))} (default {' '.join(QUICK_METHODS)}; --full: all)")
    study.add_argument("--seeds", type=int, default=None, help="default 2 (--full: 10)")
    study.add_argument("--iterations", type=int, default=None,
                       help=f"generator updates per run (default {QUICK_ITERATIONS}; --full: ring8 50k, grid25 400k)")
    study.add_argument("--lr", type=float, default=None,
                       help="every method's learning rate (default 1e-3; --full: 1e-4)")
    study.add_argument("--r1", type=float, default=1.0, help="R1 weight gamma of the r1 method")
    study.add_argument("--gamma", type=float, default=10.0, help="consensus weight (Numerics of GANs: 10)")
    nets = p.add_argument_group("task (each task's defaults unless given)")
    nets.add_argument("--batch-size", type=int)
    nets.add_argument("--noise-dim", type=int)
    nets.add_argument("--hidden", type=int, help="generator width")
    nets.add_argument("--depth", type=int, help="generator hidden layers")
    nets.add_argument("--d-hidden", type=int, help="discriminator width")
    nets.add_argument("--d-depth", type=int, help="discriminator hidden layers")
    nets.add_argument("--d-maxout", type=int, help="discriminator maxout pieces (1: ReLU)")
    nets.add_argument("--g-batch-norm", choices=["on", "off"], help="BatchNorm in the generator")
    run = p.add_argument_group("run")
    run.add_argument("--samples", type=int, default=2500, help="generated samples per evaluation (PacGAN: 2500)")
    run.add_argument("--evaluations", type=int, default=15, help="points of the coverage curve")
    run.add_argument("--snapshots", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0],
                     help="fractions of the run at which the scatter figure shows the samples")
    run.add_argument("--engine", choices=["lockstep", "pool"], default="lockstep",
                     help="lockstep (default): the runs as games of one vector env per group of methods that share "
                          "networks and rules (one thread); pool: one process per run (--workers)")
    run.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                     help="pool: runs in parallel (one thread each)")
    run.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                     help="lockstep: checkpoint each group every N iterations (in OUT/checkpoints), its evaluations beside")
    run.add_argument("--resume", action="store_true", help="lockstep: continue every group from its newest checkpoint")
    run.add_argument("--hours", type=float, default=None,
                     help="lockstep: stop (checkpointed) after this many hours; --resume goes on from there")
    run.add_argument("--out", type=Path, default=Path("results/modes"))
    run.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    table = methods(args.r1, args.gamma)
    args.task = args.task or (sorted(TASKS, reverse=True) if args.full else ["ring8"])
    args.methods = args.methods or (list(table) if args.full else list(QUICK_METHODS))
    unknown = [m for m in args.methods if m not in table]
    if unknown:
        p.error(f"--methods: unknown {unknown}; known: {', '.join(table)}")
    args.seeds = args.seeds if args.seeds is not None else (10 if args.full else 2)
    args.lr = args.lr if args.lr is not None else (1e-4 if args.full else 1e-3)
    for name in ("seeds", "iterations", "samples", "evaluations", "workers", "batch_size", "noise_dim", "hidden",
                 "depth", "d_hidden", "d_depth", "d_maxout", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not all(0 < f <= 1 for f in args.snapshots):
        p.error(f"--snapshots must be fractions in (0, 1], got {args.snapshots}")
    if args.lr <= 0 or args.r1 < 0 or args.gamma < 0:
        p.error("--lr must be > 0, --r1 and --gamma >= 0")
    if args.hours is not None and not args.hours > 0:
        p.error(f"--hours must be > 0, got {args.hours}")
    if args.engine == "pool" and (args.checkpoint_every or args.resume or args.hours):
        p.error("--checkpoint-every, --resume and --hours are for --engine lockstep")
    if args.hours is not None and not args.checkpoint_every:
        p.error("--hours stops the groups where they are: give --checkpoint-every too, so that --resume can go on")
    return args


def iterations_for(args: argparse.Namespace, task: str) -> int:
    if args.iterations is not None:
        return args.iterations
    return FULL_ITERATIONS[task] if args.full else QUICK_ITERATIONS


def task_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("batch_size", "noise_dim", "hidden", "depth", "d_hidden", "d_depth", "d_maxout")
    options = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.g_batch_norm is not None:
        options["g_batch_norm"] = args.g_batch_norm == "on"
    return options


# ---- 3. One run -----------------------------------------------------------------------------------


def env_options(task: str, options: dict[str, Any]) -> dict[str, Any]:
    """The task's own settings (:data:`TASK_DEFAULTS`) under the ones given on the command line."""
    return {**TASK_DEFAULTS.get(task, {}), **options}


def make_env(task: str, method: Method, options: dict[str, Any]) -> Any:
    kwargs = {"loss": method.loss, "pack": method.pack, **env_options(task, options)}
    if method.schedule is None:
        return pettingzoo.make("parallel", TASKS[task], view="torch", **kwargs)
    return pettingzoo.make("aec", TASKS[task], view="torch", schedule=method.schedule, **kwargs)


def checkpoints(iterations: int, evaluations: int, snapshots: list[float]) -> tuple[list[int], list[int]]:
    """(curve points, snapshot points), completed-iteration counts in [1, iterations]."""
    curve = sorted({max(1, round(iterations * (i + 1) / evaluations)) for i in range(evaluations)})
    shots = sorted({max(1, round(iterations * f)) for f in snapshots})
    return curve, shots


def run(task: str, method: Method, seed: int, iterations: int, lr: float, gamma: float, options: dict[str, Any],
        n_samples: int, evaluations: int, snapshots: list[float]) -> dict[str, Any]:
    """Train one game, measuring mode coverage along the way; plain numbers and arrays come back."""
    torch.set_num_threads(1)  # tiny networks: threads only add synchronisation
    env = make_env(task, method, options)
    game = env.game
    centers, std = game.task.centers, game.task.std
    eval_rng_seed = 10_000 + seed  # the same noise at every evaluation: curves show the generator, not resampling
    curve_at, shots_at = checkpoints(iterations, evaluations, snapshots)
    curve: dict[str, list[float]] = {"iteration": [], **{m: [] for m in HEADLINE}}
    samples: dict[int, np.ndarray] = {}
    spent = {"eval": 0.0}
    latest: dict[str, Any] = {}

    def measure(iteration: int) -> dict[str, Any]:
        start = time.perf_counter()
        x = game.generate(n_samples, torch.Generator(game.device).manual_seed(eval_rng_seed))[0].double().cpu().numpy()
        report = mode_report(x, centers, std)
        if iteration == 0 or iteration in curve_at:
            curve["iteration"].append(iteration)
            for m in HEADLINE:
                curve[m].append(report[m])
        if iteration == 0 or iteration in shots_at:
            samples[iteration] = x.astype(np.float32)
        spent["eval"] += time.perf_counter() - start
        latest["report"] = report
        return report

    env.reset(seed=seed)  # train() resets with the same seed: the same initial state
    measure(0)
    start = time.perf_counter()
    history = minimax.train(env, make_agents(method, lr, gamma), iterations, seed=seed, progress=False,
                            callbacks=[lambda i, env, h: measure(i)], callback_at=sorted(set(curve_at) | set(shots_at)))
    wall = time.perf_counter() - start - spent["eval"]
    final = latest["report"]  # train() calls back after the last iteration, also when a run diverges
    return {
        "task": task, "method": method.name, "seed": seed, "iterations": history.iterations, "wall_time": wall,
        "diverged": bool(history.terminated.any()), "reason": history.reason, "final": final, "curve": curve, "samples": samples,
    }


def group_key(task: str, method: Method) -> tuple:
    """Methods that can share one env of games in lockstep: the same networks, rules and kind of moves."""
    return task, method.pack, method.rule, method.betas, method.schedule is None


EVALUATIONS = "modes benchmark evaluations"  # the kind of a group's evaluations file (checkpoint layout, no pickles)


def group_directory(out: Path, task: str, group: list[Method]) -> Path:
    """Where one group of games in lockstep keeps its checkpoints and its evaluations (``--checkpoint-every``)."""
    return out / "checkpoints" / "-".join([task, *(m.name for m in group)])


def load_evaluations(path: Path, up_to: int) -> dict[str, Any]:
    """A group's evaluations up to iteration ``up_to`` (later ones are made again on resume); checked as a
    checkpoint is, so a damaged or foreign file is a CheckpointError, never code run."""
    saved = ckpt.load_record(path, EVALUATIONS)
    curves, samples, latest = saved.get("curves"), saved.get("samples"), saved.get("latest")
    if not (isinstance(curves, list) and isinstance(samples, list) and isinstance(latest, list)):
        raise ckpt.CheckpointError(path, "evaluations without their curves, samples and latest reports")
    kept = []
    for curve in curves:
        keep = [j for j, i in enumerate(curve["iteration"]) if i <= up_to]
        kept.append({k: [v[j] for j in keep] for k, v in curve.items()})
    shots = [{int(i): np.asarray(x) for i, x in game.items() if int(i) <= up_to} for game in samples]
    return {"curves": kept, "samples": shots, "latest": latest, "train_s": float(saved.get("train_s", 0.0))}


def run_lockstep(task: str, group: list[Method], seeds: list[int], iterations: int, lr: float, gamma: float,
                 options: dict[str, Any], n_samples: int, evaluations: int, snapshots: list[float],
                 directory: Path | None = None, checkpoint_every: int | None = None, resume: bool = False,
                 deadline: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every (method, seed) of one group as a game of one vector env: per-game losses and schedules, each game
    the lone run ``run`` makes with its seed (to round-off), measured the same way.

    With a ``directory``, the group checkpoints there every ``checkpoint_every`` iterations (and when it
    stops), its evaluations beside; ``resume`` continues from the newest checkpoint (a resumed group is the
    uninterrupted one: evaluations draw from their own streams). At ``deadline`` (a ``time.time()``) the group
    checkpoints and stops: its runs come back with ``complete`` False and the iterations they reached.
    """
    torch.set_num_threads(1)
    jobs = [(m, seed) for m in group for seed in seeds]
    first = group[0]
    simultaneous = first.schedule is None
    env = minimax.make_vector(TASKS[task], len(jobs), loss=[m.loss for m, _ in jobs], pack=first.pack,
                              schedule="simultaneous" if simultaneous else [m.schedule for m, _ in jobs],
                              joint=simultaneous, **env_options(task, options))  # fmt: skip
    game = env.game
    centers, std = game.task.centers, game.task.std
    curve_at, shots_at = checkpoints(iterations, evaluations, snapshots)
    curves = [{"iteration": [], **{m: [] for m in HEADLINE}} for _ in jobs]
    samples: list[dict[int, np.ndarray]] = [{} for _ in jobs]
    latest: list[dict[str, Any]] = [{} for _ in jobs]
    spent = {"eval": 0.0, "before": 0.0, "start": 0.0}  # evaluation s (this sitting), training s (earlier sittings)
    evaluations_file = directory / "evaluations.ckpt" if directory is not None else None

    def measure(iteration: int) -> None:
        start = time.perf_counter()
        for i, (_, seed) in enumerate(jobs):
            rng = torch.Generator(game.device).manual_seed(10_000 + seed)
            x = game.generate(n_samples, rng, games=[i])[0].double().cpu().numpy()
            report = mode_report(x, centers, std)
            if iteration == 0 or iteration in curve_at:
                curves[i]["iteration"].append(iteration)
                for m in HEADLINE:
                    curves[i][m].append(report[m])
            if iteration == 0 or iteration in shots_at:
                samples[i][iteration] = x.astype(np.float32)
            latest[i] = report
        spent["eval"] += time.perf_counter() - start

    def record() -> None:
        """The evaluations so far and the training seconds of every sitting, beside the checkpoints."""
        trained = spent["before"] + time.perf_counter() - spent["start"] - spent["eval"]
        ckpt.save_record(evaluations_file, {"curves": curves, "latest": latest, "train_s": trained,
                                            "samples": [{str(i): x for i, x in game.items()} for game in samples]},
                         EVALUATIONS)  # fmt: skip

    points = set(curve_at) | set(shots_at)

    def callback(iteration: int, env: Any, history: Any) -> None:
        if iteration in points:
            measure(iteration)
        if evaluations_file is not None:
            record()

    rules = make_agents(first, lr, gamma)
    env.reset(seed=[seed for _, seed in jobs])
    restored = ckpt.load_latest(directory) if directory is not None and directory.exists() else None
    if restored is not None and not resume:
        raise SystemExit(f"{directory} already holds a checkpoint ({restored.path.name}): pass --resume to continue "
                         "it, or remove the folder to start afresh")  # fmt: skip
    if restored is None:
        if evaluations_file is not None and evaluations_file.exists():
            evaluations_file.unlink()  # a fresh start: evaluations of an earlier attempt must not mix in
        measure(0)
    else:
        ckpt.restore(env, rules, restored)
        saved = load_evaluations(evaluations_file, restored.iteration)
        curves[:], samples[:], latest[:] = saved["curves"], saved["samples"], saved["latest"]
        spent["before"] = saved["train_s"]
        if restored.iteration in points and restored.iteration not in curves[0]["iteration"]:
            measure(restored.iteration)  # interrupted between the checkpoint and its evaluation
    stop = None if deadline is None else (lambda: time.time() >= deadline)
    due = points | (set(range(checkpoint_every, iterations + 1, checkpoint_every)) if checkpoint_every else set())
    spent["start"], spent["eval"] = time.perf_counter(), 0.0
    history = minimax.train(env, rules, iterations, seed=None if restored is not None else [seed for _, seed in jobs],
                            progress=False, callbacks=[callback], callback_at=sorted(due), checkpoint_dir=directory,
                            checkpoint_every=checkpoint_every, resume=restored is not None, stop=stop)  # fmt: skip
    trained = spent["before"] + time.perf_counter() - spent["start"] - spent["eval"]
    wall = trained / len(jobs)  # each game's share, over every sitting
    complete = not history.settings.get("stopped", False)
    return [{"task": task, "method": m.name, "seed": seed, "iterations": history.iterations, "wall_time": wall,
             "diverged": bool(history.terminated[i]), "reason": history.reasons()[i], "final": latest[i],
             "curve": curves[i], "samples": samples[i], "complete": complete, "of": iterations,
             "resumed_at": history.settings.get("resumed_at", [])} for i, (m, seed) in enumerate(jobs)]  # fmt: skip


def waiting(task: str, group: list[Method], seeds: int, iterations: int, directory: Path | None) -> list[dict[str, Any]]:
    """The runs of a group not played in this sitting (out of time): where their newest checkpoint left them."""
    restored = ckpt.latest(directory) if directory is not None and directory.exists() else None
    reached = 0 if restored is None else int(restored.stem.split("-")[-1])
    return [{"task": task, "method": m.name, "seed": seed, "iterations": reached, "of": iterations, "complete": False}
            for m in group for seed in range(seeds)]  # fmt: skip


def how_far(unfinished: list[dict[str, Any]]) -> str:
    """One line per group not finished: the iterations it reached of its budget (``--resume`` goes on)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in unfinished:
        groups.setdefault((r["task"], r["iterations"], r["of"]), []).append(r)
    lines = [f"- {task} · {', '.join(sorted({r['method'] for r in rs}))}: {reached:,} of {total:,} iterations "
             f"({reached / total:.1%}), {len(rs)} games" for (task, reached, total), rs in groups.items()]  # fmt: skip
    return "Not finished (checkpointed; `--resume` goes on from there):\n" + "\n".join(lines) + "\n"


def floor(task: str, options: dict[str, Any], n: int, seeds: int) -> list[dict[str, Any]]:
    """The metrics of target samples of size n: what a perfect generator scores."""
    target = pettingzoo.make("aec", TASKS[task], view="torch", **env_options(task, options)).game.task
    draws = [target.sample_data(n, torch.Generator().manual_seed(1_000_000 + s), torch.device("cpu"), torch.float64)
             for s in range(seeds)]
    return [mode_report(x, target.centers, target.std) for x in draws]


# ---- 4. Tables and figures -----------------------------------------------------------------------


def table(task: str, k: int, chosen: list[Method], runs: list[dict], floors: list[dict]) -> tuple[str, list[dict]]:
    header = ["method", f"modes covered (of {k})", "published", "modes ≥1% share", "high quality %", "published",
              "reverse KL", "published", "train s", "diverged"]
    rows, summary = [], []
    for method in chosen:
        mine = [r for r in runs if r["task"] == task and r["method"] == method.name]
        final = [r["final"] for r in mine]
        rows.append([
            method.label, mean_std([f["modes_covered"] for f in final]), method.reference.get(task, "—"),
            mean_std([f["modes_covered_1pct"] for f in final]),
            mean_std([100 * f["high_quality_fraction"] for f in final]), method.reference_quality.get(task, "—"),
            mean_std([f["reverse_kl"] for f in final]), method.reference_kl.get(task, "—"),
            mean_std([r["wall_time"] for r in mine], 2), f"{sum(r['diverged'] for r in mine)}/{len(mine)}",
        ])  # fmt: skip
        summary.append({
            "task": task, "method": method.name, "label": method.label, "runs": len(mine),
            "published_modes": method.reference.get(task),
            "published_high_quality": method.reference_quality.get(task), "published_reverse_kl": method.reference_kl.get(task),
            **{f"{m}_mean": float(np.mean([f[m] for f in final])) for m in (*HEADLINE, "modes_covered_1pct")},
            **{f"{m}_std": float(np.std([f[m] for f in final], ddof=1)) if len(final) > 1 else 0.0 for m in HEADLINE},
        })  # fmt: skip
    rows.append(["floor (target sample)", mean_std([f["modes_covered"] for f in floors]), "—",
                 mean_std([f["modes_covered_1pct"] for f in floors]),
                 mean_std([100 * f["high_quality_fraction"] for f in floors]), "—",
                 mean_std([f["reverse_kl"] for f in floors]), "—", "", ""])  # fmt: skip
    return markdown_table(header, rows), summary


def plot_samples(
    path: Path, task: str, chosen: list[Method], runs: list[dict], centers: np.ndarray, std: float
) -> None:
    """Generated samples over the modes at the snapshot iterations: one row per method, first seed."""
    firsts = [next(r for r in runs if r["task"] == task and r["method"] == m.name and r["seed"] == 0) for m in chosen]
    columns = sorted({i for r in firsts for i in r["samples"] if i > 0})
    span = np.abs(centers).max() + max(0.5, 20 * std)
    fig, axes = plt.subplots(len(chosen), len(columns), figsize=(2.6 * len(columns), 2.6 * len(chosen)), squeeze=False)
    for row, (method, r) in enumerate(zip(chosen, firsts)):
        for col, it in enumerate(columns):
            ax = axes[row, col]
            x = r["samples"].get(it)
            panels.draw_scatter(ax, np.zeros((0, 2)) if x is None else x, centers=centers, span=span)
            ax.set(xticks=[], yticks=[])
            if row == 0:
                ax.set_title(f"iteration {it}", fontsize=9)
            if col == 0:
                ax.set_ylabel(method.label, fontsize=7)
    fig.suptitle(f"{task}: generated samples (blue) over the modes (red circles), seed 0", fontsize=10)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_coverage(path: Path, task: str, k: int, chosen: list[Method], runs: list[dict]) -> None:
    """Modes covered and high-quality fraction over iterations: mean ± std over seeds."""
    fig, (ax_m, ax_q) = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, method in enumerate(chosen):
        mine = [r for r in runs if r["task"] == task and r["method"] == method.name]
        length = min(len(r["curve"]["iteration"]) for r in mine)  # a diverged run stops early
        x = np.asarray(mine[0]["curve"]["iteration"][:length])
        color = plt.cm.tab10(i % 10)
        for ax, key, scale in ((ax_m, "modes_covered", 1), (ax_q, "high_quality_fraction", 100)):
            y = scale * np.array([r["curve"][key][:length] for r in mine], dtype=float)
            ax.plot(x, y.mean(0), color=color, label=method.label)
            ax.fill_between(x, y.mean(0) - y.std(0), y.mean(0) + y.std(0), color=color, alpha=0.15)
    ax_m.axhline(k, color="k", ls=":", lw=1)
    ax_q.axhline(100 * TARGET_HIGH_QUALITY_2D, color="k", ls=":", lw=1, label="a target sample's score")
    ax_m.set(xlabel="iteration (generator updates)", ylabel="modes covered", ylim=(-0.3, k + 0.5),
             title=f"{task}: modes covered (mean ± std over seeds)")
    ax_q.set(xlabel="iteration (generator updates)", ylabel="high-quality samples (%)", ylim=(-2, 102),
             title="samples within 3 std of a mode")
    ax_m.legend(fontsize=7)
    ax_q.legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


# ---- 5. Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    table_of = methods(args.r1, args.gamma)
    chosen = [table_of[m] for m in args.methods]
    options = task_options(args)
    jobs = [(task, m, seed) for task in args.task for m in chosen for seed in range(args.seeds)]

    def submit(call: Any, task: str, m: Method, seed: int) -> Any:
        return call(run, task, m, seed, iterations_for(args, task), args.lr, args.gamma, options, args.samples,
                    args.evaluations, args.snapshots)

    runs: list[dict] = []
    out = args.out
    start = time.perf_counter()
    if args.engine == "lockstep":
        groups: dict[tuple, list[Method]] = {}
        for task in args.task:
            for m in chosen:
                groups.setdefault(group_key(task, m), []).append(m)
        keep = args.checkpoint_every is not None or args.resume
        deadline = None if args.hours is None else time.time() + 3600 * args.hours
        for key, members in tqdm(list(groups.items()), desc="groups of games in lockstep", disable=args.no_progress):
            task = key[0]
            directory = group_directory(out, task, members) if keep else None
            if deadline is not None and time.time() >= deadline:  # out of time: the group waits for --resume
                runs += waiting(task, members, args.seeds, iterations_for(args, task), directory)
                continue
            runs += run_lockstep(task, members, list(range(args.seeds)), iterations_for(args, task), args.lr,
                                 args.gamma, options, args.samples, args.evaluations, args.snapshots, directory,
                                 args.checkpoint_every, args.resume, deadline)  # fmt: skip
        engine = f"games in lockstep ({len(groups)} vector env(s), one thread; train s: each game's share)"
    elif args.workers == 1:  # in this process: no start-up cost, easier to debug
        for job in tqdm(jobs, desc="runs", disable=args.no_progress):
            runs.append(submit(lambda f, *a: f(*a), *job))
    else:
        with ProcessPoolExecutor(max_workers=min(args.workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = [submit(pool.submit, *job) for job in jobs]
            for future in tqdm(futures, desc="runs", disable=args.no_progress):
                runs.append(future.result())
    if args.engine == "pool":
        engine = f"a process pool ({args.workers} worker(s), one run each)"
    elapsed = time.perf_counter() - start
    unfinished = [r for r in runs if not r.get("complete", True)]
    runs = [r for r in runs if r.get("complete", True)]

    out.mkdir(parents=True, exist_ok=True)
    sections, summaries, tasks_info, floors_of = [], [], {}, {}
    for task in args.task:
        target = pettingzoo.make("aec", TASKS[task], view="torch", **env_options(task, options)).game.task
        centers, k = target.centers.numpy(), len(target.centers)
        floors = floor(task, options, args.samples, args.seeds)
        done = [m for m in chosen if any(r["task"] == task and r["method"] == m.name for r in runs)]
        if not done:
            continue
        text, summary = table(task, k, done, runs, floors)
        info = target.describe()
        title = (f"### {task}: {k} Gaussians, std {target.std:g}; G {info['generator']}, D {info['discriminator']}, "
                 f"noise dim {target.noise_dim}, batch {target.batch_size}; {iterations_for(args, task)} iterations, "
                 f"lr {args.lr:g}, {args.seeds} seeds, {args.samples} samples; mean ± std over seeds")
        sections.append(f"{title}\n\n{text}\n")
        summaries += summary
        tasks_info[task] = info
        floors_of[task] = floors
        plot_samples(out / f"samples_{task}.png", task, done, runs, centers, target.std)
        plot_coverage(out / f"coverage_{task}.png", task, k, done, runs)
    note = ("Published: PacGAN Table 1 (their networks, 400k iterations at lr 1e-4) and The Numerics of GANs "
            "(consensus, ring, a figure); not the same networks or budget as these runs.")
    report = "\n".join(sections) + f"\n{note}\nAll runs: {elapsed:.0f} s wall, played as {engine}.\n"
    if unfinished:
        report += "\n" + how_far(unfinished)
    print(report)
    atomic_write(out / "results.md", report.encode())
    save_json(out / "results.json", {
        "settings": vars(args), "engine": engine, "elapsed_s": elapsed, "tasks": tasks_info, "methods": {m.name: {
            "label": m.label, "loss": m.loss, "schedule": m.schedule or "simultaneous (Parallel env)", "rule": m.rule,
            "betas": m.betas, "pack": m.pack, "published_modes": m.reference} for m in chosen},
        "floor": floors_of, "summary": summaries,
        "runs": [{k: v for k, v in r.items() if k != "samples"} for r in runs],
        "unfinished": [{k: v for k, v in r.items() if k != "samples"} for r in unfinished],
    })  # fmt: skip
    figures = ", ".join(f"samples_{t}.png, coverage_{t}.png" for t in args.task if t in tasks_info)
    print(f"wrote {out}/results.md, results.json, {figures}")
    return {"summary": summaries, "floor": floors_of, "runs": runs, "elapsed": elapsed, "unfinished": unfinished}


if __name__ == "__main__":
    main()
