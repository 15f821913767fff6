"""The ``minimax`` command: train, resume, evaluate and plot runs without writing Python.

A run lives in one directory (``--out``)::

    run.json                    the run spec: everything that rebuilds the run (task, options, rules, seed, ...)
    checkpoint-<iteration>.ckpt the newest checkpoints (see minimax.training.checkpoint)
    metrics.jsonl               one JSON row per iteration, flushed as the run goes (metrics.csv with --csv)
    tensorboard/                when tensorboard is installed (or --tensorboard)
    summary.json                written when the run ends

Specs share one syntax: ``NAME[:KEY=VALUE[,KEY=VALUE...]]``. A VALUE is a number
(``2e-4``, ``5``), ``true``/``false``, ``none``, a word, or a tuple with ``/`` between its
items (``betas=0.5/0.999``; rows of a matrix with ``;``: ``A=1/0;0/1``); a dotted key sets
one entry of a mapping (``lr.discriminator=0.1,lr.generator=0.01``). A value for an option
that takes a path, or one that starts with ``/``, ``./``, ``../`` or ``~``, is a path.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import re
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

RUN_SPEC_VERSION = 1
DEFAULT_RULE = "adam:lr=2e-4,betas=0.5/0.999"
RULE_WRAPPERS = ("lr_schedule", "clip", "ema")  # handled here, not by agents.make
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


class UsageError(Exception):
    """A bad command-line value: reported through argparse's ``error`` (exit status 2)."""


# --------------------------------------------------------------------------------------------
# Values and specs
# --------------------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)
_PATHLIKE = ("/", "./", "../", "~")


def parse_scalar(text: str) -> Any:
    """``'5'`` -> 5, ``'2e-4'`` -> 0.0002, ``'true'`` -> True, ``'none'`` -> None, anything else a string."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    if _INT.fullmatch(t):
        return int(t)
    if _FLOAT.fullmatch(t):
        return float(t)
    return t


def parse_value(text: str, path: bool = False) -> Any:
    """A scalar, a ``/`` tuple or a ``;`` matrix; a path stays a string (see the module doc)."""
    t = text.strip()
    if path or t.startswith(_PATHLIKE):
        return t
    if ";" in t:
        return tuple(parse_value(row) if "/" in row else (parse_scalar(row),) for row in t.split(";"))
    if "/" in t:
        items = t.split("/")
        if any(not item.strip() for item in items):
            raise UsageError(f"empty item in tuple {text!r} (items are separated by '/')")
        return tuple(parse_scalar(item) for item in items)
    return parse_scalar(t)


def format_value(value: Any) -> str:
    """Inverse of :func:`parse_value` for what it produces."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (tuple, list)) for v in value):
            return ";".join("/".join(format_value(x) for x in row) for row in value)
        return "/".join(format_value(v) for v in value)
    return str(value)


def parse_options(text: str, what: str, path_keys: Sequence[str] = ()) -> dict[str, Any]:
    """``'lr=2e-4,betas=0.5/0.999'`` -> ``{'lr': 0.0002, 'betas': (0.5, 0.999)}`` (dotted keys nest)."""
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{what}: option {item!r} must look like KEY=VALUE")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", key):
            raise UsageError(f"{what}: bad option name {key!r} (letters, digits and _, one '.' for a mapping entry)")
        head, _, entry = key.partition(".")
        try:
            value = parse_value(raw, path=head in path_keys)
        except UsageError as error:
            raise UsageError(f"{what}: {error}") from None
        if entry:
            slot = options.setdefault(head, {})
            if not isinstance(slot, dict):
                raise UsageError(f"{what}: {head} is given both as a value and as a mapping ({key})")
            slot[entry] = value
        else:
            if isinstance(options.get(head), dict):
                raise UsageError(f"{what}: {head} is given both as a mapping and as a value")
            options[head] = value
    return options


