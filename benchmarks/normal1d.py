"""The 1D normal task (report chapter 3.1), then the schedule study the report could not do.

Target N(4, 1.25^2), generator fed Uniform(0, 1) noise, two hidden tanh layers;
a per-sample sigmoid discriminator. For every configuration of the grid
(k discriminator moves per generator move, alternating or simultaneous, update
rule, loss family) and every seed, train, then measure the generator against
the target with exact distances (W1, KS against the normal CDF; two-sample when
the target is given as samples), moment errors, a histogram JSD, and the
distance to Goodfellow's equilibrium (mean D(x) = 1/2, V = -log 4). Every table
has a *floor* row: the same metrics for a target sample of the same size.

    python -m benchmarks.normal1d                      # quick grid and the recipe that reaches the floor (make run)
    python -m benchmarks.normal1d --no-recipe          # the quick grid alone
    python -m benchmarks.normal1d --full               # k in {1, 5, 20} x {alternating, simultaneous} x {momentum, adam} x {minimax, non-saturating}, 5 seeds
    python -m benchmarks.normal1d --mean 400 --std 10  # a far target, same code
    python -m benchmarks.normal1d --preset 2018        # the "GANs in 50 lines" 2018 setup, as it was
    python -m benchmarks.normal1d --ks 5 --modes alternating --train-size 12800 \
        --snapshot-epochs 0 200 400 600 800 1000       # the report's figure: histograms at those epochs

Writes results/normal1d/ (or --out): results.json, results.md, histograms.png
(the report's figures 5-10), curves.png, discriminator.png.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
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
from minimax.render import panels  # noqa: E402
from benchmarks.reporting import atomic_write, markdown_table, mean_std, save_figure, save_json  # noqa: E402
from minimax.eval.metrics import LOG4, distances  # noqa: E402
from minimax.tasks.normal1d import PRESETS  # noqa: E402

METRICS = ("w1", "ks", "mean_error", "std_error", "hist_jsd")
GAPS = ("d_real_gap", "d_fake_gap", "value_gap")
COLLAPSE_STD_FRACTION = 0.1  # a run whose samples spread less than 10% of the target's std has collapsed

#: The configuration that ends within 2x the floor in every seed (README, "How we got here"): Gaussian
#: noise, an R1 penalty, two discriminator steps per generator step, Adam decayed linearly to 0.1%, a large
#: batch and the generator's average of iterates. Its training set is sized so that the run makes exactly
#: ``epochs`` passes over it, with histograms at six evenly spaced epochs (the report's figures 5-10).
RECIPE = {"schedule": "alternating:k=2", "rule": "adam", "loss": "non-saturating:r1=1", "noise": "normal",
          "batch_size": 2048, "iterations": 12000, "epochs": 1000, "lr_decay": "linear", "lr_end": 0.001, "ema": 0.9995}


#: Laws of different shapes for "any 1D law" (the report's estimator of an unknown law from its samples).
LAWS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "mixture": lambda rng, n: np.where(rng.random(n) < 0.5, rng.normal(-2, 0.5, n), rng.normal(3, 1.0, n)),
    "student3": lambda rng, n: rng.standard_t(3, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 0.75, n),
    "uniform": lambda rng, n: rng.uniform(-1, 3, n),
}


def law_samples(name: str, n: int = 100_000, seed: int = 12345) -> np.ndarray:
    """``n`` samples of the built-in law ``name`` (bimodal, heavy-tailed, skewed, flat), reproducibly: the laws
    are drawn in :data:`LAWS`' order from one stream, so each law's samples do not depend on which is asked for."""
    rng = np.random.default_rng(seed)
    drawn = {law: draw(rng, n) for law, draw in LAWS.items()}
    return drawn[name]


# ---- 1. Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid = p.add_argument_group("grid")
    grid.add_argument("--full", action="store_true", help="the full grid: every k, mode, rule and loss, 5 seeds")
    grid.add_argument("--ks", type=int, nargs="+", default=None, help="discriminator moves per generator move (default 1 5)")
    grid.add_argument("--modes", nargs="+", default=None, choices=["alternating", "simultaneous"])
    grid.add_argument("--rules", nargs="+", default=None, choices=["momentum", "adam"], help="update rule of both players")
    grid.add_argument("--losses", nargs="+", default=None,
                      help="loss families, with optional penalties, e.g. minimax non-saturating:r1=1")
    grid.add_argument("--seeds", type=int, default=5)
    grid.add_argument("--iterations", type=int, default=None, help="generator updates per run (default 1500; --full 6000)")
    grid.add_argument("--preset", choices=sorted(PRESETS), help="run a 'GANs in 50 lines' preset instead of the grid")
    grid.add_argument("--recipe", action=argparse.BooleanOptionalAction, default=True,
                      help="also run the recipe that reaches 2x the floor (%s), as games in lockstep with the grid's "
                           "seeds (default: on, except with --preset)" % ", ".join(f"{k}={v}" for k, v in RECIPE.items()))
    grid.add_argument("--recipe-only", action="store_true", help="run the recipe alone, without the grid")
    grid.add_argument("--recipe-iterations", type=int, default=RECIPE["iterations"], help="the recipe's length")
    grid.add_argument("--recipe-epochs", type=int, default=RECIPE["epochs"],
                      help="passes over the recipe's training set in its run (its size follows); histograms every fifth")
    grid.add_argument("--recipe-batch", type=int, default=RECIPE["batch_size"], help="the recipe's batch size")
    grid.add_argument("--recipe-ema", type=float, default=RECIPE["ema"], metavar="DECAY",
                      help="the decay of the recipe's average of generator iterates")
    rules = p.add_argument_group("update rules")
    rules.add_argument("--adam-lr", type=float, default=1e-3)
    rules.add_argument("--adam-betas", type=float, nargs=2, default=(0.5, 0.999))
    rules.add_argument("--momentum-lr", type=float, default=1e-2)
    rules.add_argument("--momentum", type=float, default=0.9)
    rules.add_argument("--lr-decay", choices=["none", "linear", "cosine"], default="none",
                       help="decay both learning rates over the run (to --lr-end times the start)")
    rules.add_argument("--lr-end", type=float, default=0.01, help="final learning-rate factor with --lr-decay")
    rules.add_argument("--ema", type=float, default=None, metavar="DECAY",
                       help="evaluate the generator's exponential moving average of iterates (e.g. 0.999)")
    task = p.add_argument_group("task")
    task.add_argument("--mean", type=float, default=4.0)
    task.add_argument("--std", type=float, default=1.25)
    task.add_argument("--target-samples", type=Path, help=".npy file of target samples (replaces --mean/--std)")
    task.add_argument("--target-law", choices=sorted(LAWS),
                      help="a built-in law given as 100,000 samples (seed 12345), as --target-samples would give it")
    task.add_argument("--noise", choices=["uniform", "normal"], default="uniform")
    task.add_argument("--hidden", type=int, default=32)
    task.add_argument("--g-activations", nargs="+", default=["tanh"], choices=["tanh", "sigmoid", "elu", "relu"],
                      metavar="NAME", help="the generator's hidden activations (one, or one per hidden layer; default "
                                           "tanh: a bounded output range; elu/relu reach the tails of normal noise)")
    task.add_argument("--g-skip", action="store_true",
                      help="a linear path from the noise to the generator's output (an unbounded range: the tails)")
    task.add_argument("--batch-size", type=int, default=256)
    task.add_argument("--train-size", type=int, default=50_000, help="fixed training set; an epoch is one pass over it")
    task.add_argument("--infinite-data", action="store_true", help="fresh target samples every minibatch (no epochs)")
    task.add_argument("--no-normalize", action="store_true", help="no input/output scaling (the report's raw setup)")
    run = p.add_argument_group("run")
    run.add_argument("--samples", type=int, default=10_000, help="generated samples per evaluation")
    run.add_argument("--evaluations", type=int, default=30, help="evaluation points along each run (curves)")
    run.add_argument("--snapshot-epochs", type=float, nargs="+", default=None, metavar="EPOCH",
                     help="histogram snapshots exactly at these epochs (e.g. 0 200 400 600 800 1000; each must fall "
                          "on a whole iteration); without --iterations each run stops at the last of them. "
                          "Default: six snapshots evenly spread over the evaluation points")
    run.add_argument("--engine", choices=["lockstep", "pool"], default="lockstep",
                     help="lockstep (default): the grid's runs as games of one vector env per group of configurations "
                          "that share rules and task, the groups spread over --workers processes; pool: one process "
                          "per run (--workers)")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="processes at once, one CPU thread each (lockstep: one group of games each; pool: one run each)")
    run.add_argument("--out", type=Path, default=Path("results/normal1d"))
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--direct-fit", type=int, metavar="STEPS", default=0,
                     help="instead of a game: fit the generator directly (minibatch W1, Adam --adam-lr, linear decay) "
                          "for STEPS steps and report how close this network can get to the target")
    args = p.parse_args(argv)
    full = args.full
    args.ks = args.ks or ([1, 5, 20] if full else [1, 5])
    args.modes = args.modes or ["alternating", "simultaneous"]
    args.rules = args.rules or (["momentum", "adam"] if full else ["adam"])
    args.losses = args.losses or (["minimax", "non-saturating"] if full else ["non-saturating"])
    args.iterations_given = args.iterations is not None
    args.iterations = args.iterations or (6000 if full else 1500)
    for loss in args.losses:
        try:
            minimax.make_loss(loss)
        except ValueError as error:
            p.error(f"--losses: {error}")
    if any(k < 1 for k in args.ks):
        p.error(f"--ks must all be >= 1, got {args.ks}")
    for name in ("seeds", "iterations", "samples", "evaluations", "workers", "recipe_iterations", "recipe_epochs",
                 "recipe_batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0.0 < args.recipe_ema < 1.0:
        p.error(f"--recipe-ema must lie in (0, 1), got {args.recipe_ema}")
    if args.snapshot_epochs is not None:
        if args.infinite_data or args.preset:
            p.error("--snapshot-epochs needs a fixed training set (no --infinite-data, no --preset): epochs are passes over it")
        if any(e < 0 for e in args.snapshot_epochs):
            p.error(f"--snapshot-epochs must all be >= 0, got {args.snapshot_epochs}")
        args.snapshot_epochs = sorted(set(args.snapshot_epochs))
    return args


# ---- 2. The grid ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One cell of the grid: who moves when, how each player updates, what it minimises."""

    schedule: str
    rule: str
    rule_options: dict[str, Any] = field(hash=False)
    loss: str
    task_options: dict[str, Any] = field(hash=False)
    iterations: int
    lr_decay: str = "none"
    lr_end: float = 1.0
    ema: float | None = None
    snapshot_iterations: tuple[int, ...] | None = None  # histogram snapshots (None: spread over the evaluations)
    is_recipe: bool = False  # :data:`RECIPE`, named so in tables

    @property
    def label(self) -> str:
        decay = f" ({self.lr_decay} decay)" if self.lr_decay != "none" else ""
        ema = f" · G EMA {self.ema:g}" if self.ema is not None else ""
        recipe = f"recipe: {self.task_options['noise']} noise, batch {self.task_options['batch_size']} · " if self.is_recipe else ""
        return f"{recipe}{self.schedule} · {self.rule}{decay} · {self.loss}{ema}"

    def make_rules(self) -> dict[str, agents.UpdateRule]:
        """Both players' rules for the whole run (decays sized to each player's moves), the generator's averaged
        when :attr:`ema` is set."""
        schedule = minimax.make_schedule(self.schedule)
        rules = {p: self.make_rule(self.iterations * schedule.turns_of(p)) for p in minimax.PLAYERS}
        if self.ema is not None:
            rules["generator"] = agents.averaged(rules["generator"], decay=self.ema)
        return rules

    def make_rule(self, moves: int) -> agents.UpdateRule:
        """The update rule of a player that makes ``moves`` moves in the run."""
        rule = agents.make(self.rule, **self.rule_options)
        if self.lr_decay == "none":
            return rule
        schedule = agents.lr_schedules.SCHEDULES[self.lr_decay](steps=moves, end=self.lr_end)
        return agents.with_schedule(rule, schedule, name=self.lr_decay)


