"""Runs: the grammar of run specs, and building, training, resuming and evaluating a run directory.

The layer under the ``minimax`` command (which only parses and prints) and beside the sweeps
(which call it directly, never through command lines). A run lives in one directory::

    run.json                    the run spec: everything that rebuilds the run (task, options, rules, seed, ...)
    checkpoint-<iteration>.ckpt the newest checkpoints (see minimax.training.checkpoint)
    metrics.jsonl               one JSON row per iteration, flushed as the run goes (metrics.csv with --csv)
    tensorboard/                when tensorboard is installed (or --tensorboard)
    frame.png                   the latest picture of the game (--image-every)
    wandb/, wandb-run.json      the W&B run's files and id (--wandb)
    summary.json                written when the run ends

Specs share one syntax: ``NAME[:KEY=VALUE[,KEY=VALUE...]]``. A VALUE is a number
(``2e-4``, ``5``), ``true``/``false``, ``none``, a word, or a tuple with ``/`` between its
items (``betas=0.5/0.999``; rows of a matrix with ``;``: ``A=1/0;0/1``); a dotted key sets
one entry of a mapping (``lr.discriminator=0.1,lr.generator=0.01``). A value for an option
that takes a path, or one that starts with ``/``, ``./``, ``../`` or ``~``, is a path.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_SPEC_VERSION = 1

# The exit codes of the minimax command (and of each run of a sweep), so that scripts can tell the outcomes apart.
EXIT_FINISHED = 0  # played to the end (or to the step limit)
EXIT_ERROR = 1  # an error: a file that cannot be read or written, a run of a sweep that failed
EXIT_USAGE = 2  # a bad command line, run spec or input (argparse's own code)
EXIT_DIVERGED = 3  # the game went non-finite and stopped (its data is kept; 'minimax eval' tells where)
# stopped by a signal (with a checkpoint): 128 + the signal, as shells report it (130 for Ctrl-C, 143 for SIGTERM)
DEFAULT_RULE = "adam:lr=2e-4,betas=0.5/0.999"
RULE_WRAPPERS = ("lr_schedule", "clip", "ema")  # handled here, not by agents.make

class UsageError(Exception):
    """A bad value in a run spec or a command line: the ``minimax`` command reports it through argparse (exit 2)."""


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
        rows = tuple(parse_value(row) if "/" in row else (parse_scalar(row),) for row in t.split(";"))
        lengths = [len(row) for row in rows]
        if len(set(lengths)) > 1:
            raise UsageError(f"matrix {text!r}: rows of different lengths ({', '.join(map(str, lengths))}); rows are "
                             "separated by ';' and each needs as many '/'-separated entries, e.g. 1/0;0/1")  # fmt: skip
        return rows
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


def task_options(task: str, items: Sequence[str]) -> dict[str, Any]:
    factory = _catalogue()[task]
    options: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise UsageError(f"--task-option {item!r}: empty; expected KEY=VALUE[,KEY=VALUE...], e.g. -o mean=4")
        options.update(parse_options(item, f"--task-option {item!r}", _path_keys(factory)))
    reserved = {"loss", "schedule", "device", "dtype"} & set(options)
    if reserved:
        flag = sorted(reserved)[0]
        raise UsageError(f"--task-option {flag}=...: use --{flag} instead")
    return options


def rule_factories() -> dict[str, Callable[..., Any]]:
    from agents import registry

    return dict(registry._FACTORIES)


def build_rule(spec: str, what: str) -> Any:
    """An update rule from ``NAME:KEY=VALUE,...`` (with the wrappers lr_schedule, clip and ema)."""
    import agents

    name, options = parse_spec(spec, what)
    if name.lower() not in rule_factories():
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
    kwargs = dict(task_options(task, spec.get("task_options", [])))
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
        raise UsageError(f"--device {device!r}: {str(error).splitlines()[0]}; expected cpu, or a device this machine "
                         "and torch build have (cuda, cuda:N, mps)") from None
    kwargs["device"] = device
    if spec.get("dtype"):
        kwargs["dtype"] = spec["dtype"]
    make = make_aec if spec["env"] == "aec" else make_parallel
    try:
        env = make(factory, view="torch", **kwargs)
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
# The options of a training run (the ``minimax train`` command line, and a sweep's train_args)
# --------------------------------------------------------------------------------------------


def positive_int(name: str) -> Callable[[str], int]:
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


def seed_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text!r}")
    return value



def progress_option(group: Any) -> None:
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="a progress bar on stderr (default: when stderr is a terminal)")  # fmt: skip


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    """The options of a training run, on ``train`` (the ``minimax train`` parser, or a sweep's)."""
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
    run.add_argument("--iterations", "-n", type=positive_int("iterations"), default=1000,
                     help="schedule cycles to play (default 1000)")
    run.add_argument("--seed", type=seed_number, default=0, help="seeds weights, data and noise (default 0)")
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default cpu)")
    run.add_argument("--dtype", choices=("float32", "float64"), default=None, help="the game's dtype (default float32)")
    run.add_argument("--threads", type=positive_int("threads"), default=None,
                     help="torch CPU threads (default torch's; recorded: a resume uses the same, for bitwise results)")
    run.add_argument("--compile", action="store_true",
                     help="play each tick as one torch.compile graph (faster for small networks; equal to the eager "
                          "engine to round-off, not bitwise; the first iterations compile)")
    out = train.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="the run directory (default runs/TASK-seedS-DATE-TIME)")
    out.add_argument("--overwrite", action="store_true", help="replace a run already in DIR")
    out.add_argument("--checkpoint-every", type=positive_int("checkpoint-every"), default=None, metavar="N",
                     help="checkpoint every N iterations (default: iterations/10, at least 1); always at the end")
    out.add_argument("--keep", type=positive_int("keep"), default=2, metavar="K", help="checkpoints kept (default 2)")
    out.add_argument("--log-every", type=positive_int("log-every"), default=1, metavar="N",
                     help="write metrics rows every N iterations (default 1; each write is flushed)")
    out.add_argument("--csv", action="store_true", help="also write DIR/metrics.csv")
    out.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=None,
                     help="TensorBoard scalars in DIR/tensorboard (default: when tensorboard is installed)")
    out.add_argument("--image-every", type=positive_int("image-every"), default=None, metavar="N",
                     help="a picture of the game every N iterations (and at the start and the end): an image and a "
                          "histogram of generated samples in TensorBoard and W&B, the latest as DIR/frame.png")
    out.add_argument("--wandb", action="store_true",
                     help="also log to Weights & Biases (pip install wandb), its files in DIR/wandb; "
                          "WANDB_MODE=offline or --wandb-mode offline to log without a network")
    out.add_argument("--wandb-project", metavar="NAME", help="the W&B project (default minimax; needs --wandb)")
    out.add_argument("--wandb-name", metavar="NAME", help="the W&B run's name (default: DIR's name; needs --wandb)")
    out.add_argument("--wandb-mode", choices=("online", "offline", "disabled"), default=None,
                     help="W&B's mode (default: wandb's own, WANDB_MODE; needs --wandb)")
    progress_option(out)


