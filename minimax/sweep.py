"""Sweeps: a grid of tasks x rules x schedules x seeds, one run per grid point.

A sweep spec (a JSON file, or lists on the command line) expands to run specs, each the very
run spec ``minimax train`` writes to ``run.json`` (built by :func:`minimax.runs.prepare_train`),
and each run lives in ``OUT/<run-name>/`` with a name made from its grid point. A run is played
by the run layer (:func:`minimax.runs.train_run`, :func:`minimax.runs.resume_run`: what
``minimax train`` and ``minimax resume`` call), so a run that is interrupted (its worker killed,
the machine rebooted) continues from its newest checkpoint when it is retried or when the sweep
is started again; runs already finished are skipped.

Backends:

* ``local`` (default): each run in a process of its own (spawn), ``workers`` at a time. A
  process that dies (SIGKILL, out of memory) costs only its own run, which is retried up to
  ``retries`` times, resuming from its checkpoints; the other runs go on.
* ``ray``: one ``ray.remote`` task per run with ``max_retries=retries`` (Ray retries a task
  whose worker process died); ``ray.init(address=...)`` with an address, else a local Ray.
  Ray is optional (``pip install ray``) and imported only here.

At the end every run's results (the last row and the mean over the last 10% of
``metrics.jsonl``, its ``summary.json``, and for Normal1D the W1 and KS of ``minimax eval``)
are merged into ``OUT/sweep.json`` and ``OUT/sweep.md``, written atomically.

Sweep spec (JSON)::

    {
      "tasks": ["Normal1D:hidden=4,d_hidden=4"],        # TASK[:OPTION=VALUE,...] (-o options)
      "rules": ["adam:lr=1e-3",                          # --rule (both players)
                {"discriminator": "sgd:lr=0.1", "generator": "adam:lr=1e-3"},
                {"joint": "extragradient:lr=0.1"}],      # --joint (parallel env; no schedule)
      "schedules": ["alternating:k=1", "alternating:k=5"],   # null: the task's own
      "seeds": [0, 1, 2],
      "iterations": 200,
      "train_args": ["--loss", "non-saturating", "--checkpoint-every", "20"]   # any other train options
    }
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minimax.runs import (
    UsageError,
    build_run,
    evaluate_run,
    parse_train_args,
    prepare_train,
    resume_run,
    run_status,
    set_threads,
    train_run,
)

SWEEP_JSON = "sweep.json"
SWEEP_MD = "sweep.md"
ATTEMPTS = "sweep-attempts.jsonl"  # one line per attempt at a run (written by the worker as it starts)
RUN_LOG = "sweep-run.log"  # the run's stdout and stderr
EVAL_JSON = "eval.json"  # 'minimax eval --json' of a finished Normal1D run
KILL_HOOK = "MINIMAX_SWEEP_TEST_KILL"  # testing only: "RUN_NAME@ITERATION@FLAG_FILE" (see _kill_hook)
TABLE_METRICS = ("value", "discriminator_loss", "generator_loss")


class SweepError(ValueError):
    """A bad sweep spec (reported like a bad command-line value)."""


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------


@dataclass
class SweepSpec:
    tasks: list[str]
    rules: list[Any] = field(default_factory=lambda: [None])  # str | {"discriminator","generator"} | {"joint"} | None
    schedules: list[str | None] = field(default_factory=lambda: [None])
    seeds: list[int] = field(default_factory=lambda: [0])
    iterations: int = 1000
    train_args: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        if not isinstance(data, Mapping):
            raise SweepError(f"a sweep spec is a JSON object, got {type(data).__name__}")
        known = {"tasks", "rules", "schedules", "seeds", "iterations", "train_args"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SweepError(f"unknown sweep spec key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        if "tasks" not in data:
            raise SweepError("the sweep spec needs 'tasks' (a list of TASK[:OPTION=VALUE,...])")

        def listed(key: str, default: list[Any]) -> list[Any]:
            value = data.get(key, default)
            value = value if isinstance(value, list) else [value]
            if not value:
                raise SweepError(f"sweep spec '{key}' is an empty list")
            return value

        seeds = listed("seeds", [0])
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise SweepError(f"sweep spec 'seeds' must be integers >= 0, got {seeds!r}")
        iterations = data.get("iterations", 1000)
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
            raise SweepError(f"sweep spec 'iterations' must be an integer >= 1, got {iterations!r}")
        train_args = data.get("train_args", [])
        if not isinstance(train_args, list) or not all(isinstance(a, str) for a in train_args):
            raise SweepError(f"sweep spec 'train_args' must be a list of strings, got {train_args!r}")
        for rule in listed("rules", [None]):
            if not (rule is None or isinstance(rule, str) or (isinstance(rule, Mapping) and rule
                    and set(rule) <= {"discriminator", "generator", "joint"})):  # fmt: skip
                raise SweepError(f"sweep spec rule {rule!r}: expected a spec string, or an object with "
                                 "'discriminator'/'generator' or 'joint'")  # fmt: skip
        return cls(tasks=[str(t) for t in listed("tasks", [])], rules=listed("rules", [None]),
                   schedules=listed("schedules", [None]), seeds=seeds, iterations=iterations,
                   train_args=list(train_args))  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SweepSpec:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as error:
            raise SweepError(f"cannot read the sweep spec {str(path)!r}: {error.strerror or error}") from None
        except ValueError as error:
            raise SweepError(f"the sweep spec {str(path)!r} is not valid JSON: {error}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "rules": self.rules, "schedules": self.schedules, "seeds": self.seeds,
                "iterations": self.iterations, "train_args": self.train_args}  # fmt: skip


def _slug(text: str) -> str:
    """A file-name-safe form of a spec: ``adam:lr=1e-3,betas=0.5/0.999`` -> ``adam_lr1e-3_betas0.5-0.999``."""
    text = text.replace("=", "").replace("/", "-")
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "x"


def _rule_label(rule: Any) -> str:
    if rule is None:
        return "default"
    if isinstance(rule, str):
        return rule
    if "joint" in rule:
        return f"joint:{rule['joint']}"
    return f"D={rule.get('discriminator', 'default')};G={rule.get('generator', 'default')}"


def _rule_args(rule: Any) -> list[str]:
    if rule is None:
        return []
    if isinstance(rule, str):
        return ["--rule", rule]
    args = []
    for key, flag in (("discriminator", "--discriminator"), ("generator", "--generator"), ("joint", "--joint")):
        if rule.get(key):
            args += [flag, rule[key]]
    return args


def run_name(task: str, rule: Any, schedule: str | None, seed: int) -> str:
    """The directory name of a grid point: ``<task>-<rule>-<schedule>-seed<S>``, file-name safe."""
    task_name, _, options = task.partition(":")
    parts = [_slug(task_name.removeprefix("minimax/").rsplit("-v", 1)[0] + (f"_{options}" if options else "")),
             _slug(_rule_label(rule).replace(";", "_")), _slug(schedule or "default"), f"seed{seed}"]  # fmt: skip
    return "-".join(parts)


def expand(sweep: SweepSpec, out: str | os.PathLike[str], threads: int | None = 1) -> list[dict[str, Any]]:
    """The runs of the grid (tasks, then rules, schedules and seeds; the last varies fastest).

    Each run: ``name``, ``dir``, ``point`` (task, rule, schedule, seed), ``argv`` (the ``minimax train``
    command line) and ``spec`` (the run spec ``minimax train`` would write to ``run.json``). Every grid
    point is checked here, so a bad value stops the sweep before any run starts.
    """
    out = Path(out)
    runs: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for task in sweep.tasks:
        task_name, _, options = task.partition(":")
        for rule in sweep.rules:
            joint = isinstance(rule, Mapping) and bool(rule.get("joint"))
            for schedule in [None] if joint else sweep.schedules:  # a joint rule: the parallel env, no schedule
                for seed in sweep.seeds:
                    name = run_name(task, rule, schedule, seed)
                    if name in names:  # two grid points that slug the same: tell them apart, deterministically
                        point_text = json.dumps([task, rule, schedule, seed], sort_keys=True)
                        name += "-" + hashlib.sha1(point_text.encode()).hexdigest()[:8]
                    names[name] = len(runs)
                    directory = out / name
                    argv = ["train", task_name, *(["-o", options] if options else []), *_rule_args(rule),
                            *(["--schedule", schedule] if schedule else []), "--seed", str(seed),
                            "--iterations", str(sweep.iterations),
                            *(["--threads", str(threads)] if threads else []), *sweep.train_args,
                            "--out", str(directory)]  # fmt: skip
                    try:
                        spec, _, _, _ = prepare_train(parse_train_args(argv[1:]))
                    except UsageError as error:
                        raise SweepError(f"run {name}: {error} ({' '.join(argv)})") from None
                    runs.append({"name": name, "dir": str(directory),
                                 "point": {"task": task, "rule": _rule_label(rule), "schedule": schedule or "default",
                                           "seed": seed},
                                 "argv": argv, "spec": spec})  # fmt: skip
    return runs


# --------------------------------------------------------------------------------------------
# One run (in a worker process)
# --------------------------------------------------------------------------------------------


def _attempts(directory: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in (directory / ATTEMPTS).read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


@contextlib.contextmanager
def _kill_hook(hook: str | None, name: str) -> Any:
    """Testing only: ``RUN_NAME@ITERATION@FLAG_FILE`` makes the run RUN_NAME SIGKILL its own process
    right after it has saved the checkpoint of ITERATION, once (FLAG_FILE marks that it happened)."""
    if not hook:
        yield
        return
    target, at, flag = hook.split("@", 2)
    if target != name or Path(flag).exists():
        yield
        return
    from minimax.training import checkpoint as ckpt

    save = ckpt.save

    def save_then_die(path: Any, *args: Any, **kwargs: Any) -> Any:
        result = save(path, *args, **kwargs)
        if ckpt.checkpoint_path(Path(path).parent, int(at)) == Path(path) and not Path(flag).exists():
            Path(flag).write_text(f"killed {name} at iteration {at}, pid {os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    ckpt.save = save_then_die
    try:
        yield
    finally:
        ckpt.save = save


def run_one(run: Mapping[str, Any], attempt: int = 1, kill_hook: str | None = None) -> dict[str, Any]:
    """Play one run to its end: trained in a new directory, resumed in a started one (the run layer).

    Returns ``{"name", "rc", "status", "attempt", "start_iteration"}``; a finished run is skipped
    (``status`` ``skipped``). Output goes to ``DIR/sweep-run.log``.
    """
    from minimax.training import checkpoint as ckpt

    directory = Path(run["dir"])
    if run_status(directory) == "finished":
        return {"name": run["name"], "rc": 0, "status": "skipped", "attempt": attempt}
    directory.mkdir(parents=True, exist_ok=True)
    started = (directory / ckpt.RUN_SPEC).exists()
    newest = ckpt.latest(directory) if started else None
    start = int(ckpt._NAME.match(newest.name).group(1)) if newest is not None else 0
    record = {"attempt": attempt, "pid": os.getpid(), "time": time.time(), "start_iteration": start,
              "command": "resume" if started else "train"}  # fmt: skip
    with open(directory / ATTEMPTS, "a") as file:
        file.write(json.dumps(record) + "\n")
        file.flush()
        os.fsync(file.fileno())
    with open(directory / RUN_LOG, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        print(f"--- attempt {attempt} (pid {os.getpid()}): {'resume' if started else 'train'} {run['name']}", flush=True)
        with _kill_hook(kill_hook, run["name"]):
            try:
                rc = _play(run, directory, started)
            except UsageError as error:
                print(f"minimax sweep: error: {error}", flush=True)
                rc = 2
            except Exception as error:  # noqa: BLE001 - reported in the table, retried by the caller
                print(f"minimax sweep: {type(error).__name__}: {error}", flush=True)
                rc = 1
        if rc == 0 and _is_normal1d(run):
            _evaluate(directory)
    status = run_status(directory) if rc == 0 else "failed"
    return {"name": run["name"], "rc": rc, "status": status, "attempt": attempt, "start_iteration": start}


def _play(run: Mapping[str, Any], directory: Path, started: bool) -> int:
    """Train the run (a new directory) or resume it (a started one); 0, or 128 + the signal that stopped it."""
    if started:
        result = resume_run(directory, progress=False)
    else:
        from minimax.training import manifest

        spec = dict(run["spec"])
        manifest.remove_run(directory)  # what an earlier attempt left before its run.json (none, usually)
        set_threads(spec)
        env, rules = build_run(spec)
        result = train_run(spec, directory, env, rules, progress=False)
    return 0 if result.signal is None else 128 + result.signal


def _is_normal1d(run: Mapping[str, Any]) -> bool:
    return "normal1d" in str(run["spec"].get("task", "")).lower()


def _evaluate(directory: Path, samples: int = 10000) -> dict[str, Any] | None:
    """The run's evaluation (:func:`minimax.runs.evaluate_run`), kept as DIR/eval.json (cheap for Normal1D)."""
    from minimax.utils.files import atomic_write

    try:
        report = evaluate_run(directory, samples)
        report.pop("tail", None)
    except (UsageError, ValueError, OSError):
        report = None
    if report is not None:
        atomic_write(directory / EVAL_JSON, (json.dumps(report, indent=2) + "\n").encode())
    return report


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"minimax sweep: {message}", file=sys.stderr, flush=True)