def parse_spec(text: str, what: str, path_keys: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """``'adam:lr=2e-4'`` -> ``('adam', {'lr': 0.0002})``."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{what}: empty spec; expected NAME[:KEY=VALUE,...]")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise UsageError(f"{what}: {text!r} has no name before ':'; expected NAME[:KEY=VALUE,...]")
    return name, parse_options(rest, f"{what} {text!r}", path_keys)


def format_spec(name: str, options: Mapping[str, Any]) -> str:
    """Inverse of :func:`parse_spec`."""
    items = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            items += [f"{key}.{k}={format_value(v)}" for k, v in value.items()]
        else:
            items.append(f"{key}={format_value(value)}")
    return name + (":" + ",".join(items) if items else "")


# --------------------------------------------------------------------------------------------
# Tasks, rules and the run spec
# --------------------------------------------------------------------------------------------


def _catalogue() -> dict[str, Callable[..., Any]]:
    from minimax.envs.registration import GAMES, TASKS

    return {**TASKS, **GAMES}


def resolve_task(name: str) -> str:
    """``'normal1d'``, ``'Normal1D-v0'`` or ``'minimax/Normal1D-v0'`` -> ``'Normal1D-v0'``."""
    catalogue = _catalogue()
    key = name.strip()
    key = key[len("minimax/") :] if key.lower().startswith("minimax/") else key
    for candidate in catalogue:
        if key.lower() in (candidate.lower(), candidate.lower().rsplit("-v", 1)[0]):
            return candidate
    raise UsageError(f"unknown task {name!r}; expected one of: {', '.join(catalogue)} (see 'minimax list')")


def _path_keys(factory: Callable[..., Any]) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if "Path" in str(p.annotation) or p.name in ("root", "path", "directory")]


def _task_options(task: str, items: Sequence[str]) -> dict[str, Any]:
    factory = _catalogue()[task]
    options: dict[str, Any] = {}
    for item in items:
        options.update(parse_options(item, f"--task-option {item!r}", _path_keys(factory)))
    reserved = {"loss", "schedule", "device", "dtype"} & set(options)
    if reserved:
        flag = sorted(reserved)[0]
        raise UsageError(f"--task-option {flag}=...: use --{flag} instead")
    return options


def _rule_factories() -> dict[str, Callable[..., Any]]:
    from agents import registry

    return dict(registry._FACTORIES)


def build_rule(spec: str, what: str) -> Any:
    """An update rule from ``NAME:KEY=VALUE,...`` (with the wrappers lr_schedule, clip and ema)."""
    import agents

    name, options = parse_spec(spec, what)
    if name.lower() not in _rule_factories():
        raise UsageError(f"{what}: unknown update rule {name!r}; expected one of: {', '.join(agents.available())}")
    wrappers = {k: options.pop(k) for k in RULE_WRAPPERS if k in options}
    try:
        rule = agents.make(name, **options)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{what} {spec!r}: {error}") from None
    if wrappers and getattr(rule, "joint", False):
        raise UsageError(f"{what} {spec!r}: {', '.join(wrappers)} apply to single-player rules, not to a joint rule")
    try:
        if "lr_schedule" in wrappers:
            value = wrappers["lr_schedule"]
            parts = value if isinstance(value, tuple) else (value,)
            kinds = agents.lr_schedules.SCHEDULES
            if not parts or parts[0] not in kinds or not 2 <= len(parts) <= 3 and parts[0] != "constant":
                raise UsageError(
                    f"{what} {spec!r}: lr_schedule must be KIND/STEPS[/END] with KIND one of {', '.join(kinds)}, "
                    f"got {format_value(value)!r}"
                )
            schedule = kinds[parts[0]](*parts[1:])
            rule = agents.with_schedule(rule, schedule, name=parts[0])
        if "clip" in wrappers:
            rule = agents.clipped(rule, wrappers["clip"])
        if "ema" in wrappers:
            decay = wrappers["ema"]
            rule = agents.averaged(rule, None if decay == "uniform" else decay)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{what} {spec!r}: {error}") from None
    return rule


def build_run(spec: Mapping[str, Any]) -> tuple[Any, Any]:
    """The env and the update rules a run spec describes (``run.json``)."""
    from minimax.envs.registration import GAMES, make_aec, make_parallel

    import torch

    from minimax.core.losses import make_loss
    from minimax.core.schedules import make_schedule

    task = resolve_task(spec["task"])
    factory = _catalogue()[task]
    kwargs = dict(_task_options(task, spec.get("task_options", [])))
    if spec.get("loss") is not None:
        if task in GAMES:
            raise UsageError(f"--loss: {task} is a payoff game (its losses are f and -f); it takes no loss family")
        try:
            make_loss(spec["loss"])
        except (TypeError, ValueError) as error:
            raise UsageError(f"--loss {spec['loss']!r}: {error}") from None
        kwargs["loss"] = spec["loss"]
    if spec.get("schedule") is not None:
        if spec["env"] != "aec":
            raise UsageError("--schedule is for --env aec; the parallel env always moves both players at once")
        try:
            make_schedule(spec["schedule"])
        except (TypeError, ValueError) as error:
            raise UsageError(f"--schedule {spec['schedule']!r}: {error}") from None
        kwargs["schedule"] = spec["schedule"]
    device = spec.get("device", "cpu")
    try:
        torch.empty(0, device=device)
    except Exception as error:  # an unknown device type, or one this torch build or machine lacks
        raise UsageError(f"--device {device!r}: {str(error).splitlines()[0]}") from None
    kwargs["device"] = device
    if spec.get("dtype"):
        kwargs["dtype"] = spec["dtype"]
    make = make_aec if spec["env"] == "aec" else make_parallel
    try:
        env = make(factory, **kwargs)
    except (TypeError, ValueError, RuntimeError, FileNotFoundError) as error:
        given = " ".join(f"-o {item}" for item in spec.get("task_options", []))
        raise UsageError(f"cannot build {task} ({spec['env']} env{', ' + given if given else ''}): {error}") from None
    if spec.get("joint"):
        if spec["env"] != "parallel":
            raise UsageError("--joint needs --env parallel (a joint rule moves both players at once)")
        rule = build_rule(spec["joint"], "--joint")
        if not getattr(rule, "joint", False):
            raise UsageError(f"--joint {spec['joint']!r}: {type(rule).__name__} is a single-player rule; "
                             "give it with --rule/--discriminator/--generator")  # fmt: skip
        return env, rule
    rules = {}
    for player in ("discriminator", "generator"):
        rule = build_rule(spec[player], f"--{player}")
        if getattr(rule, "joint", False):
            raise UsageError(
                f"--{player} {spec[player]!r}: {type(rule).__name__} is a joint rule that moves both players; "
                "give it with --joint (and --env parallel)"
            )
        rules[player] = rule
    return env, rules


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # the usage, the bad value, what was expected; exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(name: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {text!r}")
        return value

    convert.__name__ = name
    return convert


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text!r}")
    return value


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
    train.add_argument("task", metavar="TASK", help="a task or game: Normal1D, MNIST, FashionMNIST, DiracGAN, "
                       "LinearWGAN, Ring8, Grid25, Bilinear, Saddle (case-insensitive; 'minimax list' has them all)")
    game = train.add_argument_group("the game")
    game.add_argument("-o", "--task-option", action="append", default=[], metavar="KEY=VALUE",
                      help="a task option, repeatable: -o mean=4 -o std=1.25 -o g_activations=elu/sigmoid")
    game.add_argument("--env", choices=("aec", "parallel"), default=None,
                      help="aec: turn-based, any --schedule (default); parallel: simultaneous moves (default with --joint)")
    game.add_argument("--schedule", metavar="SPEC", help="who moves when (aec env): alternating:k=5, "
                      "alternating:k=1,split=true, simultaneous")
    game.add_argument("--loss", metavar="SPEC", help="loss family and options: minimax, non-saturating, wasserstein:gp=10, "
                      "hinge, least-squares, non-saturating:r1=1,noise=0.1")
    players = train.add_argument_group("update rules")
    players.add_argument("--rule", metavar="SPEC", default=DEFAULT_RULE,
                         help=f"the rule of both players, each its own instance (default {DEFAULT_RULE})")
    players.add_argument("--discriminator", "-D", metavar="SPEC", help="the discriminator's rule (overrides --rule)")
    players.add_argument("--generator", "-G", metavar="SPEC", help="the generator's rule (overrides --rule)")
    players.add_argument("--joint", metavar="SPEC", help="one game-aware rule for both players: extragradient:lr=0.1, "
                         "past-extragradient, consensus:lr=0.1,gamma=1, sga, cgd (implies --env parallel)")
    run = train.add_argument_group("the run")
    run.add_argument("--iterations", "-n", type=_positive_int("iterations"), default=1000,
                     help="schedule cycles to play (default 1000)")
    run.add_argument("--seed", type=_seed, default=0, help="seeds weights, data and noise (default 0)")
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default cpu)")
    run.add_argument("--dtype", choices=("float32", "float64"), default=None, help="the game's dtype (default float32)")
    run.add_argument("--threads", type=_positive_int("threads"), default=None,
                     help="torch CPU threads (default torch's; recorded: a resume uses the same, for bitwise results)")
    out = train.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="the run directory (default runs/TASK-seedS-DATE-TIME)")
    out.add_argument("--overwrite", action="store_true", help="replace a run already in DIR")
    out.add_argument("--checkpoint-every", type=_positive_int("checkpoint-every"), default=None, metavar="N",
                     help="checkpoint every N iterations (default: iterations/10, at least 1); always at the end")
    out.add_argument("--keep", type=_positive_int("keep"), default=2, metavar="K", help="checkpoints kept (default 2)")
    out.add_argument("--log-every", type=_positive_int("log-every"), default=1, metavar="N",
                     help="write metrics rows every N iterations (default 1; each write is flushed)")
    out.add_argument("--csv", action="store_true", help="also write DIR/metrics.csv")
    out.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=None,
                     help="TensorBoard scalars in DIR/tensorboard (default: when tensorboard is installed)")
    _progress_option(out)

    resume = commands.add_parser(
        "resume", help="continue a run from its newest checkpoint",
        description="Continue the run in DIR from its newest valid checkpoint, as if it had never stopped "
        "(bitwise on the CPU). A run killed before its first checkpoint starts again from iteration 0.",
        epilog="examples:\n  minimax resume runs/n1d\n  minimax resume runs/n1d --iterations 20000   extend a finished run",
        formatter_class=formatter,
    )  # fmt: skip
    resume.add_argument("dir", metavar="DIR", help="a run directory made by 'minimax train'")
    resume.add_argument("--iterations", "-n", type=_positive_int("iterations"), default=None,
                        help="a new total (extends the run); default: the run's own")
    _progress_option(resume)

    evaluate = commands.add_parser(
        "eval", help="final metrics of a run, from its newest checkpoint",
        description="Reload the newest checkpoint of DIR and print the run's state and final metrics; for Normal1D "
        "also W1 and KS between generator samples and the target.",
        epilog="examples:\n  minimax eval runs/n1d\n  minimax eval runs/n1d --samples 100000 --json",
        formatter_class=formatter,
    )  # fmt: skip
    evaluate.add_argument("dir", metavar="DIR", help="a run directory")
    evaluate.add_argument("--samples", type=_positive_int("samples"), default=10000,
                          help="generator samples for the distances (default 10000)")
    evaluate.add_argument("--checkpoint", metavar="FILE", help="a given checkpoint instead of the newest")
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    plot = commands.add_parser(
        "plot", help="PNG of the loss and value curves of a run",
        description="Plot the losses, the value V, D(x), D(G(z)) and the gradient norms from DIR/metrics.jsonl.",
        epilog="examples:\n  minimax plot runs/n1d\n  minimax plot runs/n1d --output n1d.png",
        formatter_class=formatter,
    )  # fmt: skip
    plot.add_argument("dir", metavar="DIR", help="a run directory")
    plot.add_argument("--output", metavar="FILE", help="the PNG (default DIR/curves.png)")

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
    grid.add_argument("--seeds", type=_seed, nargs="+", metavar="S", help="seeds: --seeds 0 1 2")
    grid.add_argument("--iterations", "-n", type=_positive_int("iterations"), help="iterations of every run")
    grid.add_argument("--train-arg", action="append", default=[], metavar="ARG",
                      help="more 'minimax train' options for every run, repeatable: --train-arg=--loss "
                      "--train-arg=non-saturating")
    where = sweep.add_argument_group("where the runs go")
    where.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local: a process pool on this machine (default); ray: Ray tasks (pip install ray)")
    where.add_argument("--workers", type=_positive_int("workers"), default=1,
                       help="processes in the local pool / CPUs of a local Ray (default 1)")
    where.add_argument("--retries", type=int, default=2, metavar="R",
                       help="retries of a run whose worker died (default 2); the retry resumes from its checkpoint")
    where.add_argument("--address", metavar="ADDR", help="a Ray cluster (ray://HOST:10001 or auto); default a local Ray")
    where.add_argument("--threads", type=_positive_int("threads"), default=1,
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


def _progress_option(group: Any) -> None:
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar on stderr (default: when stderr is a terminal)")  # fmt: skip


def _version() -> str:
    from minimax import __version__

    return __version__


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


class _Stop:
    """SIGTERM/SIGINT ask the run to stop after the current iteration (with a checkpoint)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:  # a second signal: stop now
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.signal = signum
        print(f"\nminimax: {signal.Signals(signum).name}: stopping after this iteration (with a checkpoint)",
              file=sys.stderr)  # fmt: skip

    def __call__(self) -> bool:
        return self.signal is not None

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _our_files(directory: Path) -> list[Path]:
    from minimax.training import checkpoint as ckpt
    from minimax.training import runlog

    names = {ckpt.RUN_SPEC, runlog.JSONL, runlog.CSV, "summary.json", "curves.png"}
    found = [p for p in directory.iterdir() if p.name in names or p.name.startswith("checkpoint-")]
    return found + ([directory / runlog.TENSORBOARD] if (directory / runlog.TENSORBOARD).is_dir() else [])


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    spec, out, env, rules = prepare_train(args)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a directory")
    if out.is_dir() and _our_files(out):
        if not args.overwrite:
            raise UsageError(
                f"--out {str(out)!r} already holds a run ({', '.join(sorted(p.name for p in _our_files(out))[:3])}, ...); "
                f"continue it with 'minimax resume {out}', or pass --overwrite to replace it"
            )
        import shutil

        for path in _our_files(out):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return _run(spec, out, env, rules, args.progress, resume=False)


def prepare_train(args: argparse.Namespace) -> tuple[dict[str, Any], Path, Any, Any]:
    """The run spec (``run.json``), the run directory, the env and the rules that ``minimax train`` options give.

    Every value is checked (a :class:`UsageError` otherwise); nothing is written. ``minimax sweep`` uses it
    to turn each grid point into the same run spec as ``minimax train``.
    """
    task = resolve_task(args.task)
    env_kind = args.env or ("parallel" if args.joint else "aec")
    if args.joint and args.env == "aec":
        raise UsageError("--joint needs --env parallel (a joint rule moves both players at once)")
    if args.joint and (args.discriminator or args.generator):
        raise UsageError("give either --joint or --discriminator/--generator, not both")
    if args.schedule is not None and env_kind != "aec":
        raise UsageError("--schedule is for --env aec; the parallel env always moves both players at once")
    checkpoint_every = args.checkpoint_every or max(1, args.iterations // 10)
    out = Path(args.out) if args.out else Path("runs") / f"{task.rsplit('-v', 1)[0]}-seed{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec: dict[str, Any] = {
        "minimax_run": RUN_SPEC_VERSION,
        "task": f"minimax/{task}",
        "task_options": list(args.task_option),
        "env": env_kind,
        "schedule": args.schedule,
        "loss": args.loss,
        "discriminator": None if args.joint else (args.discriminator or args.rule),
        "generator": None if args.joint else (args.generator or args.rule),
        "joint": args.joint,
        "seed": args.seed,
        "iterations": args.iterations,
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "checkpoint_every": checkpoint_every,
        "keep": args.keep,
        "log_every": args.log_every,
        "csv": args.csv,
        "tensorboard": args.tensorboard,
        "command": shlex.join(["minimax", *getattr(args, "argv", [])]),
    }
    _set_threads(spec)
    import torch

    spec["threads"] = torch.get_num_threads()  # recorded, so that a resume elsewhere computes the same way
    if not args.joint and not (args.discriminator and args.generator):
        build_rule(args.rule, "--rule")
    env, rules = build_run(spec)  # every value is checked before anything is written
    spec["parsed"] = _parsed(spec)
    return spec, out, env, rules


def _set_threads(spec: Mapping[str, Any]) -> None:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))