class _ArgumentError(Exception):
    pass


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise _ArgumentError(message)


def parse_train_args(argv: Sequence[str]) -> argparse.Namespace:
    """``minimax train`` options (e.g. a sweep's ``train_args`` with its grid point) as a namespace, or a UsageError."""
    parser = _RaisingParser(prog="minimax train", add_help=False)
    add_train_arguments(parser)
    try:
        args = parser.parse_args(list(argv))
    except _ArgumentError as error:
        hint = " (expected 'minimax train' options: see 'minimax train --help')" if "unrecognized" in str(error) else ""
        raise UsageError(f"{error}{hint}") from None
    args.argv = ["train", *argv]
    return args


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


class Stop:
    """SIGTERM/SIGINT ask the run to stop after the current iteration (with a checkpoint)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.hurried = False  # a second signal came: stop at once
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:  # a second signal: stop now; later ones are ignored while minimax winds down
            for sig in self._previous:
                signal.signal(sig, signal.SIG_IGN)
            self.hurried = True
            raise KeyboardInterrupt
        self.signal = signum
        print(f"\nminimax: {signal.Signals(signum).name}: stopping after this iteration (with a checkpoint)",
              file=sys.stderr)  # fmt: skip

    def __call__(self) -> bool:
        return self.signal is not None

    def __exit__(self, *exc: Any) -> None:
        if self.hurried:  # stay deaf to more Ctrl-C while the command reports and exits (no traceback)
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_files(directory: Path) -> list[Path]:
    from minimax.training import checkpoint as ckpt
    from minimax.training import runlog

    from minimax.training import manifest

    names = {ckpt.RUN_SPEC, runlog.JSONL, runlog.CSV, "summary.json"}
    found = {p.resolve() for p in directory.iterdir() if p.name in names and p.is_file()}
    return sorted(found | set(manifest.owned(directory)))



def prepare_train(args: argparse.Namespace) -> tuple[dict[str, Any], Path, Any, Any]:
    """The run spec (``run.json``), the run directory, the env and the rules that ``minimax train`` options give.

    Every value is checked (a :class:`UsageError` otherwise); nothing is written. ``minimax sweep`` uses it
    to turn each grid point into the same run spec as ``minimax train``.
    """
    task = resolve_task(args.task)
    for flag, value in (("--rule", args.rule), ("--discriminator", args.discriminator), ("--generator", args.generator),
                        ("--joint", args.joint), ("--loss", args.loss), ("--schedule", args.schedule)):  # fmt: skip
        if value is not None and not value.strip():
            raise UsageError(f"{flag} '': an empty spec; expected NAME[:KEY=VALUE,...] (see 'minimax list'), or leave "
                             f"{flag} out for the default")  # fmt: skip
    if args.out is not None and not str(args.out).strip():
        raise UsageError("--out '': an empty path; give the run directory, or leave --out out for runs/TASK-seedS-DATE-TIME")
    env_kind = args.env or ("parallel" if args.joint else "aec")
    if args.joint and args.env == "aec":
        raise UsageError("--joint needs --env parallel (a joint rule moves both players at once)")
    if args.joint is not None and (args.discriminator is not None or args.generator is not None):
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
        "discriminator": None if args.joint else (args.rule if args.discriminator is None else args.discriminator),
        "generator": None if args.joint else (args.rule if args.generator is None else args.generator),
        "joint": args.joint,
        "seed": args.seed,
        "iterations": args.iterations,
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "compile": bool(args.compile),
        "checkpoint_every": checkpoint_every,
        "keep": args.keep,
        "log_every": args.log_every,
        "csv": args.csv,
        "tensorboard": args.tensorboard,
        "image_every": args.image_every,
        "wandb": _wandb_spec(args),
        "command": shlex.join(["minimax", *getattr(args, "argv", [])]),
    }
    set_threads(spec)
    import torch

    spec["threads"] = torch.get_num_threads()  # recorded, so that a resume elsewhere computes the same way
    if not args.joint and not (args.discriminator and args.generator):
        build_rule(args.rule, "--rule")
    env, rules = build_run(spec)  # every value is checked before anything is written
    _check_sizes(spec, env)
    spec["parsed"] = _parsed(spec)
    return spec, out, env, rules


def _wandb_spec(args: argparse.Namespace) -> dict[str, str] | None:
    """The run spec's ``wandb`` entry from ``--wandb`` and its options (None: off), checked: wandb must be installed."""
    given = {key: value for key, value in (("project", args.wandb_project), ("name", args.wandb_name),
                                           ("mode", args.wandb_mode)) if value is not None}  # fmt: skip
    if not args.wandb:
        if given:
            raise UsageError(f"--wandb-{sorted(given)[0]} needs --wandb (W&B logging is only on when asked for)")
        return None
    for key, value in given.items():
        if not value.strip():
            raise UsageError(f"--wandb-{key} '': empty; give a name, or leave the option out for the default")
    check_loggers({"wandb": given})
    return given


