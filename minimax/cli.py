"""The ``minimax`` command: train, resume, evaluate and plot runs without writing Python.

It only parses and prints: the runs themselves (their spec grammar, building, training, resuming,
evaluating a run directory) are :mod:`minimax.runs`, and the sweeps :mod:`minimax.sweep`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import signal
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from minimax import runs
from minimax.runs import DEFAULT_RULE, UsageError, format_value, positive_int, seed_number

SCHEDULE_FORMS = (
    "alternating:k=K,m=M,first=discriminator|generator,split=true|false  (Algorithm 1; default k=1,m=1)",
    "simultaneous  (both players move on the same state and minibatch)",
)

EPILOG_MAIN = """\
examples:
  minimax list                                   tasks, update rules, schedules, loss families
  minimax train Normal1D --iterations 2000 --out runs/n1d
  minimax resume runs/n1d                        continue after a crash or a kill, bitwise
  minimax eval runs/n1d                          final metrics (W1 and KS to the target for Normal1D)
  minimax plot runs/n1d                          runs/n1d/curves.png

Run 'minimax COMMAND --help' for the options of each command.
"""

EPILOG_TRAIN = f"""\
spec syntax:  NAME[:KEY=VALUE[,KEY=VALUE...]]
  VALUE: a number (2e-4, 5), true/false, none, a word, or a tuple with '/' between items
  (betas=0.5/0.999); a dotted key sets one entry of a mapping (lr.discriminator=0.1).
  Rules also take lr_schedule=linear|cosine/STEPS[/END] (learning-rate decay), clip=BOUND
  (WGAN weight clipping) and ema=DECAY|uniform (iterate averaging).

examples:
  # Algorithm 1 with five discriminator steps, Adam for both players, on the 1D task
  minimax train Normal1D --schedule alternating:k=5 --loss non-saturating \\
      --discriminator adam:lr=2e-4,betas=0.5/0.999 --generator adam:lr=2e-4,betas=0.5/0.999 \\
      --iterations 5000 --seed 1 --out runs/k5

  # another target, an R1 penalty, a fixed training set, checkpoints every 500 iterations
  minimax train Normal1D -o mean=-2 -o std=0.5 -o train_size=50000 --loss non-saturating:r1=1 \\
      --rule adam:lr=1e-3,lr_schedule=linear/8000/0.01 --iterations 8000 --checkpoint-every 500

  # a game-aware rule on Dirac-GAN (simultaneous moves: the parallel env)
  minimax train DiracGAN --env parallel --joint consensus:lr=0.1,gamma=1 --iterations 500

  # two time-scales for extragradient
  minimax train Bilinear --joint extragradient:lr.discriminator=0.2,lr.generator=0.05

defaults: --rule {DEFAULT_RULE} for each player, the task's own loss (minimax) and
schedule (alternating:k=1), --iterations 1000, --seed 0, --device cpu.
"""


EPILOG_SWEEP = """\
examples:
  # 2 rules x 2 schedules x 3 seeds of Normal1D, 2 processes
  minimax sweep --out sweeps/n1d --task Normal1D --rule adam:lr=1e-3 --rule sgd:lr=0.01 \\
      --schedule alternating:k=1 --schedule alternating:k=5 --seeds 0 1 2 --iterations 200 --workers 2

  # from a file; the same command again skips the finished runs and resumes the others
  minimax sweep sweep.json --out sweeps/big --workers 4

  # on a Ray cluster, each run retried up to 3 times if its worker dies
  minimax sweep sweep.json --out /shared/sweeps/big --backend ray --address ray://head:10001 --retries 3