def _parsed(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's strings as parsed (for people reading run.json; the strings are what rebuilds the run)."""
    parsed: dict[str, Any] = {"task_options": _task_options(resolve_task(spec["task"]), spec.get("task_options", []))}
    for key in ("discriminator", "generator", "joint"):
        if spec.get(key):
            name, options = parse_spec(spec[key], f"--{key}")
            parsed[key] = {"rule": name, "options": options}
    from minimax.training.checkpoint import jsonable

    return jsonable(parsed)


def _run(spec: dict[str, Any], out: Path, env: Any, rules: Any, progress: bool | None, resume: bool) -> int:
    import minimax
    from minimax.training import checkpoint as ckpt
    from minimax.training.runlog import RunLog

    log = RunLog(out, csv=bool(spec.get("csv")), tensorboard=spec.get("tensorboard"))
    show = sys.stderr.isatty() if progress is None else progress
    with _Stop() as stop:
        try:
            history = minimax.train(
                env, rules, int(spec["iterations"]), seed=int(spec["seed"]), progress=show,
                description=Path(out).name, checkpoint_dir=out, checkpoint_every=int(spec["checkpoint_every"]),
                keep_checkpoints=int(spec.get("keep", 2)), resume=resume, log=log,
                log_every=int(spec.get("log_every", 1)), run_spec=spec, stop=stop,
            )  # fmt: skip
        finally:
            log.close()
    summary = {"directory": str(out), **{k: v for k, v in history.to_dict().items() if k != "metrics"},
               "final": {k: _finite(v[-1]) if len(v) else None for k, v in history.metrics.items()},
               "checkpoint": str(ckpt.latest(out))}  # fmt: skip
    from minimax.utils.files import atomic_write

    atomic_write(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    if stop.signal is not None:
        print(f"stopped at iteration {history.iterations} of {spec['iterations']} ({signal.Signals(stop.signal).name}); "
              f"checkpoint saved: continue with 'minimax resume {out}'", file=sys.stderr)  # fmt: skip
        return 128 + stop.signal
    _print_summary(history, spec, out)
    return 0


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _print_summary(history: Any, spec: Mapping[str, Any], out: Path) -> None:
    status = (f"diverged: {history.reason}" if history.terminated else "truncated (max steps)" if history.truncated
              else "finished")  # fmt: skip
    print(f"{out}: {status} after {history.iterations} of {spec['iterations']} iterations "
          f"({history.moves} moves, {history.wall_time:.1f} s)")  # fmt: skip
    if history.iterations:
        last = {k: v[-1] for k, v in history.metrics.items()}
        print("  last iteration: " + ", ".join(f"{k} {_fmt(v)}" for k, v in last.items()))


def _fmt(x: Any) -> str:
    return "nan" if x is None or not math.isfinite(float(x)) else f"{float(x):.6g}"


def _load_spec(directory: Path) -> dict[str, Any]:
    from minimax.training import checkpoint as ckpt

    if not directory.is_dir():
        raise UsageError(f"DIR {str(directory)!r} is not a directory")
    try:
        spec = ckpt.read_run_spec(directory)
    except FileNotFoundError as error:
        try:
            found = ckpt.load_latest(directory)
        except ckpt.CheckpointError:
            found = None
        if found is None or not found.run_spec:
            raise UsageError(str(error)) from None
        spec = dict(found.run_spec)
        print(f"{directory}: run.json is missing; using the run spec saved in {found.path.name}", file=sys.stderr)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if spec.get("made_by") == "minimax.train (Python)":
        raise UsageError(f"{directory / ckpt.RUN_SPEC} describes a run started from Python with minimax.train: rebuild "
                         "its env and rules in Python and call minimax.train(..., checkpoint_dir=DIR, resume=True)")  # fmt: skip
    if spec.get("minimax_run") != RUN_SPEC_VERSION:
        raise UsageError(f"{directory / ckpt.RUN_SPEC}: run spec version {spec.get('minimax_run')!r}, this minimax "
                         f"reads version {RUN_SPEC_VERSION}")  # fmt: skip
    missing = [k for k in ("task", "env", "seed", "iterations", "checkpoint_every") if k not in spec]
    if missing:
        raise UsageError(f"{directory / ckpt.RUN_SPEC}: the run spec lacks {', '.join(missing)}")
    return spec


def cmd_resume(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from minimax.training import checkpoint as ckpt

    out = Path(args.dir)
    spec = _load_spec(out)
    _set_threads(spec)
    env, rules = build_run(spec)
    newest = ckpt.latest(out)
    if newest is None:
        print(f"{out}: no checkpoint yet; starting the run from iteration 0", file=sys.stderr)
    if args.iterations is not None:
        if newest is not None:
            try:
                at = ckpt.load(newest).iteration
            except ckpt.CheckpointError:
                at = 0
            if args.iterations < at:
                raise UsageError(f"--iterations {args.iterations} is below the checkpoint's iteration {at}")
        spec["iterations"] = args.iterations
    return _run(spec, out, env, rules, args.progress, resume=True)


def _checkpoint_for(directory: Path, given: str | None) -> Any:
    from minimax.training import checkpoint as ckpt

    if given:
        return ckpt.load(given)
    found = ckpt.load_latest(directory)
    if found is None:
        raise UsageError(f"{directory}: no checkpoint yet (the run has not reached its first one)")
    return found


def cmd_eval(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import numpy as np
    import torch

    from minimax.training import checkpoint as ckpt
    from minimax.tasks.normal1d import Normal1D

    out = Path(args.dir)
    spec = _load_spec(out)
    env, _ = build_run(spec)
    found = _checkpoint_for(out, args.checkpoint)
    ckpt.restore(env, None, found)
    history = found.history
    report: dict[str, Any] = {
        "directory": str(out),
        "checkpoint": str(found.path),
        "task": spec["task"],
        "iteration": found.iteration,
        "iterations": spec["iterations"],
        "status": ("diverged" if history.terminated else "truncated" if history.truncated
                   else "finished" if found.iteration >= int(spec["iterations"]) else "in progress"),  # fmt: skip
        "reason": history.reason,
        "moves": history.moves,
        "wall_time": history.wall_time,
    }
    n = history.iterations
    tail = max(1, n // 10)
    report["final"] = {k: _finite(v[-1]) if n else None for k, v in history.metrics.items()}
    report["mean_last_10pct"] = {k: _finite(np.nanmean(v[-tail:])) if n and np.isfinite(v[-tail:]).any() else None
                                 for k, v in history.metrics.items()}  # fmt: skip
    task = getattr(env.game, "task", None)
    if isinstance(task, Normal1D):
        from minimax.eval.metrics import distances

        samples = env.game.generate(args.samples, torch.Generator(env.game.device).manual_seed(0)).reshape(-1)
        if torch.isfinite(samples).all():
            target = None if task.analytic else task.samples
            report["target"] = {"mean": task.mean, "std": task.std, "samples": args.samples,
                                **distances(samples, task.mean, task.std, reference=target)}  # fmt: skip
        else:
            report["target"] = {"error": "the generator outputs non-finite values"}
    sizes = {p: env.game.players[p].size for p in env.game.players}
    if sum(sizes.values()) <= 8:
        report["parameters"] = {p: env.game.parameters(p).tolist() for p in env.game.players}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{out}: {spec['task']}, checkpoint at iteration {found.iteration} of {spec['iterations']} "
          f"({Path(found.path).name}); {report['status']}" + (f": {history.reason}" if history.reason else ""))  # fmt: skip
    if n:
        print(f"  {'metric':<26}{'last':>14}{f'mean of last {tail}':>22}")
        for k in history.metrics:
            print(f"  {k:<26}{_fmt(report['final'][k]):>14}{_fmt(report['mean_last_10pct'][k]):>22}")
    if "target" in report:
        t = report["target"]
        if "error" in t:
            print(f"  target: {t['error']}")
        else:
            print(f"  {args.samples} generator samples vs N({t['mean']:g}, {t['std']:g}^2): "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in t.items() if k not in ("mean", "std", "samples")))  # fmt: skip
    if "parameters" in report:
        print("  parameters: " + "; ".join(f"{p} {v}" for p, v in report["parameters"].items()))
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
    from minimax.utils.files import atomic_output

    with atomic_output(target) as file:
        figure.savefig(file, format="png", dpi=110)
    plt.close(figure)
    print(target)
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

    factories = _rule_factories()
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
    try:
        rows = sweep.sweep(data, args.out, backend=args.backend, workers=args.workers, retries=args.retries,
                           address=args.address, threads=args.threads)  # fmt: skip
    except sweep.SweepError as error:
        raise UsageError(str(error)) from None
    print(Path(args.out) / sweep.SWEEP_MD)
    return 0 if all(r["status"] == "finished" for r in rows) else 1


COMMANDS = {"train": cmd_train, "sweep": cmd_sweep, "resume": cmd_resume, "eval": cmd_eval, "plot": cmd_plot, "list": cmd_list}


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
        return COMMANDS[args.command](args, sub)
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
    except KeyboardInterrupt:
        print(f"minimax {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":
    sys.exit(main())