def check_loggers(spec: Mapping[str, Any]) -> None:
    """A :class:`UsageError` when the spec asks for W&B and wandb is not installed (before anything is written)."""
    if spec.get("wandb") is not None:
        from minimax.training.runlog import wandb_module

        try:
            wandb_module("--wandb")
        except ImportError as error:
            raise UsageError(str(error)) from None


def _check_sizes(spec: Mapping[str, Any], env: Any) -> None:
    """Refuse up front a run whose history cannot fit in memory (a :class:`UsageError` with both sizes)."""
    from minimax.training.history import METRICS
    from minimax.utils.memory import TooLarge, check_fits

    n = int(spec["iterations"])
    try:
        check_fits(f"--iterations {n}: the history of {n} iterations x {len(METRICS)} metrics",
                   2 * n * len(METRICS) * 4 * env.match.num_games, env.match.game.device)  # fmt: skip
    except TooLarge as error:
        raise UsageError(str(error)) from None


def set_threads(spec: Mapping[str, Any]) -> None:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))


def _parsed(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's strings as parsed (for people reading run.json; the strings are what rebuilds the run)."""
    parsed: dict[str, Any] = {"task_options": task_options(resolve_task(spec["task"]), spec.get("task_options", []))}
    for key in ("discriminator", "generator", "joint"):
        if spec.get(key):
            name, options = parse_spec(spec[key], f"--{key}")
            parsed[key] = {"rule": name, "options": options}
    from minimax.training.checkpoint import jsonable

    return jsonable(parsed)



@dataclass
class RunResult:
    """How a run (or its resumed part) ended: its history, the signal that stopped it (None), its summary."""

    history: Any
    signal: int | None
    summary: dict[str, Any]


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def train_run(spec: dict[str, Any], out: Path, env: Any, rules: Any, progress: bool | None = None,
              resume: bool = False) -> RunResult:  # fmt: skip
    """Train (or, with ``resume``, continue) the run of ``spec`` in ``out``; write its summary.json at the end.

    SIGTERM and SIGINT stop it after the current iteration, with a checkpoint. The run directory is
    locked while it trains: a second process training it (two ``minimax resume`` of one run) is
    refused with a :class:`UsageError`.
    """
    from minimax.training import manifest
    from minimax.utils.files import Locked, exclusive_lock

    Path(out).mkdir(parents=True, exist_ok=True)
    try:
        lock = exclusive_lock(Path(out) / LOCK, f"the run in {str(out)!r}")
        lock.__enter__()
    except Locked as error:
        raise UsageError(str(error)) from None
    try:
        manifest.record(out, LOCK)
        return _train_locked(spec, out, env, rules, progress, resume)
    finally:
        lock.__exit__(None, None, None)


LOCK = ".minimax.lock"  # held by the process training a run directory (train, resume, a sweep's worker)


def _train_locked(spec: dict[str, Any], out: Path, env: Any, rules: Any, progress: bool | None, resume: bool) -> RunResult:
    from minimax.training import checkpoint as ckpt
    from minimax.training import manifest
    from minimax.training.loop import train
    from minimax.training.runlog import RunLog
    from minimax.utils.files import atomic_write

    check_loggers(spec)
    wandb = None if spec.get("wandb") is None else {**spec["wandb"], "config": dict(spec)}
    log = RunLog(out, csv=bool(spec.get("csv")), tensorboard=spec.get("tensorboard"), wandb=wandb)
    show = sys.stderr.isatty() if progress is None else progress
    with Stop() as stop:
        try:
            history = train(
                env, rules, int(spec["iterations"]), seed=int(spec["seed"]), progress=show,
                description=Path(out).name, checkpoint_dir=out, checkpoint_every=int(spec["checkpoint_every"]),
                keep_checkpoints=int(spec.get("keep", 2)), resume=resume, log=log,
                log_every=int(spec.get("log_every", 1)), image_every=spec.get("image_every"), run_spec=spec,
                stop=stop, compile=bool(spec.get("compile")),
            )  # fmt: skip
        finally:
            log.close()  # W&B: finished, as failed when an exception is on its way out
    summary = {"directory": str(out), **{k: v for k, v in history.to_dict().items() if k != "metrics"},
               "final": {k: _finite(v[-1]) if len(v) else None for k, v in history.game(0).items()},
               "checkpoint": str(ckpt.latest(out))}  # fmt: skip
    atomic_write(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    manifest.record(out, "summary.json")
    return RunResult(history, stop.signal, summary)


def load_spec(directory: Path) -> dict[str, Any]:
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
    validate_spec(spec, str(directory / ckpt.RUN_SPEC))
    return spec


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# run.json's schema: key -> (what it must be, the check). Keys a spec may lack have their default in build_run.
_SCHEMA: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "task": ("a task name (a string)", lambda v: isinstance(v, str) and bool(v.strip())),
    "task_options": ("a list of KEY=VALUE strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "env": ("'aec' or 'parallel'", lambda v: v in ("aec", "parallel")),
    "schedule": ("a schedule spec (a string) or null", lambda v: v is None or isinstance(v, str)),
    "loss": ("a loss spec (a string) or null", lambda v: v is None or isinstance(v, str)),
    "discriminator": ("a rule spec (a string) or null", lambda v: v is None or isinstance(v, str)),
    "generator": ("a rule spec (a string) or null", lambda v: v is None or isinstance(v, str)),
    "joint": ("a joint rule spec (a string) or null", lambda v: v is None or isinstance(v, str)),
    "seed": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "iterations": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "device": ("a device name (a string)", lambda v: isinstance(v, str)),
    "dtype": ("'float32', 'float64' or null", lambda v: v in (None, "float32", "float64")),
    "threads": ("an integer >= 1 or null", lambda v: v is None or (_is_int(v) and v >= 1)),
    "compile": ("true or false", lambda v: isinstance(v, bool)),
    "checkpoint_every": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "keep": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "log_every": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "csv": ("true or false", lambda v: isinstance(v, bool)),
    "tensorboard": ("true, false or null", lambda v: v in (None, True, False)),
    "image_every": ("an integer >= 1 or null", lambda v: v is None or (_is_int(v) and v >= 1)),
    "wandb": ("null, or a mapping of wandb.init options to strings (project, name, mode)",
              lambda v: v is None or (isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str)
                                                                   for k, x in v.items()))),
    "command": ("a string", lambda v: isinstance(v, str)),
}