def _worker(run: Mapping[str, Any], attempt: int, kill_hook: str | None, connection: Any) -> None:
    """A run's own process: play it and send the result back (a process that dies sends nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the sweep, which stops its workers with SIGTERM
    try:
        connection.send(run_one(run, attempt, kill_hook))
    finally:
        connection.close()


def run_local(runs: Sequence[Mapping[str, Any]], workers: int = 1, retries: int = 2,
              kill_hook: str | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Play the runs, each in a process of its own (spawn), at most ``workers`` at a time.

    A process that dies (SIGKILL, out of memory) takes nothing but its own run with it: that run
    is retried, up to ``retries`` times, resuming from its checkpoints; the others go on. Each
    attempt is numbered as it starts (the same number in the run's attempt log, in the messages
    and in the table). Ctrl-C stops the workers with SIGTERM (each checkpoints and stops).
    """
    from collections import deque
    from multiprocessing.connection import wait as wait_for

    context = multiprocessing.get_context("spawn")
    queue = deque(runs)
    attempts = {run["name"]: 0 for run in runs}
    failures = {run["name"]: 0 for run in runs}
    results: dict[str, dict[str, Any]] = {}
    active: dict[Any, tuple[Any, Mapping[str, Any], Any]] = {}  # sentinel -> (process, run, receiving end)
    try:
        while queue or active:
            while queue and len(active) < max(1, workers):
                run = queue.popleft()
                attempts[run["name"]] += 1
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_worker, args=(dict(run), attempts[run["name"]], kill_hook, send),
                                          name=f"minimax-sweep-{run['name']}", daemon=False)  # fmt: skip
                process.start()
                send.close()  # the child holds its end: its death closes the pipe
                active[process.sentinel] = (process, run, receive)
            for sentinel in wait_for(list(active)):
                process, run, receive = active.pop(sentinel)
                name, attempt = run["name"], attempts[run["name"]]
                try:
                    result = receive.recv() if receive.poll() else None
                except EOFError:  # closed without an answer: the process died
                    result = None
                receive.close()
                process.join()
                if result is None:  # the process died before it could answer
                    how = (f"killed by {signal.Signals(-process.exitcode).name}" if process.exitcode and process.exitcode < 0
                           else f"exit code {process.exitcode}")  # fmt: skip
                    result = {"name": name, "rc": None, "status": "failed", "attempt": attempt,
                              "error": f"its worker process died ({how})"}  # fmt: skip
                if result["status"] == "failed":
                    failures[name] += 1
                    if failures[name] <= retries:
                        _say(f"{name}: attempt {attempt} failed ({result.get('error') or 'exit code ' + str(result['rc'])}); "
                             f"retrying it as attempt {attempt + 1}, from its checkpoints")  # fmt: skip
                        queue.append(run)
                        continue
                results[name] = result
                _say(f"{name}: {result['status']} (attempt {attempt})")
    except BaseException:
        for process, _, receive in active.values():  # stop the runs in flight: each checkpoints on SIGTERM
            process.terminate()
        for process, _, receive in active.values():
            process.join(30)
            receive.close()
        raise
    return results


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs Ray: pip install ray (or pip install -e '.[dev]')") from None
    return ray