def epochs_per_iteration(schedule: str, task_options: dict[str, Any]) -> float:
    """Passes over the training set per iteration: the discriminator's minibatches of real data (nan: no epochs)."""
    size = task_options.get("train_size")
    if not size:
        return math.nan
    return minimax.make_schedule(schedule).turns_of("discriminator") * task_options["batch_size"] / size


def snapshot_iterations(epochs: list[float], per_iteration: float) -> tuple[int, ...]:
    """The iterations at which the run has made exactly these epochs; ValueError for one between two iterations."""
    iterations = []
    for epoch in epochs:
        exact = epoch / per_iteration
        if not abs(exact - round(exact)) < 1e-6:
            raise ValueError(f"epoch {epoch:g} falls between iterations {math.floor(exact)} and {math.ceil(exact)} "
                             f"({per_iteration:g} epochs per iteration); choose --train-size/--batch-size to match")
        iterations.append(round(exact))
    return tuple(iterations)


def grid(args: argparse.Namespace) -> list[Config]:
    task = {"noise": args.noise, "hidden": args.hidden, "batch_size": args.batch_size,
            "g_activations": args.g_activations[0] if len(args.g_activations) == 1 else tuple(args.g_activations),
            "normalize": not args.no_normalize, "train_size": None if args.infinite_data else args.train_size}
    if args.g_skip:
        task["g_skip"] = True
    if args.target_law is not None:
        task["samples"] = law_samples(args.target_law)
    elif args.target_samples is not None:
        task["samples"] = np.load(args.target_samples, allow_pickle=False)
    else:
        task.update(mean=args.mean, std=args.std)
    if args.preset:
        args.recipe = False
        preset = PRESETS[args.preset]["training"]
        task.update(preset=args.preset, train_size=None)  # the example draws fresh samples every step
        iterations = args.iterations if args.iterations_given else preset["iterations"]
        return [Config(preset["schedule"], preset["rule"], dict(preset["rule_options"]), preset["loss"], task, iterations)]
    schedules = [f"alternating:k={k}" for k in args.ks] if "alternating" in args.modes else []
    schedules += ["simultaneous"] if "simultaneous" in args.modes else []
    options = {"adam": {"lr": args.adam_lr, "betas": tuple(args.adam_betas)},
               "momentum": {"lr": args.momentum_lr, "momentum": args.momentum}}
    configs = []
    for s, r, loss in itertools.product([] if args.recipe_only else schedules, args.rules, args.losses):
        iterations, snapshots = args.iterations, None
        if args.snapshot_epochs is not None:
            snapshots = snapshot_iterations(args.snapshot_epochs, epochs_per_iteration(s, task))
            if not args.iterations_given:
                iterations = max(1, snapshots[-1])
            elif snapshots[-1] > iterations:
                raise ValueError(f"{s}: epoch {args.snapshot_epochs[-1]:g} is iteration {snapshots[-1]}, "
                                 f"after the run's last ({iterations}); raise --iterations or leave it out")
        configs.append(Config(s, r, options[r], loss, task, iterations, args.lr_decay, args.lr_end, args.ema, snapshots))
    if args.recipe:
        configs.append(recipe(args, task, options["adam"]))
    return configs