def validate_spec(spec: Mapping[str, Any], where: str = "run spec") -> None:
    """Check every known entry of a run spec (``run.json``) against :data:`_SCHEMA`; a :class:`UsageError` names the
    first bad one, its value and what it must be (a hand-edited file fails here, not deep inside a run)."""
    for key, (expected, ok) in _SCHEMA.items():
        if key in spec and not ok(spec[key]):
            value = spec[key]
            raise UsageError(f"{where}: {key!r} must be {expected}, got {json.dumps(value)[:80]} ({type(value).__name__})")
    if spec.get("joint") is None and not all(isinstance(spec.get(p), str) for p in ("discriminator", "generator")):
        raise UsageError(f"{where}: without 'joint', 'discriminator' and 'generator' must both be rule specs")



def resume_run(directory: Path, iterations: int | None = None, progress: bool | None = None) -> RunResult:
    """Continue the run in ``directory`` from its newest valid checkpoint (``iterations``: a new total)."""
    from minimax.training import checkpoint as ckpt

    spec = load_spec(directory)
    set_threads(spec)
    env, rules = build_run(spec)
    newest = ckpt.latest(directory)
    if newest is None:
        print(f"{directory}: no checkpoint yet; starting the run from iteration 0", file=sys.stderr)
    if iterations is not None:
        if newest is not None:
            try:
                at = ckpt.load(newest).iteration
            except ckpt.CheckpointError:
                at = 0
            if iterations < at:
                raise UsageError(f"--iterations {iterations} is below the checkpoint's iteration {at}")
        spec["iterations"] = iterations
    return train_run(spec, directory, env, rules, progress, resume=True)