def _ray_run(run: Mapping[str, Any], kill_hook: str | None) -> dict[str, Any]:
    attempt = len(_attempts(Path(run["dir"]))) + 1  # Ray does not tell a task its attempt number
    return run_one(run, attempt, kill_hook)


def run_ray(runs: Sequence[Mapping[str, Any]], workers: int | None = None, retries: int = 2,
            address: str | None = None, kill_hook: str | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """One ``ray.remote`` task per run, ``max_retries=retries`` (a task whose worker died runs again)."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or None, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(_ray_run)
    refs = {remote.remote(dict(run), kill_hook): run for run in runs}
    results: dict[str, dict[str, Any]] = {}
    try:
        remaining = list(refs)
        while remaining:
            done, remaining = ray.wait(remaining, num_returns=1)
            run = refs[done[0]]
            try:
                result = ray.get(done[0])
            except Exception as error:  # noqa: BLE001 - WorkerCrashedError after max_retries, a task error
                result = {"name": run["name"], "rc": None, "status": "failed",
                          "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                          "attempt": len(_attempts(Path(run["dir"])))}  # fmt: skip
            results[run["name"]] = result
            _say(f"{run['name']}: {result['status']} (attempt {result.get('attempt')})")
    finally:
        if started_here:
            ray.shutdown()
    return results


# --------------------------------------------------------------------------------------------
# The merged table
# --------------------------------------------------------------------------------------------


def _number(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def collect(run: Mapping[str, Any], evaluate: bool = True) -> dict[str, Any]:
    """One row of the merged table: the grid point, the status, and the run's final metrics."""
    from minimax.training import runlog

    directory = Path(run["dir"])
    row: dict[str, Any] = {"name": run["name"], **run["point"], "status": run_status(directory),
                           "attempts": len(_attempts(directory))}  # fmt: skip
    try:
        summary = json.loads((directory / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {}
    rows = runlog.read_rows(directory / runlog.JSONL) if (directory / runlog.JSONL).exists() else []
    row["iterations"] = rows[-1].get("iteration") if rows else summary.get("iterations", 0)
    row["diverged"] = summary.get("reason") if summary.get("terminated") else None
    row["wall_time"] = summary.get("wall_time")
    keys = [k for k in (rows[-1] if rows else {}) if k not in ("iteration", "wall_time")]
    tail = rows[-max(1, len(rows) // 10):] if rows else []
    row["final"] = {k: _number(rows[-1].get(k)) for k in keys}
    means = {}
    for k in keys:
        values = [v for r in tail if (v := _number(r.get(k))) is not None]
        means[k] = sum(values) / len(values) if values else None
    row["mean_last_10pct"] = means
    if _is_normal1d(run) and row["status"] == "finished":
        try:
            report = json.loads((directory / EVAL_JSON).read_text())
        except (OSError, ValueError):
            report = _evaluate(directory) if evaluate else None
        target = (report or {}).get("target") or {}
        row["w1"] = _number(target.get("w1"))
        row["ks"] = _number(target.get("ks"))
    return row


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x).replace("|", "\\|")


def merge(runs: Sequence[Mapping[str, Any]], out: str | os.PathLike[str], sweep: Mapping[str, Any] | None = None,
          backend: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """``OUT/sweep.json`` (every row, everything) and ``OUT/sweep.md`` (a markdown table), atomically."""
    from minimax.utils.files import atomic_write

    out = Path(out)
    rows = [collect(run) for run in runs]
    atomic_write(out / SWEEP_JSON, (json.dumps({"sweep": sweep, "backend": backend, "runs": rows}, indent=2) + "\n").encode())
    metrics = [m for m in TABLE_METRICS if any(m in r["final"] for r in rows)]
    has_w1 = any("w1" in r for r in rows)
    header = ["run", "task", "rule", "schedule", "seed", "status", "iterations", "attempts"]
    header += (["W1", "KS"] if has_w1 else []) + [f"{m} (last / mean last 10%)" for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["name"], r["task"], r["rule"], r["schedule"], r["seed"],
                 r["status"] + (f" (diverged: {r['diverged']})" if r.get("diverged") else ""), r["iterations"], r["attempts"]]  # fmt: skip
        cells += [r.get("w1"), r.get("ks")] if has_w1 else []
        cells += [f"{_cell(r['final'].get(m))} / {_cell(r['mean_last_10pct'].get(m))}" for m in metrics]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    text = f"# Sweep: {len(rows)} runs\n\n" + "\n".join(lines) + "\n"
    atomic_write(out / SWEEP_MD, text.encode())
    return rows


def sweep(spec: SweepSpec | Mapping[str, Any], out: str | os.PathLike[str], backend: str = "local", workers: int = 1,
          retries: int = 2, address: str | None = None, threads: int | None = 1) -> list[dict[str, Any]]:  # fmt: skip
    """Expand, play what is not finished, merge; returns the merged rows (see the module doc)."""
    spec = spec if isinstance(spec, SweepSpec) else SweepSpec.from_dict(spec)
    if backend not in ("local", "ray"):
        raise SweepError(f"--backend must be local or ray, got {backend!r}")
    if backend == "ray":
        _import_ray()  # a clear error before anything starts
    out = Path(out)
    runs = expand(spec, out, threads=threads)
    out.mkdir(parents=True, exist_ok=True)
    todo = [run for run in runs if run_status(run["dir"]) != "finished"]
    if len(todo) < len(runs):
        _say(f"{len(runs) - len(todo)} of {len(runs)} runs already finished in {out}: skipped")
    kill_hook = os.environ.get(KILL_HOOK)
    if todo:
        _say(f"{len(todo)} run(s) on {backend} ({workers} worker(s), {retries} retries)")
        if backend == "local":
            run_local(todo, workers=workers, retries=retries, kill_hook=kill_hook)
        else:
            run_ray(todo, workers=workers, retries=retries, address=address, kill_hook=kill_hook)
    rows = merge(runs, out, spec.to_dict(), backend)
    failed = [r["name"] for r in rows if r["status"] != "finished"]
    _say(f"{len(rows) - len(failed)} of {len(rows)} runs finished; table in {out / SWEEP_MD}"
         + (f"; unfinished: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return rows