def recipe(args: argparse.Namespace, task: dict[str, Any], adam: dict[str, Any]) -> Config:
    """:data:`RECIPE` on the grid's target and networks: ``--recipe-epochs`` passes over a training set sized for it."""
    iterations, epochs, batch = args.recipe_iterations, args.recipe_epochs, args.recipe_batch
    if iterations % 5:
        raise ValueError(f"--recipe-iterations {iterations}: expected a multiple of 5 (histograms at six evenly spaced epochs)")
    real_per_iteration = minimax.make_schedule(RECIPE["schedule"]).turns_of("discriminator") * batch
    if real_per_iteration * iterations % epochs:
        raise ValueError(f"the recipe's {iterations} iterations of {real_per_iteration} real samples do not divide into "
                         f"{epochs} epochs of a whole training set; choose --recipe-iterations/--recipe-epochs to match")
    options = dict(task, noise=RECIPE["noise"], batch_size=batch, train_size=real_per_iteration * iterations // epochs)
    snapshots = snapshot_iterations([epochs * i / 5 for i in range(6)], epochs / iterations)
    return Config(RECIPE["schedule"], RECIPE["rule"], adam, RECIPE["loss"], options, iterations, RECIPE["lr_decay"],
                  RECIPE["lr_end"], args.recipe_ema, snapshots, is_recipe=True)


# ---- 3. One run -----------------------------------------------------------------------------------


@contextmanager
def generator_parameters(env: Any, values: torch.Tensor | None) -> Iterator[None]:
    """Temporarily load ``values`` (e.g. an average of iterates) into the generator; None leaves it as is."""
    if values is None:
        yield
        return
    theta = env.game.parameters("generator")
    theta = theta if values.dim() == 2 else theta[0]  # N games, or a lone game's row
    saved = theta.clone()
    theta.copy_(values)
    try:
        yield
    finally:
        theta.copy_(saved)


def evaluate(env: Any, n: int, seed: int, generator: torch.Tensor | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """n generated samples (from a stream of their own) and their distances to the target.

    ``generator`` evaluates other generator parameters (an average of iterates) than the live ones.
    """
    task = env.game.task
    with generator_parameters(env, generator):
        samples = env.game.generate(n, torch.Generator(env.game.device).manual_seed(seed))[0].reshape(-1).double().numpy()
    if not np.isfinite(samples).all():
        return samples, {m: math.nan for m in METRICS}
    reference = None if task.analytic else task.samples.numpy()
    return samples, distances(samples, task.mean, task.std, reference)


def run(config: Config, seed: int, n_samples: int, evaluations: int) -> dict[str, Any]:
    """Train one game, evaluating along the way; everything comes back as plain numbers and arrays."""
    torch.set_num_threads(1)  # tiny networks: threads only add synchronisation
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", schedule=config.schedule, loss=config.loss,
                          **config.task_options)
    rules = config.make_rules()

    def evaluated_generator() -> torch.Tensor | None:
        state = rules["generator"].state
        return state.average if config.ema is not None and state is not None else None

    every = max(1, config.iterations // evaluations)  # train() calls back every `every` iterations and at the end
    callback_at = None  # the default: every `every` iterations
    if config.snapshot_iterations is not None:  # and at the snapshot iterations (an evaluation draws no training randomness)
        callback_at = set(range(every, config.iterations + 1, every)) | {i for i in config.snapshot_iterations if i > 0}
    curve: dict[str, list[float]] = {"iteration": [0.0], "w1": []}
    snapshots: dict[int, np.ndarray] = {}
    env.reset(seed=seed)
    samples, metrics = evaluate(env, n_samples, seed)
    curve["w1"].append(metrics["w1"])
    snapshots[0] = samples

    def on_checkpoint(iteration: int, env: Any, history: Any) -> None:
        samples, metrics = evaluate(env, n_samples, seed, evaluated_generator())
        curve["iteration"].append(float(iteration))
        curve["w1"].append(metrics["w1"])
        snapshots[iteration] = samples

    start = time.perf_counter()
    history = minimax.train(env, rules, config.iterations, seed=seed, progress=False,
                            callbacks=[on_checkpoint], callback_every=every, callback_at=callback_at)
    wall = time.perf_counter() - start
    samples, metrics = evaluate(env, n_samples, seed, evaluated_generator())
    tail = slice(-max(1, history.iterations // 10), None)  # the last 10% of iterations
    recorded = history.game(0)
    for name, key in (("d_real_gap", "d_real"), ("d_fake_gap", "d_fake")):
        metrics[name] = float(abs(np.mean(recorded[key][tail]) - 0.5))
    metrics["value_gap"] = float(abs(np.mean(recorded["value"][tail]) + LOG4))
    task = env.game.task
    d_turns = env.schedule.turns_of("discriminator")
    per_iteration = (d_turns * task.batch_size / task.epoch_size) if task.epoch_size else math.nan
    grid_x = np.linspace(task.mean - 4 * task.std, task.mean + 4 * task.std, 200)
    d_of_x = (env.game.discriminate(torch.tensor(grid_x).reshape(-1, 1))[0].double().numpy()
              if task.discriminator == "sample" else None)
    return {
        "label": config.label, "schedule": config.schedule, "rule": config.rule, "loss": config.loss, "seed": seed,
        "iterations": history.iterations, "epochs": history.iterations * per_iteration,
        "epochs_per_iteration": per_iteration, "wall_time": wall, "diverged": bool(history.terminated[0]),
        "reason": history.reason, "collapsed": bool(np.isfinite(samples).all() and samples.std() < COLLAPSE_STD_FRACTION * task.std),
        "metrics": metrics, "curve": curve, "losses": {p: recorded[f"{p}_loss"] for p in minimax.PLAYERS},
        "snapshots": snapshots, "snapshot_iterations": config.snapshot_iterations,
        "samples": samples, "d_grid": grid_x, "d_of_x": d_of_x,
    }


def group_key(config: Config) -> tuple:
    """Configurations that can share one env of games in lockstep: the same rules, task and length."""
    schedule = minimax.make_schedule(config.schedule)
    moves = tuple(config.iterations * schedule.turns_of(p) for p in minimax.PLAYERS) if config.lr_decay != "none" else None
    return (config.rule, repr(sorted(config.rule_options.items())), config.lr_decay, config.lr_end, config.ema,
            repr(sorted((k, repr(v)) for k, v in config.task_options.items())), config.iterations, moves)  # fmt: skip


class QueueProgress:
    """A picklable progress report for a spawned process: game-iterations done, put on a manager's queue."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def __call__(self, done: int) -> None:
        self.queue.put(done)


def run_lockstep(configs: list[Config], seeds: list[int], n_samples: int, evaluations: int,
                 progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Every (configuration, seed) of one group as a game of one vector env: the same results as ``run`` for
    each (game i equals the lone game with its seed, to round-off), in one batched computation.

    ``progress`` is told the game-iterations played at every evaluation."""
    torch.set_num_threads(1)
    jobs = [(c, seed) for c in configs for seed in seeds]
    first = configs[0]
    env = minimax.make_vector("minimax/Normal1D-v0", len(jobs), schedule=[c.schedule for c, _ in jobs],
                              loss=[c.loss for c, _ in jobs], **first.task_options)  # fmt: skip
    rules = first.make_rules()
    game = env.game

    def generated(i: int, values: torch.Tensor | None) -> tuple[np.ndarray, dict[str, float]]:
        with generator_parameters(env, values):
            samples = game.generate(n_samples, torch.Generator(game.device).manual_seed(jobs[i][1]), games=[i])
        samples = samples[0].reshape(-1).double().numpy()
        if not np.isfinite(samples).all():
            return samples, {m: math.nan for m in METRICS}
        task = game.tasks[i]
        return samples, distances(samples, task.mean, task.std, None if task.analytic else task.samples.numpy())

    def average() -> torch.Tensor | None:
        state = rules["generator"].state
        return state.average if first.ema is not None and state is not None else None

    every = max(1, first.iterations // evaluations)
    snapshot_at = [set(c.snapshot_iterations or ()) for c, _ in jobs]
    callback_at = None
    if any(snapshot_at):
        callback_at = set(range(every, first.iterations + 1, every)) | {i for s in snapshot_at for i in s if i > 0}
    curves = [{"iteration": [0.0], "w1": []} for _ in jobs]
    snapshots: list[dict[int, np.ndarray]] = [{} for _ in jobs]
    env.reset(seed=[seed for _, seed in jobs])
    for i in range(len(jobs)):
        samples, metrics = generated(i, None)
        curves[i]["w1"].append(metrics["w1"])
        snapshots[i][0] = samples

    played = [0]

    def on_checkpoint(iteration: int, env: Any, history: Any) -> None:
        if progress is not None:
            progress((iteration - played[0]) * len(jobs))
            played[0] = iteration
        values = average()
        for i, (config, _) in enumerate(jobs):
            on_curve = iteration % every == 0 or iteration == config.iterations
            if not (on_curve or iteration in snapshot_at[i]):
                continue
            samples, metrics = generated(i, values)
            if on_curve:
                curves[i]["iteration"].append(float(iteration))
                curves[i]["w1"].append(metrics["w1"])
            snapshots[i][iteration] = samples

    start = time.perf_counter()
    history = minimax.train(env, rules, first.iterations, seed=[seed for _, seed in jobs], progress=False,
                            callbacks=[on_checkpoint], callback_every=every, callback_at=callback_at)  # fmt: skip
    wall = (time.perf_counter() - start) / len(jobs)  # each game's share of the batched run
    values = average()
    results = []
    for i, (config, seed) in enumerate(jobs):
        samples, metrics = generated(i, values)
        recorded = history.game(i)
        tail = slice(-max(1, history.iterations // 10), None)
        for name, key in (("d_real_gap", "d_real"), ("d_fake_gap", "d_fake")):
            metrics[name] = float(abs(np.mean(recorded[key][tail]) - 0.5))
        metrics["value_gap"] = float(abs(np.mean(recorded["value"][tail]) + LOG4))
        task = game.tasks[i]
        per_iteration = epochs_per_iteration(config.schedule, config.task_options)
        grid_x = np.linspace(task.mean - 4 * task.std, task.mean + 4 * task.std, 200)
        d_of_x = (game.discriminate(torch.tensor(grid_x).reshape(-1, 1), games=[i])[0].double().numpy()
                  if task.discriminator == "sample" else None)  # fmt: skip
        results.append({
            "label": config.label, "schedule": config.schedule, "rule": config.rule, "loss": config.loss, "seed": seed,
            "iterations": history.iterations, "epochs": history.iterations * per_iteration,
            "epochs_per_iteration": per_iteration, "wall_time": wall, "diverged": bool(history.terminated[i]),
            "reason": history.reasons()[i],
            "collapsed": bool(np.isfinite(samples).all() and samples.std() < COLLAPSE_STD_FRACTION * task.std),
            "metrics": metrics, "curve": curves[i], "losses": {p: recorded[f"{p}_loss"] for p in minimax.PLAYERS},
            "snapshots": snapshots[i], "snapshot_iterations": config.snapshot_iterations,
            "samples": samples, "d_grid": grid_x, "d_of_x": d_of_x,
        })  # fmt: skip
    return results


def run_groups(groups: list[list[Config]], seeds: list[int], n_samples: int, evaluations: int, workers: int,
               quiet: bool) -> list[dict[str, Any]]:
    """Every group as games in lockstep (:func:`run_lockstep`), in this process when ``workers`` is 1.

    Otherwise each group's seeds are split into up to ``workers`` parts of two games or more, every part a
    vector env of its own, and the envs run in spawned processes, ``workers`` at once (each at one thread,
    so two workers use two cores), the costliest first. A game's result does not depend on which other
    games share its env: the batched kernels compute each game's slice on its own (tested bitwise against
    one process; an env of one game would run the module itself, equal only to round-off, hence two).
    """
    parts = min(workers, max(1, len(seeds) // 2))  # at least two games per env: one game would run the lone module
    jobs = [(members, part) for members in groups for part in np.array_split(np.array(seeds), parts)]
    total = sum(len(members) * len(part) * members[0].iterations for members, part in jobs)
    bar = tqdm(total=total, desc="game-iterations in lockstep", unit="it", unit_scale=True, disable=quiet)
    runs: list[dict[str, Any]] = []
    if workers == 1:
        for members, part in jobs:
            runs += run_lockstep(members, part.tolist(), n_samples, evaluations, bar.update)
    else:
        def cost(job: tuple[list[Config], np.ndarray]) -> float:  # game-iterations times the batch
            members, part = job
            return len(members) * len(part) * members[0].iterations * members[0].task_options.get("batch_size", 1)

        context = get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            queue = manager.Queue()
            futures = [pool.submit(run_lockstep, members, part.tolist(), n_samples, evaluations, QueueProgress(queue))
                       for members, part in sorted(jobs, key=cost, reverse=True)]  # fmt: skip
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                while not queue.empty():
                    bar.update(queue.get())
                for future in finished:
                    runs += future.result()
    bar.close()
    return runs


#: Draws of the floor for a target given as samples: one draw's W1 to a heavy-tailed sample swings as much as its
#: mean (a few far points decide it), so the floor is the mean of this many draws (its standard error about 1/7 of
#: one draw's spread) rather than of one per seed.
SAMPLE_FLOOR_DRAWS = 50


def floor(config: Config, n: int, seeds: int) -> dict[str, list[float]]:
    """The metrics of target samples of size n: what a perfect generator scores (one draw per seed for a normal
    target; :data:`SAMPLE_FLOOR_DRAWS` draws for a target given as samples)."""
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", **config.task_options)
    task = env.game.task
    reports = []
    for seed in range(seeds if task.analytic else max(seeds, SAMPLE_FLOOR_DRAWS)):
        draw = task.sample_data(n, torch.Generator().manual_seed(1_000_000 + seed), torch.device("cpu"), torch.float64)
        reference = None if task.analytic else task.samples.numpy()
        reports.append(distances(draw.reshape(-1).numpy(), task.mean, task.std, reference))
    return {m: [r[m] for r in reports] for m in METRICS}


# ---- 4. Tables and figures -----------------------------------------------------------------------


def iterations_to_floor(run: dict, threshold: float) -> float:
    hits = [i for i, w in zip(run["curve"]["iteration"], run["curve"]["w1"]) if w < threshold]
    return hits[0] if hits else math.nan


def table(configs: list[Config], runs: list[dict], floors: dict[str, list[float]]) -> tuple[str, list[dict]]:
    threshold = 2 * float(np.mean(floors["w1"]))
    header = ["schedule · rule · loss", "W1", "KS", "|mean err|", "|std err|", "hist JSD", "|D(x)-½|", "|D(G(z))-½|",
              "|V+log 4|", "epochs", "wall s", f"iters to W1<{threshold:.3g}", "W1<2×floor", "diverged/collapsed"]
    rows, summary = [], []
    for config in configs:
        mine = [r for r in runs if r["label"] == config.label]
        reached = [iterations_to_floor(r, threshold) for r in mine]
        final_ok = sum(r["metrics"]["w1"] < threshold for r in mine)
        cells = [mean_std([r["metrics"][m] for r in mine]) for m in METRICS + GAPS]
        hits = [x for x in reached if np.isfinite(x)]
        rows.append([config.label, *cells, mean_std([r["epochs"] for r in mine], 3), mean_std([r["wall_time"] for r in mine], 2),
                     f"{mean_std(hits, 3)} ({len(hits)}/{len(mine)})" if hits else f"never (0/{len(mine)})",
                     f"{final_ok}/{len(mine)}", f"{sum(r['diverged'] for r in mine)}/{sum(r['collapsed'] for r in mine)} of {len(mine)}"])
        summary.append({"label": config.label, "w1_mean": float(np.nanmean([r["metrics"]["w1"] for r in mine])),
                        "final_within_2x_floor": final_ok, "runs": len(mine)})
    rows.append(["floor (target sample vs target)", *[mean_std(floors[m]) for m in METRICS], "0", "0", "0", "", "", "", "", ""])
    return markdown_table(header, rows), summary


def arithmetic_floor(config: Config, games: int, workers: int) -> dict[str, float]:
    """The least time ``games`` games of ``config`` can take on this machine, in seconds of one core.

    Counted on two games in lockstep (one iteration, :func:`benchmarks.speed._work`): the matrix
    products' FLOPs and the elements of tanh and of its backward per game-iteration, priced at this
    machine's rates measured now (a large matmul, tanh, tanh backward: :func:`benchmarks.speed.calibrate`).
    It leaves out every other elementwise pass, so the run itself takes longer.
    """
    from benchmarks import speed

    env = minimax.make_vector("minimax/Normal1D-v0", 2, schedule=config.schedule, loss=config.loss, **config.task_options)
    rules = config.make_rules()
    env.reset(seed=[0, 1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work = speed._work(lambda n: minimax.train(env, rules, n, seed=[0, 1], progress=False))
        rates = speed.calibrate({"device": "cpu", "threads": 1})
    finally:
        torch.set_num_threads(threads)
    per_game = {k: v / 2 for k, v in work.items()}
    seconds = (per_game["flops_per_game_iteration"] / (rates["matmul_gflops"] * 1e9)
               + per_game["tanh_elements"] * rates["tanh_ns"] * 1e-9
               + per_game["tanh_backward_elements"] * rates["tanh_backward_ns"] * 1e-9)  # fmt: skip
    return {**per_game, **{k: rates[k] for k in ("matmul_gflops", "tanh_ns", "tanh_backward_ns")},
            "seconds_per_game_iteration": seconds, "games": games, "workers": workers,
            "core_seconds": seconds * config.iterations * games}


def floor_line(floor: dict[str, float], measured: float) -> str:
    """The arithmetic floor in words, beside the time measured."""
    return (f"Arithmetic floor of the recipe: {floor['flops_per_game_iteration'] / 1e6:.3g} MFLOP of matrix products and "
            f"{(floor['tanh_elements'] + floor['tanh_backward_elements']) / 1e6:.3g} M tanh (and backward) elements per "
            f"game-iteration, at this machine's matmul {floor['matmul_gflops']:.0f} GFLOP/s and tanh "
            f"{floor['tanh_ns']:.2f} ns/element (measured now, one thread): {floor['seconds_per_game_iteration'] * 1e3:.3g} ms "
            f"per game-iteration: at least {floor['core_seconds']:.3g} s of one core for its {floor['games']:g} games "
            f"({floor['core_seconds'] / floor['workers']:.3g} s on {floor['workers']:g} cores); they took "
            f"{measured:.3g} s of one core ({measured / floor['core_seconds']:.1f}x the floor).")  # fmt: skip


def differences(config: Config, reference: Config) -> list[str]:
    """What ``config`` does otherwise than ``reference``, in words (noise, loss, schedule, rates, averaging, size)."""
    def settings(c: Config) -> dict[str, str]:
        return {"noise": f"{c.task_options.get('noise')} noise", "loss": f"loss {c.loss}", "schedule": c.schedule,
                "rate": f"learning rate decayed {c.lr_decay} to {c.lr_end:g}x" if c.lr_decay != "none" else "a constant learning rate",
                "ema": f"G averaged (EMA {c.ema:g})" if c.ema is not None else "the last G iterate",
                "batch": f"batch {c.task_options.get('batch_size')}", "iterations": f"{c.iterations} iterations"}
    mine, theirs = settings(config), settings(reference)
    return [f"{mine[k]} (recipe: {theirs[k]})" for k in mine if mine[k] != theirs[k]]


def verdict(configs: list[Config], summary: list[dict], threshold: float) -> str:
    """The summary line: which configurations ended within 2x the floor in every seed, which did not, and why."""
    reached = [s for s in summary if s["final_within_2x_floor"] == s["runs"]]
    missed = [s for s in summary if s["final_within_2x_floor"] < s["runs"]]
    floor_w1 = threshold / 2
    lines = [f"W1 within 2 × floor ({threshold:.3g}) at the end in every seed: "
             + ("; ".join(f"{s['label']} (mean W1 {s['w1_mean']:.3g}, {s['w1_mean'] / floor_w1:.2g}× the floor)" for s in reached)
                or "no configuration") + "."]
    if missed:
        lines.append("Not in every seed: " + "; ".join(
            f"{s['label']} ({s['final_within_2x_floor']}/{s['runs']}, mean W1 {s['w1_mean']:.3g}, "
            f"{s['w1_mean'] / floor_w1:.2g}× the floor)" for s in missed) + ".")
    recipe = next((c for c in configs if c.is_recipe), None)
    by_label = {c.label: c for c in configs}
    recipe_reached = recipe is not None and any(s["label"] == recipe.label for s in reached)
    changed = differences(by_label[missed[0]["label"]], recipe) if recipe_reached and missed else []
    if changed:
        lines.append(f"Why: the others play the report's setup, which differs from the recipe in {', '.join(changed)}; "
                     "the README's ablation shows the noise, the penalty, the decay and the averaging each matter.")
    return "\n".join(lines)


def plot_seeds(path: Path, runs: list[dict], density: Any, threshold: float) -> None:
    """The end of every seed of one configuration: generated histogram over the target density, W1 in the title."""
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 2.9), sharey=True, squeeze=False)
    span = panels.histogram_range(*(r["samples"] for r in runs), quantile=0.2)
    for ax, r in zip(axes.flat, runs):
        w1 = r["metrics"]["w1"]
        panels.draw_histogram(ax, r["samples"], density, span=span, color="tab:green" if w1 < threshold else "tab:red",
                              label=None)  # fmt: skip
        ax.set_title(f"seed {r['seed']}: W1 {w1:.3g} ({'<' if w1 < threshold else '≥'} {threshold:.3g})", fontsize=9)
    fig.suptitle(f"{runs[0]['label']}, every seed at the end (green: within 2 × floor)", fontsize=9)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_histograms(path: Path, run: dict, density: Any) -> None:
    """The report's figures 5-10: generated histograms over the target density along one run."""
    if run.get("snapshot_iterations") is not None:  # asked for: those reached (a diverged run stops early)
        chosen = [i for i in run["snapshot_iterations"] if i in run["snapshots"]]
    else:
        points = sorted(run["snapshots"])
        chosen = [points[round(i * (len(points) - 1) / 5)] for i in range(6)]
    first = run["snapshots"][0]
    lo, hi = np.percentile(np.concatenate([run["samples"], first]), [0.5, 99.5])
    center, spread = run["d_grid"][len(run["d_grid"]) // 2], run["d_grid"][-1] - run["d_grid"][len(run["d_grid"]) // 2]
    lo, hi = min(lo, center - spread), max(hi, center + spread)
    xs = np.linspace(lo, hi, 400)
    rows = max(1, math.ceil(len(chosen) / 3))
    fig, axes = plt.subplots(rows, 3, figsize=(12, 3.1 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[len(chosen):]:
        ax.set_visible(False)
    peak = float(density(xs).max())
    for ax, it in zip(axes.flat, chosen):
        panels.draw_histogram(ax, run["snapshots"][it], density, span=(lo, hi))
        epoch = it * run["epochs_per_iteration"]
        ax.set_title(f"epoch {epoch:.0f} · iteration {it}" if np.isfinite(epoch) else f"iteration {it}", fontsize=10)
    axes.flat[0].legend(fontsize=8)
    axes.flat[0].set_ylim(0, 3 * peak)  # a collapsed start would otherwise flatten every later panel
    fig.suptitle(f"{run['label']}, seed {run['seed']}")
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_curves(path: Path, configs: list[Config], runs: list[dict], threshold: float) -> None:
    """W1 and both players' losses per configuration: mean ± std over seeds."""
    fig, (ax_w, ax_l) = plt.subplots(1, 2, figsize=(13, 4.4))
    rates = set()  # epochs per iteration of the configurations drawn
    for i, config in enumerate(configs):
        mine = [r for r in runs if r["label"] == config.label and r["iterations"] == config.iterations]
        if not mine:
            continue
        color = plt.cm.tab10(i % 10)
        x = np.asarray(mine[0]["curve"]["iteration"])
        w = np.array([r["curve"]["w1"] for r in mine])
        rate = mine[0]["epochs_per_iteration"]
        rates.add(rate if np.isfinite(rate) else None)
        ax_w.plot(x, w.mean(0), color=color, label=config.label + (f" ({rate:.3g} epochs/iteration)" if np.isfinite(rate) else ""))
        ax_w.fill_between(x, w.mean(0) - w.std(0), w.mean(0) + w.std(0), color=color, alpha=0.15)
        for player, style in (("discriminator", "-"), ("generator", "--")):
            loss = np.array([r["losses"][player] for r in mine])
            smooth = max(1, loss.shape[1] // 100)
            kernel = np.ones(smooth) / smooth
            curve = np.array([np.convolve(row, kernel, mode="valid") for row in loss])
            steps = np.arange(curve.shape[1]) + smooth
            ax_l.plot(steps, curve.mean(0), style, color=color, lw=1)
            ax_l.fill_between(steps, curve.mean(0) - curve.std(0), curve.mean(0) + curve.std(0), color=color, alpha=0.1)
    ax_w.axhline(threshold, color="k", ls=":", lw=1, label="2 × floor")
    ax_w.set(yscale="log", xlabel="iteration (generator updates)", ylabel="W1 to the target", title="Wasserstein-1")
    ax_l.set(xlabel="iteration (generator updates)", ylabel="loss", title="losses (solid: discriminator, dashed: generator)")
    if len(rates) == 1 and None not in rates:  # one epoch scale for every curve: a second x axis in epochs
        rate = rates.pop()
        for ax in (ax_w, ax_l):
            ax.secondary_xaxis("top", functions=(lambda it, r=rate: it * r, lambda ep, r=rate: ep / r)).set_xlabel("epoch")
    ax_w.legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_discriminator(path: Path, run: dict, density: Any) -> None:
    """D(x) at the end against the optimal D* = p_data / (p_data + p_g) for the generator reached."""
    x, d = run["d_grid"], run["d_of_x"]
    g = run["samples"][np.isfinite(run["samples"])]
    bandwidth = 1.06 * g.std() * len(g) ** (-1 / 5) if g.std() > 0 else 1e-3  # Silverman's rule
    p_g = np.exp(-0.5 * ((x[:, None] - g[None, :: max(1, len(g) // 4000)]) / bandwidth) ** 2).mean(1) / (
        bandwidth * math.sqrt(2 * math.pi))
    p_data = density(x)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(x, d, label="D(x) learnt")
    ax.plot(x, p_data / (p_data + p_g + 1e-300), "--", label="D* = p_data / (p_data + p_g)")
    ax.axhline(0.5, color="k", lw=0.8, ls=":", label="1/2 (equilibrium)")
    when = f"iteration {run['iterations']}"
    when = f"epoch {run['epochs']:.0f} · {when}" if np.isfinite(run["epochs"]) else when
    ax.set(xlabel="x", ylabel="D(x)", ylim=(0, 1), title=f"{run['label']}, seed {run['seed']}, end ({when})")
    ax.legend(fontsize=8)
    save_figure(path, fig)
    plt.close(fig)


# ---- 5. Main ---------------------------------------------------------------------------------------


def direct_fit(config: Config, steps: int, lr: float, n_samples: int, seed: int) -> dict[str, float]:
    """No game: train the generator alone on the minibatch W1 (sorted samples matched to sorted targets).

    What this network can represent with this optimiser budget: a reference for what the game reaches.
    """
    torch.set_num_threads(1)
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", **config.task_options)
    env.reset(seed=seed)
    game = env.game
    theta = game.parameters("generator")[0]
    rule = agents.with_schedule(agents.make("adam", lr=lr), agents.lr_schedules.linear(steps, end=0.01))
    state = rule.init(theta)
    module = game.networks["generator"].template  # one game: its module, parameters viewing theta
    for _ in range(steps):
        batch = game.sample()
        with torch.enable_grad():
            fake = module(batch.noise[0]).reshape(-1)
            loss = (torch.sort(fake).values - torch.sort(batch.real.reshape(-1)).values).abs().mean()
            grad = module.flat_gradient(loss)
        delta, state = rule.update(grad, state, theta)
        theta.add_(delta)
    return evaluate(env, n_samples, seed)[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    configs = grid(args)
    if args.direct_fit:
        fits = [direct_fit(configs[0], args.direct_fit, args.adam_lr, args.samples, seed) for seed in range(args.seeds)]
        floors = floor(configs[0], args.samples, args.seeds)
        rows = [[f"generator fitted directly, {args.direct_fit} steps", *[mean_std([f[m] for f in fits]) for m in METRICS]],
                ["floor (target sample vs target)", *[mean_std(floors[m]) for m in METRICS]]]
        text = markdown_table(["", "W1", "KS", "|mean err|", "|std err|", "hist JSD"], rows)
        print(text)
        return {"fits": fits, "floor": floors}
    started = time.perf_counter()
    runs: list[dict] = []
    if args.engine == "lockstep":
        groups: dict[tuple, list[Config]] = {}
        for c in configs:
            groups.setdefault(group_key(c), []).append(c)
        workers = min(args.workers, args.seeds * len(groups))
        runs = run_groups(list(groups.values()), list(range(args.seeds)), args.samples, args.evaluations, workers,
                          args.no_progress)  # fmt: skip
        order = {c.label: i for i, c in enumerate(configs)}
        runs.sort(key=lambda r: (order[r["label"]], r["seed"]))
        engine = (f"games in lockstep ({len(groups)} vector env(s), "
                  f"{'one process' if workers == 1 else f'{workers} processes'} at one thread)")
    else:
        jobs = [(c, seed) for c in configs for seed in range(args.seeds)]
        with ProcessPoolExecutor(max_workers=min(args.workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run, c, seed, args.samples, args.evaluations) for c, seed in jobs]
            for future in tqdm(futures, desc="runs", disable=args.no_progress):
                runs.append(future.result())
        engine = f"a process pool ({min(args.workers, len(jobs))} workers, one run each)"
    elapsed = time.perf_counter() - started
    floors = floor(configs[0], args.samples, args.seeds)
    threshold = 2 * float(np.mean(floors["w1"]))
    text, summary = table(configs, runs, floors)
    task = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", **configs[0].task_options).game.task
    target = f"N({task.mean:g}, {task.std:g}^2)" if task.analytic else f"{len(task.samples)} target samples"
    data = f"training set of {task.train_size} samples (epoch = one pass)" if task.train_size else "fresh samples each minibatch"
    title = (f"Normal1D, target {target}, {task.noise} noise, {data}, batch {task.batch_size}"
             f"{', preset ' + args.preset if args.preset else ''}; {args.seeds} seeds, {args.samples} generated samples; "
             f"mean ± std over seeds. Played as {engine}: {elapsed:.0f} s in all"
             f"{' (wall s per run: its share of its vector env)' if args.engine == 'lockstep' else ''}")
    best = min(summary, key=lambda s: s["w1_mean"] if np.isfinite(s["w1_mean"]) else math.inf)
    line = (f"Best configuration: {best['label']} (mean W1 {best['w1_mean']:.4g}); W1 within 2 × floor "
            f"({threshold:.3g}) at the end in {best['final_within_2x_floor']}/{best['runs']} seeds.")
    recipe_config = next((c for c in configs if c.is_recipe), None)
    arithmetic = None
    if recipe_config is not None and args.engine == "lockstep":
        arithmetic = arithmetic_floor(recipe_config, args.seeds, workers)
        spent = sum(r["wall_time"] for r in runs if r["label"] == recipe_config.label)  # each game's share of its env
    report = f"{title}\n\n{text}\n\n{line}\n{verdict(configs, summary, threshold)}\n"
    if arithmetic is not None:
        report += floor_line(arithmetic, spent) + "\n"
    print(report)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.md", report.encode())
    density = task.density
    best_runs = [r for r in runs if r["label"] == best["label"]]
    plot_histograms(out / "histograms.png", best_runs[0], density)
    plot_curves(out / "curves.png", configs, runs, threshold)
    plot_seeds(out / "seeds.png", best_runs, density, threshold)
    if best_runs[0]["d_of_x"] is not None:
        plot_discriminator(out / "discriminator.png", best_runs[0], density)
    settings = vars(args)
    save_json(out / "results.json", {
        "settings": settings, "engine": engine, "elapsed_s": elapsed, "task": task.describe(), "floor": floors,
        "threshold_2x_floor": threshold, "recipe_arithmetic_floor": arithmetic,
        "summary": summary, "best": best, "verdict": verdict(configs, summary, threshold),
        "runs": [{k: v for k, v in r.items() if k in ("label", "schedule", "rule", "loss", "seed", "iterations", "epochs",
                                                      "wall_time", "diverged", "reason", "collapsed")}
                 | {"metrics": r["metrics"], "w1_curve": r["curve"]}
                 for r in runs],
    })
    print(f"wrote {out}/results.md, results.json, histograms.png, seeds.png, curves.png"
          f"{', discriminator.png' if best_runs[0]['d_of_x'] is not None else ''}")
    return {"summary": summary, "best": best, "floor": floors, "threshold": threshold}


if __name__ == "__main__":
    main()