SPEC.json:
  {"tasks": ["Normal1D:hidden=4,d_hidden=4"],
   "rules": ["adam:lr=1e-3", {"discriminator": "sgd:lr=0.1", "generator": "adam:lr=1e-3"},
             {"joint": "extragradient:lr=0.1"}],
   "schedules": ["alternating:k=1", "alternating:k=5"],     (null: the task's own)
   "seeds": [0, 1, 2], "iterations": 200,
   "train_args": ["--loss", "non-saturating", "--checkpoint-every", "20"]}

Each run is OUT/<task>-<rule>-<schedule>-seed<S>/ (a 'minimax train' directory: 'minimax eval', 'plot' and
'resume' work on it). OUT/sweep.md: one row per run: status, attempts, W1 and KS (Normal1D), and the last
value and the mean over the last 10% of the iterations of V and the losses; OUT/sweep.json has every metric.
"""


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # the usage, the bad value, what was expected; exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def make_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="minimax",
        description="GANs as two-player games: train, resume, evaluate and plot runs (a run is one directory).",
        epilog=EPILOG_MAIN,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"minimax {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser(
        "train", help="train a task; checkpoints and metrics go to --out",
        description="Train TASK: two update rules (or one joint rule) play the game for --iterations iterations. "
        "Everything that rebuilds the run is saved as DIR/run.json, checkpoints as DIR/checkpoint-*.ckpt, "
        "metrics as DIR/metrics.jsonl (one row per iteration, flushed as the run goes).",
        epilog=EPILOG_TRAIN, formatter_class=formatter,
    )  # fmt: skip
    runs.add_train_arguments(train)

    resume = commands.add_parser(
        "resume", help="continue a run from its newest checkpoint",
        description="Continue the run in DIR from its newest valid checkpoint, as if it had never stopped "
        "(bitwise on the CPU). A run killed before its first checkpoint starts again from iteration 0.",
        epilog="examples:\n  minimax resume runs/n1d\n  minimax resume runs/n1d --iterations 20000   extend a finished run",
        formatter_class=formatter,
    )  # fmt: skip
    resume.add_argument("dir", metavar="DIR", help="a run directory made by 'minimax train'")
    resume.add_argument("--iterations", "-n", type=positive_int("iterations"), default=None,
                        help="a new total (extends the run); default: the run's own")
    runs.progress_option(resume)

    evaluate = commands.add_parser(
        "eval", help="final metrics of a run, from its newest checkpoint",
        description="Reload the newest checkpoint of DIR and print the run's state and final metrics; for Normal1D "
        "also W1 and KS between generator samples and the target; for MNIST and Fashion-MNIST the evaluation "
        "classifier's metrics (classifier score, Frechet distance, classes, KL to uniform, precision, recall) next to "
        "their real-vs-real floor; for Stacked MNIST its modes of 1000, for Ring8 and Grid25 the mode metrics, each "
        "next to what real data scores. With the generator's average of iterates too when the run keeps one.",
        epilog="examples:\n  minimax eval runs/n1d\n  minimax eval runs/n1d --samples 100000 --json\n"
        "  minimax eval runs/mnist --markdown      (the classifier trains once on first use, then is cached)",
        formatter_class=formatter,
    )  # fmt: skip
    evaluate.add_argument("dir", metavar="DIR", help="a run directory")
    evaluate.add_argument("--samples", type=positive_int("samples"), default=10000,
                          help="generator samples for the distances and metrics (default 10000)")
    evaluate.add_argument("--checkpoint", metavar="FILE", help="a given checkpoint instead of the newest")
    shape = evaluate.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print JSON")
    shape.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    runs.progress_option(evaluate)

    export = commands.add_parser(
        "export", help="the run's generator as a torch state_dict, for use outside minimax",
        description="Write the generator of DIR's newest checkpoint as a module state_dict (tensors only: "
        "torch.load(path, weights_only=True) reads it; the task's build_generator() module loads it). By default the "
        "average of iterates when the run keeps one (-G ...,ema=D), else the last iterate.",
        epilog="examples:\n  minimax export runs/n1d\n  minimax export runs/n1d --which last --output g.pt",
        formatter_class=formatter,
    )  # fmt: skip
    export.add_argument("dir", metavar="DIR", help="a run directory")
    export.add_argument("--which", choices=["auto", "last", "average"], default="auto",
                        help="auto (default): the average of iterates when the run keeps one; last; average")
    export.add_argument("--output", metavar="FILE", help="the file (default DIR/generator-ITERATION-WHICH.pt)")
    export.add_argument("--checkpoint", metavar="FILE", help="a given checkpoint instead of the newest")

    plot = commands.add_parser(
        "plot", help="PNGs of a run: its loss and value curves, and its game as the env draws it (samples, portrait)",
        description="Plot the losses, the value V, D(x), D(G(z)) and the gradient norms from DIR/metrics.jsonl "
                    "(DIR/curves.png), and the game at the newest checkpoint as its env renders it (DIR/game.png: "
                    "the generated histogram over the target, the scatter over the modes, the sample grid or the "
                    "phase portrait; the generator's average of iterates when the run keeps one).",
        epilog="examples:\n  minimax plot runs/n1d\n  minimax plot runs/n1d --output n1d.png",
        formatter_class=formatter,
    )  # fmt: skip
    plot.add_argument("dir", metavar="DIR", help="a run directory")
    plot.add_argument("--output", metavar="FILE", help="the curves' PNG (default DIR/curves.png; the game's picture "
                                                       "then goes beside it as FILE-game.png)")

    sweep = commands.add_parser(
        "sweep", help="a grid of tasks x rules x schedules x seeds, locally or on Ray; one merged table",
        description="Play one 'minimax train' run per grid point, each in OUT/<run-name>/ (a name made from the grid "
        "point). The grid comes from SPEC.json or from --task/--rule/--schedule/--seeds (both: the command-line lists "
        "replace the file's). A worker that dies has its runs retried from their checkpoints (--retries); runs "
        "already finished in OUT are skipped, so running the same command again continues an interrupted sweep. "
        "At the end the runs' results are merged into OUT/sweep.md and OUT/sweep.json.",
        epilog=EPILOG_SWEEP, formatter_class=formatter,
    )  # fmt: skip
    sweep.add_argument("spec", metavar="SPEC.json", nargs="?", help="the sweep spec (see below)")
    sweep.add_argument("--out", metavar="DIR", required=True, help="the sweep directory (one subdirectory per run)")
    grid = sweep.add_argument_group("the grid on the command line")
    grid.add_argument("--task", action="append", metavar="TASK[:OPTION=VALUE,...]",
                      help="a task with its -o options, repeatable: Normal1D:hidden=4,d_hidden=4")
    grid.add_argument("--rule", action="append", metavar="SPEC", help="a rule for both players, repeatable: adam:lr=1e-3")
    grid.add_argument("--schedule", action="append", metavar="SPEC", help="a schedule, repeatable: alternating:k=5")
    grid.add_argument("--seeds", type=seed_number, nargs="+", metavar="S", help="seeds: --seeds 0 1 2")
    grid.add_argument("--iterations", "-n", type=positive_int("iterations"), help="iterations of every run")
    grid.add_argument("--train-arg", action="append", default=[], metavar="ARG",
                      help="more 'minimax train' options for every run, repeatable: --train-arg=--loss "
                      "--train-arg=non-saturating")
    where = sweep.add_argument_group("where the runs go")
    where.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local: a process pool on this machine (default); ray: Ray tasks (pip install ray)")
    where.add_argument("--workers", type=positive_int("workers"), default=1,
                       help="processes in the local pool / CPUs of a local Ray (default 1)")
    where.add_argument("--retries", type=int, default=2, metavar="R",
                       help="retries of a run whose worker died (default 2); the retry resumes from its checkpoint")
    where.add_argument("--address", metavar="ADDR", help="a Ray cluster (ray://HOST:10001 or auto); default a local Ray")
    where.add_argument("--threads", type=positive_int("threads"), default=1,
                       help="torch threads per run (default 1)")

    listing = commands.add_parser(
        "list", help="tasks, update rules, schedules and loss families",
        description="What can be trained and how: tasks and their options, update rules and their hyper-parameters, "
        "schedules, loss families and their options.",
        formatter_class=formatter,
    )  # fmt: skip
    listing.add_argument("what", nargs="?", choices=("tasks", "agents", "schedules", "losses"), help="one section only")
    listing.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _version() -> str:
    from minimax.utils.version import VERSION

    return VERSION


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spec, out, env, rules = runs.prepare_train(args)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a directory")
    if out.is_dir() and runs.run_files(out):
        if not args.overwrite:
            raise UsageError(
                f"--out {str(out)!r} already holds a run ({', '.join(sorted(p.name for p in runs.run_files(out))[:3])}, "
                f"...); continue it with 'minimax resume {out}', or pass --overwrite to replace it"
            )
        from minimax.training import manifest

        manifest.remove_run(out)  # only what the run wrote (its manifest and checkpoints): a user's files stay
    out.mkdir(parents=True, exist_ok=True)
    return _report(runs.train_run(spec, out, env, rules, args.progress), spec, out)


def _report(result: runs.RunResult, spec: Mapping[str, Any], out: Path) -> int:
    history = result.history
    if result.signal is not None:
        print(f"stopped at iteration {history.iterations} of {spec['iterations']} "
              f"({signal.Signals(result.signal).name}); checkpoint saved: continue with 'minimax resume {out}'",
              file=sys.stderr)  # fmt: skip
        return 128 + result.signal
    diverged = bool(history.terminated.any())
    status = (f"diverged: {history.reason}" if diverged else "truncated (max steps)"
              if history.truncated else "finished")  # fmt: skip
    print(f"{out}: {status} after {history.iterations} of {spec['iterations']} iterations "
          f"({int(history.moves.sum())} moves, {history.wall_time:.1f} s)")  # fmt: skip
    if history.iterations:
        last = {k: v[-1] for k, v in history.game(0).items()}
        print("  last iteration: " + ", ".join(f"{k} {_fmt(v)}" for k, v in last.items()))
    return runs.EXIT_DIVERGED if diverged else runs.EXIT_FINISHED


def _fmt(x: Any) -> str:
    return "nan" if x is None or not math.isfinite(float(x)) else f"{float(x):.6g}"


def cmd_resume(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.dir)
    result = runs.resume_run(out, args.iterations, args.progress)
    return _report(result, {"iterations": args.iterations or runs.load_spec(out)["iterations"]}, out)


def cmd_eval(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = Path(args.dir)
    report = runs.evaluate_run(out, args.samples, args.checkpoint, args.progress)
    tail = report.pop("tail")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{out}: {report['task']}, checkpoint at iteration {report['iteration']} of {report['iterations']} "
          f"({Path(report['checkpoint']).name}); {report['status']}"
          + (f": {report['reason']}" if report["reason"] else ""))  # fmt: skip
    if report["final"]:
        rows = [[k, _fmt(report["final"][k]), _fmt(report["mean_last_10pct"][k])] for k in report["final"]]
        _print_table(["metric", "last", f"mean of last {tail}"], rows, args.markdown)
    for key, which in (("target", "last iterate"), ("target_average", "average of iterates")):
        if key not in report:
            continue
        t = report[key]
        if "error" in t:
            print(f"  target ({which}): {t['error']}")
        else:
            print(f"  {args.samples} generator samples ({which}) vs N({t['mean']:g}, {t['std']:g}^2): "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in t.items() if k not in ("mean", "std", "samples")))  # fmt: skip
    if "quality" in report:
        _print_quality(report["quality"], args.markdown)
    if "parameters" in report:
        print("  parameters: " + "; ".join(f"{p} {v}" for p, v in report["parameters"].items()))
    return 0


QUALITY_TITLES = {"images": "the evaluation classifier's metrics", "stacked": "Stacked MNIST modes",
                  "modes": "mode metrics"}  # fmt: skip


def _print_quality(quality: Mapping[str, Any], markdown: bool) -> None:
    """The task's own measure: one row per headline metric, the last iterate, the average (if any), the floor."""
    columns = [("last", "last iterate")] + ([("average", "average of iterates")] if "average" in quality else [])
    print(f"\n  {QUALITY_TITLES.get(quality['kind'], quality['kind'])}, {quality['samples']:,} generated samples; "
          f"floor: {quality['floor_note']}")
    classifier = quality.get("classifier")
    if classifier:
        print(f"  classifier: {classifier['accuracy']:.2%} held-out accuracy on {classifier['heldout']:,} images "
              f"({classifier['note']}); sha256 {classifier['sha256'][:16]}")  # fmt: skip
    for key, which in columns:
        if "error" in quality[key]:
            print(f"  {which}: {quality[key]['error']}")
    shown = [(key, which) for key, which in columns if "error" not in quality[key]]
    rows = [[name, *(_fmt(quality[key][name]) for key, _ in shown), _fmt(quality["floor"][name])]
            for name in quality["headline"]]  # fmt: skip
    _print_table(["metric", *(which for _, which in shown), "floor"], rows, markdown)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> None:
    """Rows under headers: aligned columns (two-space indent), or a Markdown table."""
    if markdown:
        print()
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()
        return
    widths = [max(26, len(headers[0]) + 2)] + [max(14, len(h) + 2) for h in headers[1:]]
    for row in [headers, *rows]:
        print("  " + f"{row[0]:<{widths[0]}}" + "".join(f"{cell:>{w}}" for cell, w in zip(row[1:], widths[1:])))


def cmd_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    path, which = runs.export_generator(Path(args.dir), args.output and Path(args.output), args.which, args.checkpoint)
    print(f"wrote {path} (the generator's {'average of iterates' if which == 'average' else 'last iterate'})")
    return 0


def cmd_plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from minimax.training import runlog

    out = Path(args.dir)
    if not out.is_dir():
        raise UsageError(f"DIR {str(out)!r} is not a directory")
    rows = runlog.read_rows(out / runlog.JSONL)
    if not rows:
        raise UsageError(f"{out / runlog.JSONL}: no metrics rows yet")
    x = np.array([r["iteration"] for r in rows])

    def series(name: str) -> np.ndarray:
        return np.array([np.nan if r.get(name) is None else r[name] for r in rows], dtype=float)

    try:
        spec = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        spec = {}
    from minimax.envs.registration import GAMES

    loss = (spec.get("loss") or "minimax").split(":")[0].lower()
    gan = str(spec.get("task", "")).removeprefix("minimax/") not in GAMES and loss in (
        "minimax", "saturating", "gan", "non-saturating", "nonsaturating", "ns")  # fmt: skip
    panels = [
        ("losses", [("discriminator_loss", "discriminator"), ("generator_loss", "generator")], None, False),
        ("value V", [("value", "V")], -math.log(4.0) if gan else None, False),
        ("D outputs", [("d_real", "D(x)"), ("d_fake", "D(G(z))")], 0.5, False),
        ("gradient norms", [("discriminator_grad_norm", "discriminator"), ("generator_grad_norm", "generator")], None, True),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (title, lines, reference, log_scale) in zip(axes.ravel(), panels):
        for name, label in lines:
            y = series(name)
            if np.isfinite(y).any():
                ax.plot(x, y, label=label, linewidth=0.8)
        if reference is not None:
            ax.axhline(reference, color="grey", linestyle="--", linewidth=0.8,
                       label="-log 4" if title.startswith("value") else "1/2")  # fmt: skip
        if log_scale and np.nanmin([np.nanmin(series(n)) if np.isfinite(series(n)).any() else np.inf for n, _ in lines]) > 0:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    if spec:
        figure.suptitle(f"{spec.get('task')} · {spec.get('env')} · {spec.get('schedule') or 'default schedule'} · "
                        f"{spec.get('loss') or 'default loss'}", fontsize=10)  # fmt: skip
    figure.tight_layout()
    target = Path(args.output) if args.output else out / "curves.png"
    if target.is_dir():
        plt.close(figure)
        raise UsageError(f"--output {str(target)!r} is a directory; give a file name, e.g. {str(target / 'curves.png')!r}")
    import io

    from minimax.training import checkpoint as ckpt
    from minimax.training import manifest
    from minimax.utils.files import atomic_output, atomic_write

    with atomic_output(target) as file:
        figure.savefig(file, format="png", dpi=110)
    plt.close(figure)
    if target.resolve().parent == out.resolve():
        manifest.record(out, target.name)
    print(target)
    if ckpt.latest(out) is None:
        print(f"(no checkpoint in {out} yet: no picture of the game)")
        return 0
    frame, which, iteration = runs.run_picture(out)
    picture = target.with_name(target.stem + "-game.png") if args.output else out / "game.png"
    buffer = io.BytesIO()
    plt.imsave(buffer, frame, format="png")
    atomic_write(picture, buffer.getvalue())
    if picture.resolve().parent == out.resolve():
        manifest.record(out, picture.name)
    print(f"{picture} (the game at iteration {iteration}, {which})")
    return 0


def _signature(factory: Callable[..., Any], skip: Sequence[str] = ()) -> dict[str, Any]:
    from minimax.training.checkpoint import jsonable

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: (jsonable(p.default) if p.default is not p.empty else "required")
            for p in parameters if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}  # fmt: skip


def listing() -> dict[str, Any]:
    """What ``minimax list`` prints, as data."""
    import agents
    from minimax.core import losses
    from minimax.envs.registration import GAMES, TASKS

    def first_line(obj: Any) -> str:
        return (inspect.getdoc(obj) or "").strip().splitlines()[0] if inspect.getdoc(obj) else ""

    factories = runs.rule_factories()
    return {
        "tasks": {f"minimax/{k}": {"kind": "task", "about": first_line(f), "options": _signature(f)} for k, f in TASKS.items()}
        | {f"minimax/{k}": {"kind": "payoff game", "about": first_line(f), "options": _signature(f, ("device", "dtype"))}
           for k, f in GAMES.items()},
        "agents": {name: {"kind": "joint" if getattr(factories[name], "joint", False) else "single-player",
                          "about": first_line(factories[name]), "hyperparameters": _signature(factories[name])}
                   for name in agents.available()}
        | {f"(wrapper) {k}": {"kind": "wrapper", "about": about, "hyperparameters": {}}
           for k, about in (("lr_schedule", "lr_schedule=linear|cosine/STEPS[/END]: decay the step size"),
                            ("clip", "clip=BOUND: WGAN weight clipping after each step"),
                            ("ema", "ema=DECAY|uniform: keep the average of the iterates"))},
        "schedules": list(SCHEDULE_FORMS),
        "losses": {"families": {k: first_line(v) for k, v in losses.LOSS_FAMILIES.items()},
                   "aliases": dict(losses._ALIASES),
                   "options": {"r1": "zero-centred gradient penalty on real data (weight)",
                               "r2": "zero-centred gradient penalty on generated data (weight)",
                               "gp": "WGAN-GP penalty (||grad c(x_hat)|| - 1)^2 on interpolates (weight)",
                               "noise": "instance noise (standard deviation)"}},
        "envs": {"aec": "turn-based, any schedule (default)", "parallel": "simultaneous moves; joint rules"},
    }  # fmt: skip


def cmd_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    data = listing()
    if args.what:
        data = {args.what: data[args.what]}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if "tasks" in data:
        print("tasks (minimax train TASK -o KEY=VALUE ...):")
        for name, info in data["tasks"].items():
            print(f"  {name:<28}{info['kind']:<13}{info['about']}")
            options = ", ".join(f"{k}={format_value(v) if not isinstance(v, str) or v == 'required' else v}"
                                for k, v in info["options"].items())  # fmt: skip
            print(f"  {'':<28}options: {options}")
    if "agents" in data:
        print("\nupdate rules (--rule/--discriminator/--generator NAME:KEY=VALUE,...; joint ones with --joint):")
        for name, info in data["agents"].items():
            params = ", ".join(f"{k}={format_value(v) if v != 'required' else '<required>'}"
                               for k, v in info["hyperparameters"].items())  # fmt: skip
            print(f"  {name:<22}{info['kind']:<15}{params or info['about']}")
    if "schedules" in data:
        print("\nschedules (--schedule, aec env):")
        for form in data["schedules"]:
            print(f"  {form}")
    if "losses" in data:
        losses_ = data["losses"]
        print("\nloss families (--loss NAME[:OPTION=VALUE,...]):")
        for name, about in losses_["families"].items():
            print(f"  {name:<16}{about}")
        print("  aliases: " + ", ".join(f"{k}={v}" for k, v in losses_["aliases"].items()))
        print("  options: " + "; ".join(f"{k}: {v}" for k, v in losses_["options"].items()))
    return 0


def cmd_sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from minimax import sweep

    try:
        data = sweep.SweepSpec.load(args.spec).to_dict() if args.spec else {}
    except sweep.SweepError as error:
        raise UsageError(str(error)) from None
    given = {"tasks": args.task, "rules": args.rule, "schedules": args.schedule, "seeds": args.seeds,
             "iterations": args.iterations}  # fmt: skip
    data.update({k: v for k, v in given.items() if v is not None})
    if args.train_arg:
        data["train_args"] = [*data.get("train_args", []), *args.train_arg]
    if "tasks" not in data:
        raise UsageError("give a SPEC.json or at least one --task")
    if args.retries < 0:
        raise UsageError(f"--retries must be an integer >= 0, got {args.retries}")
    if args.address and args.backend != "ray":
        raise UsageError("--address is for --backend ray")
    if not str(args.out).strip():
        raise UsageError("--out '': an empty path; give the sweep's directory")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {str(args.out)!r} is a file, not a directory (the sweep keeps one directory per run in it)")
    try:
        rows = sweep.sweep(data, args.out, backend=args.backend, workers=args.workers, retries=args.retries,
                           address=args.address, threads=args.threads)  # fmt: skip
    except sweep.SweepError as error:
        raise UsageError(str(error)) from None
    print(Path(args.out) / sweep.SWEEP_MD)
    if any(r["status"] != "finished" for r in rows):
        return runs.EXIT_ERROR
    return runs.EXIT_DIVERGED if any(r.get("diverged") for r in rows) else runs.EXIT_FINISHED


COMMANDS = {"train": cmd_train, "sweep": cmd_sweep, "resume": cmd_resume, "eval": cmd_eval, "export": cmd_export, "plot": cmd_plot, "list": cmd_list}


def main(argv: Sequence[str] | None = None) -> int:
    """The ``minimax`` console script."""
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    sub = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
    from minimax.training.checkpoint import CheckpointError

    previous_format = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest, **k: f"minimax {args.command}: warning: {message}\n"
    try:
        code = COMMANDS[args.command](args, sub)
        if code is not None and code >= 128:  # stopped by a signal: more Ctrl-C while Python exits must not print
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return code
    except UsageError as error:
        sub.error(str(error))
    except CheckpointError as error:
        print(f"minimax {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (minimax list | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        print(f"minimax {args.command}: error: {error}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, RuntimeError) as error:  # a bad value met deep inside: its message, no traceback
        if os.environ.get("MINIMAX_DEBUG"):
            raise
        print(f"minimax {args.command}: error: {error} ({type(error).__name__}; MINIMAX_DEBUG=1 shows where)",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third Ctrl-C while reporting: no traceback
        print(f"minimax {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":
    sys.exit(main())