def checkpoint_for(directory: Path, given: str | None) -> Any:
    from minimax.training import checkpoint as ckpt

    if given:
        return ckpt.load(given)
    found = ckpt.load_latest(directory)
    if found is None:
        raise UsageError(f"{directory}: no checkpoint yet (the run has not reached its first one)")
    return found



def evaluate_run(directory: Path, samples: int = 10000, checkpoint: str | None = None,
                 progress: bool | None = None) -> dict[str, Any]:  # fmt: skip
    """The state and final metrics of a run, from its newest checkpoint (or ``checkpoint``); for Normal1D also
    W1 and KS between ``samples`` generator samples and the target; for image and mixture tasks their own measure
    (``"quality"``, see :mod:`minimax.eval.quality`: the classifier's metrics, or the mode metrics, each with its
    floor). Both also for the generator's average of iterates when the run keeps one. ``progress``: a bar while the
    evaluation classifier trains, on first use (None: when stderr is a terminal)."""
    import numpy as np
    import torch

    from minimax.core.players import PLAYERS
    from minimax.tasks.normal1d import Normal1D

    from minimax.utils.memory import TooLarge, check_fits

    spec = load_spec(directory)
    env, rules = build_run(spec)
    try:  # the samples, their sorted copy and the target's (Normal1D), in float64
        check_fits(f"--samples {samples}: {samples} generator samples", 4 * 8 * samples * max(1, math.prod(getattr(env.game.task, "data_shape", (1,)))),
                   env.game.device)  # fmt: skip
    except TooLarge as error:
        raise UsageError(str(error)) from None
    found = _restore_run(directory, env, rules, checkpoint)
    history = found.history
    report: dict[str, Any] = {
        "directory": str(directory),
        "checkpoint": str(found.path),
        "task": spec["task"],
        "iteration": found.iteration,
        "iterations": spec["iterations"],
        "status": ("diverged" if history.terminated.any() else "truncated" if history.truncated
                   else "finished" if found.iteration >= int(spec["iterations"]) else "in progress"),  # fmt: skip
        "reason": history.reason,
        "moves": int(history.moves.sum()),
        "wall_time": history.wall_time,
    }
    n = history.iterations
    tail = max(1, n // 10)
    metrics = history.game(0)
    report["tail"] = tail
    report["final"] = {k: _finite(v[-1]) if n else None for k, v in metrics.items()}
    report["mean_last_10pct"] = {k: _finite(np.nanmean(v[-tail:])) if n and np.isfinite(v[-tail:]).any() else None
                                 for k, v in metrics.items()}  # fmt: skip
    task = getattr(env.game, "task", None)
    average = _generator_average(rules)  # the run declares an average of iterates (-G ...,ema=D): scored too

    def draw() -> torch.Tensor:
        """The generator's ``samples`` samples from a fixed noise stream (seed 0: the same for every evaluation)."""
        return env.game.generate(samples, torch.Generator(env.game.device).manual_seed(0))[0]

    if isinstance(task, Normal1D):
        from minimax.eval.metrics import distances

        def score() -> dict[str, Any]:
            drawn = draw().reshape(-1)
            if not torch.isfinite(drawn).all():
                return {"error": "the generator outputs non-finite values"}
            target = None if task.analytic else task.samples
            return {"mean": task.mean, "std": task.std, "samples": samples,
                    **distances(drawn, task.mean, task.std, reference=target)}  # fmt: skip

        report["target"] = score()
        if average is not None:
            with _generator_as(env.game, average):
                report["target_average"] = score()
    from minimax.eval.quality import measure_for

    show = sys.stderr.isatty() if progress is None else progress
    try:
        measure = None if task is None else measure_for(task, samples, show)
    except ValueError as error:
        raise UsageError(f"--samples {samples}: {error}") from None
    if measure is not None:
        section: dict[str, Any] = {"kind": measure.kind, "samples": samples, "headline": list(measure.headline),
                                   **measure.about, "floor": measure.floor, "last": measure.score(draw())}  # fmt: skip
        if average is not None:
            with _generator_as(env.game, average):
                section["average"] = measure.score(draw())
        report["quality"] = section
    sizes = {p: env.game.size(p) for p in PLAYERS}
    if sum(sizes.values()) <= 8:
        report["parameters"] = {p: env.game.parameters(p)[0].tolist() for p in PLAYERS}
    return report


def export_generator(directory: Path, output: Path | None = None, which: str = "auto",
                     checkpoint: str | None = None) -> tuple[Path, str]:
    """Write the run's generator as a module ``state_dict`` (tensors only: ``torch.load(weights_only=True)`` reads it,
    and the task's ``build_generator()`` takes it). ``which``: ``last`` (the last iterate), ``average`` (the
    average of iterates the run declares) or ``auto`` (the average when there is one). Returns the path and which."""
    import io

    import torch

    from minimax.utils.files import atomic_write

    spec = load_spec(directory)
    env, rules = build_run(spec)
    found = _restore_run(directory, env, rules, checkpoint)
    average = _generator_average(rules)
    if which == "average" and average is None:
        raise UsageError(f"{directory}: the run keeps no average of the generator's iterates (train with -G ...,ema=D)")
    if which not in ("auto", "last", "average"):
        raise UsageError(f"--which {which!r}: expected auto, last or average")
    chosen = "average" if average is not None and which != "last" else "last"
    game = env.game
    if not callable(getattr(game, "module", None)):
        raise UsageError(f"{directory}: {spec['task']} is a payoff game; its players are parameter vectors, not "
                         "networks (minimax eval prints them)")
    if game.num_games != 1:
        raise UsageError(f"{directory}: export takes a run of one game, this one has {game.num_games}")
    with _generator_as(game, average if chosen == "average" else None):
        module = game.module("generator", 0)  # a copy holding the game's parameters and buffers, however it executes
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = Path(output) if output is not None else Path(directory) / f"generator-{found.iteration}-{chosen}.pt"
    atomic_write(path, buffer.getvalue())
    return path, chosen


def run_picture(directory: Path, checkpoint: str | None = None) -> tuple[Any, str, int]:
    """The run's game drawn as its env renders it (:mod:`minimax.render`), at its newest checkpoint (or
    ``checkpoint``): ``(RGB array, which generator, iteration)``; the generator is the average of iterates when the
    run keeps one, else the last iterate."""
    from minimax.render import Renderer

    env, rules = build_run(load_spec(directory))
    found = _restore_run(directory, env, rules, checkpoint)
    average = _generator_average(rules)
    which = "average of iterates" if average is not None else "last iterate"
    with _generator_as(env.game, average):
        frame = Renderer(env.game).frame(f"iteration {found.iteration} · {which}")
    return frame, which, found.iteration


def _restore_run(directory: Path, env: Any, rules: Any, checkpoint: str | None) -> Any:
    """Put ``env`` and ``rules`` (an average of iterates lives in a rule's state) at the run's checkpoint."""
    from minimax.training import checkpoint as ckpt

    found = checkpoint_for(directory, checkpoint)
    ckpt.restore(env, rules if found.agents is not None else None, found)
    return found


@contextlib.contextmanager
def _generator_as(game: Any, values: Any) -> Iterator[None]:
    """For the block, the generator's parameters are ``values`` (an average of iterates); None leaves them."""
    import torch

    if values is None:
        yield
        return
    live = game.parameters("generator")
    saved = live.clone()
    with torch.no_grad():
        live.copy_(values.reshape(live.shape))
    try:
        yield
    finally:
        with torch.no_grad():
            live.copy_(saved)


def _generator_average(rules: Any) -> Any:
    """The generator's average of iterates (``agents.averaged``, the ``ema=`` option), or None."""
    rule = rules.get("generator") if isinstance(rules, dict) else None
    state = getattr(rule, "state", None)
    return getattr(state, "average", None)


def run_status(directory: str | Path) -> str:
    """``finished`` (played to the end, or diverged), ``partial`` (started) or ``new``."""
    from minimax.training import checkpoint as ckpt

    directory = Path(directory)
    try:
        spec = json.loads((directory / ckpt.RUN_SPEC).read_text())
    except (OSError, ValueError):
        return "partial" if directory.is_dir() and any(directory.iterdir()) else "new"
    total = int(spec.get("iterations", 0))
    try:
        summary = json.loads((directory / "summary.json").read_text())
        if summary.get("terminated") is True or summary.get("truncated") is True \
                or int(summary.get("iterations", -1)) >= total:  # fmt: skip
            return "finished"
    except (OSError, ValueError):
        pass
    newest = ckpt.latest(directory)  # no summary (killed while writing it): the final checkpoint tells
    if newest is not None and newest == ckpt.checkpoint_path(directory, total):
        return "finished"
    return "partial"
