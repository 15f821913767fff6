"""Speed: minimax against the loops a user would write instead, on the same machine, in one run.

Methods (each does the work of one iteration of the same game: networks, batch, schedule, loss, Adam):

* ``eager``: a plain PyTorch loop (benchmarks/eager.py), ``torch.optim.Adam``, one game;
* ``eager-fused``: the same with ``torch.optim.Adam(fused=True)``;
* ``eager-compiled``: the same, each iteration's steps through ``torch.compile`` (compiled
  before timing);
* ``jax``: the same game in JAX + Optax, one ``jax.jit`` step per iteration
  (benchmarks/jax_games.py; only when ``jax`` and ``optax`` are installed: ``pip install -e .[speed]``);
* ``env``: one game through minimax's AEC env and ``minimax.train`` (the engine at N = 1, with
  everything a run has: observations, rewards, divergence checks, metrics);
* ``env-fused``: the same with ``agents.make("adam", fused=True)`` (torch's fused kernel);
* ``env-compiled``: the same with ``minimax.train(..., compile=True)`` (each tick one
  ``torch.compile`` graph; compiled in the warm-up);
* ``baseline``: the same ``env`` row run by another checkout of minimax (``--compare-with DIR``,
  e.g. the code before a change: ``git worktree add /tmp/before <commit>``);
* ``games N``, ``games-fused N``, ``games-compiled N``: N independent games in lockstep through
  the vector env and ``minimax.train`` (default Adam, fused Adam, compiled ticks);
* ``jax N``: N games as ``jax.jit(jax.vmap(step))``.

Measuring on a shared machine: every configuration runs in a fresh subprocess pinned to
``threads`` CPU cores (so torch and XLA use the same cores), warms up, then runs for about
``--seconds``; the configurations are interleaved in ``--rounds`` rounds, each at each of
``--threads``; the table gives the median over rounds and the spread (min-max), and ratios are
taken between medians of the same run. Reported per row: iterations per second, game-iterations
per second (N times that), the ratios to the eager loop and to the fastest peer (the best of
eager, eager-fused, eager-compiled and jax at one game; jax N at N games), peak memory above the
process's baseline, and the share of the machine's floor reached.

The floor of a task is what its arithmetic costs at the machine's own rates, measured in the same
run: the matmul FLOPs of one iteration at a large matmul's FLOP/s, its tanh and tanh-backward
elements at their per-element cost on a large array, and Adam's bytes (7 passes of 4 bytes over
every parameter per move) at a large copy's bandwidth. "of floor" is a row's game-iterations per
second over the floor's.

Tasks: ``normal1d`` (``make run``'s networks: G and D 1-32-32-1 tanh, batch 256, Algorithm 1
with k = 1, Adam), ``normal1d-small`` (hidden 8, batch 64: per-step overhead dominates),
``mnist`` (the report's networks and update: three turns per iteration, batch 32, Adam(2e-4,
0.5)). MNIST images come from ``--data-dir`` or ``$MINIMAX_MNIST_DIR``; without them random
images of the same shape are used (speed does not depend on pixel values) and the table says so.

    python -m benchmarks.speed                                     # CPU, and the GPU too when there is one
    python -m benchmarks.speed --tasks normal1d --games 1 16 64 256 --threads 1 2 --rounds 3
    python -m benchmarks.speed --compare-with /tmp/before          # and the code at /tmp/before

Writes results/speed/ (or --out): results.json, results.md, speed.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.reporting import machine, markdown_table, save_figure, save_json
from minimax.utils.files import atomic_write

TASKS = ("normal1d", "normal1d-small", "mnist")
ONE_D = {"normal1d": (32, 256), "normal1d-small": (8, 64)}  # hidden, batch
FIXED_METHODS = ("eager", "eager-fused", "eager-compiled", "jax", "env", "env-fused", "env-compiled", "baseline")
GAMES_METHODS = ("games", "games-fused", "games-compiled", "jax-games")
PEERS = ("eager", "eager-fused", "eager-compiled", "jax")  # what a user would pick instead, one game


def jax_available() -> bool:
    """Whether the JAX peers can run (``jax`` and ``optax`` importable)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


# ----------------------------------------------------------------------------------- one measurement


def _mnist_images(data_dir: str | None) -> tuple[np.ndarray, str]:
    """Real MNIST images when a directory holds them, else random uint8 images (for timing only)."""
    from minimax.datasets import load_mnist

    root = data_dir or os.environ.get("MINIMAX_MNIST_DIR")
    if root:
        try:
            data = load_mnist("mnist", root, split="train", download=False, fallback=True)
            return data.images, f"MNIST images from {root}"
        except (FileNotFoundError, OSError, ValueError):
            pass
    return np.random.default_rng(0).integers(0, 256, (10_000, 28, 28), dtype=np.uint8), "random 28x28 images (no MNIST directory given)"


def _setup(spec: dict[str, Any]):
    """The task, schedule, loss, rule options and fake mode of a benchmark task."""
    from minimax.tasks import MNIST, Normal1D

    if spec["task"] in ONE_D:
        hidden, batch = ONE_D[spec["task"]]
        return Normal1D(hidden=hidden, batch_size=batch), "alternating:k=1", "non-saturating", dict(lr=1e-3, betas=(0.5, 0.999)), "train"
    images, _ = _mnist_images(spec.get("data_dir"))
    task = MNIST(images=images, batch_size=spec["mnist_batch"])
    return task, "alternating:k=1,split=true", "non-saturating", dict(lr=2e-4, betas=(0.5, 0.999)), "eval"


def _timed(run, seconds: float) -> tuple[int, float]:
    """Iterations and seconds of a timed run lasting about ``seconds`` (after a warm-up).

    ``run(n)`` runs n iterations and returns the seconds they took (the minimax loops time
    themselves after their reset, so set-up is not counted for anyone).
    """
    run(2)
    n = 1
    while True:  # calibrate: double until a run takes a measurable time
        elapsed = run(n)
        if elapsed >= min(0.5, seconds / 4):
            break
        n *= 2
    total = max(1, int(n * seconds / elapsed))
    return total, run(total)


def calibrate(spec: dict[str, Any]) -> dict[str, Any]:
    """The machine's own limits with these threads: a large matmul's FLOP/s and a large copy's bytes/s."""
    import torch

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    n = 4096 if device.type == "cuda" else 1024
    a, b = torch.randn(4 * n, n, device=device), torch.randn(n, n, device=device)
    src = torch.randn(2**25 if device.type == "cpu" else 2**28, device=device)
    dst = torch.empty_like(src)

    def best(fn, repeats: int = 5) -> float:
        fn()
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return min(times)

    matmul = 2 * 4 * n * n * n / best(lambda: torch.mm(a, b))
    bandwidth = 2 * src.numel() * src.element_size() / best(lambda: dst.copy_(src))
    x = src[: 2**22]
    out = torch.empty_like(x)
    tanh = best(lambda: torch.tanh(x, out=out)) / x.numel()
    tanh_backward = best(lambda: torch.ops.aten.tanh_backward(x, out)) / x.numel()
    return {**spec, "matmul_gflops": matmul / 1e9, "copy_gb_per_s": bandwidth / 1e9,
            "tanh_ns": tanh * 1e9, "tanh_backward_ns": tanh_backward * 1e9}  # fmt: skip


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in this process and return its figures."""
    import torch

    import agents
    import minimax
    from benchmarks import eager

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    task, schedule, loss, rule_options, fake_mode = _setup(spec)
    baseline_kb = _rss_kb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_gpu = torch.cuda.memory_allocated(device)
    method, games = spec["method"], spec.get("games", 1)
    if method in ("eager", "eager-fused", "eager-compiled"):
        options = {"device": str(device), "fused": method == "eager-fused", "compiled": method == "eager-compiled"}
        if spec["task"] in ONE_D:
            loop = eager.make_normal1d(*ONE_D[spec["task"]], **options)
        else:
            images = torch.as_tensor(task.images).float().div(127.5).sub(1.0)
            loop = eager.make_mnist(images, spec["mnist_batch"], **options)
        run = _timed_loop(loop, sync)
    elif method in ("jax", "jax-games"):
        from benchmarks import jax_games

        if spec["task"] in ONE_D:
            loop = jax_games.make_normal1d(*ONE_D[spec["task"]], games=games)
        else:
            loop = jax_games.make_mnist(task.images, spec["mnist_batch"], games=games)
        run = _timed_loop(loop, lambda: None)  # the loop blocks until its work is done
    elif method in ("env", "env-fused", "env-compiled", "baseline"):  # baseline: the env row of another checkout
        env = minimax.GameAECEnv(minimax.Game(task, loss=loss, device=device, fake_mode=fake_mode), schedule)
        fused = {"fused": True} if method == "env-fused" else {}
        rules = {p: agents.make("adam", **rule_options, **fused) for p in minimax.PLAYERS}
        options = {"compile": True} if method == "env-compiled" else {}  # compiled in the warm-up
        run = lambda n: minimax.train(env, rules, n, seed=0, progress=False, **options).wall_time  # noqa: E731
    else:
        venv = minimax.VectorGameEnv(minimax.Game(task, games, loss=loss, device=device, fake_mode=fake_mode), schedule)
        rule = agents.make("adam", **rule_options, **({"fused": True} if method == "games-fused" else {}))
        options = {"compile": True} if method == "games-compiled" else {}
        run = lambda n: minimax.train(venv, rule, n, seed=0, progress=False, **options).wall_time  # noqa: E731
    iterations, seconds = _timed(run, spec["seconds"])
    result = {**spec, "iterations": iterations, "seconds": seconds, "its_per_s": iterations / seconds,
              "game_its_per_s": games * iterations / seconds}  # fmt: skip
    if device.type == "cuda":
        result["peak_mb"] = (torch.cuda.max_memory_allocated(device) - base_gpu) / 2**20
    else:
        result["peak_mb"] = max(0.0, (_peak_rss_kb() - baseline_kb) / 1024)
    if method == "eager":  # the game's own arithmetic, counted on the plain loop
        result.update(_work(run))
        result["adam_bytes"] = _adam_bytes(task, schedule)
    return result


def _adam_bytes(task, schedule: str) -> int:
    """Adam's memory traffic per iteration: 7 float32 passes (read p, g, m, v; write p, m, v) per parameter per move."""
    import minimax
    from minimax.core.schedules import make_schedule

    game, plan = minimax.Game(task), make_schedule(schedule)
    moves = [plan.agent_at(j) for j in range(plan.turns_per_iteration)]
    return sum(7 * 4 * game.size(p) * moves.count(p) for p in minimax.PLAYERS)


def _timed_loop(loop, sync):
    def run(n: int) -> float:
        sync()
        start = time.perf_counter()
        loop(n)
        sync()
        return time.perf_counter() - start

    return run


def _work(run) -> dict[str, float]:
    """The arithmetic of one iteration: matmul FLOPs, and the elements of tanh and of its backward."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    import torch

    counts = {"tanh_elements": 0.0, "tanh_backward_elements": 0.0}
    names = {torch.ops.aten.tanh.default: "tanh_elements", torch.ops.aten.tanh_backward.default: "tanh_backward_elements"}

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func in names:
                counts[names[func]] += out.numel()
            return out

    counter = FlopCounterMode(display=False)
    with counter, Count():
        run(1)
    return {"flops_per_game_iteration": float(counter.get_total_flops()), **counts}


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ----------------------------------------------------------------------------------- the study


def run_in_subprocess(spec: dict[str, Any], tree: str | None = None) -> dict[str, Any]:
    """``measure(spec)`` in a fresh interpreter (with ``tree`` first on the path); a failure becomes a row saying so."""
    sent = {**spec, "method": "env"} if tree else spec  # another checkout measures its own env row
    command = [sys.executable, "-m", "benchmarks.speed", "--worker", json.dumps(sent)]
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
    if tree:
        env["PYTHONPATH"] = os.pathsep.join([tree, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cores = sorted(os.sched_getaffinity(0))[: spec["threads"]] if hasattr(os, "sched_getaffinity") else None
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None  # torch and XLA on the same cores
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree or None, preexec_fn=pin)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {**spec, "error": tail[0]}
    result = json.loads(lines[-1])
    result["method"] = spec["method"]  # a baseline tree measures its 'env' row
    return result


def plan(args: argparse.Namespace, device: str) -> list[dict[str, Any]]:
    specs = []
    for threads in args.threads:
        for task in args.tasks:
            base = {"task": task, "device": device, "threads": threads, "seconds": args.seconds,
                    "mnist_batch": args.mnist_batch, "data_dir": args.data_dir}  # fmt: skip
            methods = [m for m in args.methods if m in FIXED_METHODS and (m != "baseline" or args.compare_with)]
            specs += [{**base, "method": m} for m in methods]
            for n in args.mnist_games if task == "mnist" else args.games:
                specs += [{**base, "method": m, "games": n} for m in args.methods if m in GAMES_METHODS]
    return specs


def _key(spec: dict[str, Any]) -> tuple:
    return spec["task"], spec["device"], spec["threads"], spec["method"], spec.get("games", 1)


def summarise(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per configuration: the median over rounds, and the spread."""
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for results in rounds:
        for r in results:
            by_key.setdefault(_key(r), []).append(r)
    rows = []
    for key, results in by_key.items():
        good = [r for r in results if "error" not in r]
        if not good:
            rows.append({**results[0], "rounds": len(results)})
            continue
        rates = [r["its_per_s"] for r in good]
        row = {**good[0], "rounds": len(good), "its_per_s": statistics.median(rates), "min_its_per_s": min(rates),
               "max_its_per_s": max(rates), "peak_mb": max(r["peak_mb"] for r in good)}  # fmt: skip
        row["game_its_per_s"] = row.get("games", 1) * row["its_per_s"]
        rows.append(row)
    return rows


def _label(r: dict[str, Any]) -> str:
    names = {"games": "games", "games-fused": "games-fused", "games-compiled": "games-compiled", "jax-games": "jax"}
    return f"{names[r['method']]} N={r['games']}" if r["method"] in GAMES_METHODS else r["method"]


def floors(rows: list[dict[str, Any]], limits: list[dict[str, Any]]) -> dict[tuple, float]:
    """(task, device, threads) -> the floor in game-iterations/s: the eager row's arithmetic at the machine's rates."""
    rates = {(r["device"], r["threads"]): r for r in limits if "error" not in r}
    out = {}
    for r in rows:
        rate = rates.get((r["device"], r["threads"]))
        if r["method"] != "eager" or "error" in r or rate is None or "flops_per_game_iteration" not in r:
            continue
        seconds = (r["flops_per_game_iteration"] / (rate["matmul_gflops"] * 1e9)
                   + r["tanh_elements"] * rate["tanh_ns"] * 1e-9
                   + r["tanh_backward_elements"] * rate["tanh_backward_ns"] * 1e-9
                   + r["adam_bytes"] / (rate["copy_gb_per_s"] * 1e9))  # fmt: skip
        out[_key(r)[:3]] = 1.0 / seconds
    return out


def best_peer(rows: list[dict[str, Any]], key: tuple, games: int) -> tuple[str, float] | None:
    """The fastest thing a user would pick instead: the best one-game peer, or JAX's N games at N > 1."""
    mine = [r for r in rows if _key(r)[:3] == key and "error" not in r]
    if games == 1:
        peers = [r for r in mine if r["method"] in PEERS] + [r for r in mine if r["method"] == "jax-games" and r["games"] == 1]
    else:
        peers = [r for r in mine if r["method"] == "jax-games" and r["games"] == games]
    if not peers:
        return None
    top = max(peers, key=lambda r: r["game_its_per_s"])
    return _label(top), top["game_its_per_s"]


def table(rows: list[dict[str, Any]], floor: dict[tuple, float] | None = None) -> str:
    floor = floor or {}
    eager = {_key(r)[:3]: r["its_per_s"] for r in rows if r["method"] == "eager" and "error" not in r}
    body = []
    for r in rows:
        key = _key(r)[:3]
        if "error" in r:
            body.append([r["task"], r["device"], str(r["threads"]), _label(r), "failed: " + r["error"][:80], "", "", "", "", "", ""])
            continue
        ratio = r["game_its_per_s"] / eager[key] if key in eager else float("nan")
        peer = best_peer(rows, key, r.get("games", 1))
        vs_peer = f"{r['game_its_per_s'] / peer[1]:.3g}× ({peer[0]})" if peer else ""
        of_floor = f"{r['game_its_per_s'] / floor[key]:.0%}" if key in floor else ""
        spread = f"{r['min_its_per_s']:.3g}–{r['max_its_per_s']:.3g}" if "min_its_per_s" in r else ""
        body.append([r["task"], r["device"], str(r["threads"]), _label(r), f"{r['its_per_s']:.3g}", spread,
                     f"{r['game_its_per_s']:.4g}", f"{ratio:.3g}×", vs_peer, of_floor, f"{r['peak_mb']:.0f}"])  # fmt: skip
    return markdown_table(
        ["task", "device", "threads", "method", "iterations/s (median)", "spread", "game-iterations/s", "vs eager",
         "vs fastest peer", "of floor", "peak MB"], body,
    )  # fmt: skip


def figure(path: Path, rows: list[dict[str, Any]], floor: dict[tuple, float] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    floor = floor or {}
    groups = sorted({_key(r)[:3] for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.4 * len(groups), 3.8), squeeze=False)
    styles = {"eager": ("k", "--"), "eager-fused": ("tab:green", "--"), "eager-compiled": ("tab:olive", "--"),
              "jax": ("tab:purple", "--"), "env": ("tab:red", ":"), "env-fused": ("tab:orange", ":"),
              "env-compiled": ("tab:brown", ":"),
              "baseline": ("tab:grey", ":")}  # fmt: skip
    curves = {"games": ("o-", "tab:blue", "minimax, N games"), "games-fused": ("s-", "tab:cyan", "minimax, N games, fused Adam"),
              "games-compiled": ("D-", "tab:red", "minimax, N games, compiled"),
              "jax-games": ("^-", "tab:purple", "JAX jit(vmap), N games")}  # fmt: skip
    for ax, key in zip(axes[0], groups):
        task, device, threads = key
        mine = [r for r in rows if _key(r)[:3] == key and "error" not in r]
        for method, (marker, color, label) in curves.items():
            many = sorted((r for r in mine if r["method"] == method), key=lambda r: r["games"])
            if many:
                ax.loglog([r["games"] for r in many], [r["game_its_per_s"] for r in many], marker, color=color, label=label)
        for r in mine:
            if r["method"] in styles:
                color, line = styles[r["method"]]
                ax.axhline(r["its_per_s"], color=color, ls=line, lw=1, label=f"{r['method']} (one game)")
        if key in floor:
            ax.axhline(floor[key], color="k", lw=2, alpha=0.3, label="floor (arithmetic at the machine's rates)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{task} · {device} · {threads} thread{'s' if threads > 1 else ''}")
        ax.set_xlabel("games in lockstep N")
        ax.set_ylabel("game-iterations / s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--games", nargs="+", type=int, default=[1, 16, 64, 256], help="N for the 1D tasks")
    parser.add_argument("--mnist-games", nargs="+", type=int, default=None,
                        help="N for MNIST (default 1 16 64 256 on a GPU, 1 4 16 on the CPU)")
    parser.add_argument("--mnist-batch", type=int, default=32)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: the CPU, and the GPU too when there is one")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="torch CPU threads, each measured (default 1 2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table gives medians (default 3)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration and round")
    parser.add_argument("--data-dir", default=None, help="MNIST directory (else $MINIMAX_MNIST_DIR, else random images)")
    parser.add_argument("--methods", nargs="+", choices=FIXED_METHODS + GAMES_METHODS, default=None,
                        help="what to measure (default: all; the JAX rows only when jax and optax are installed)")
    parser.add_argument("--compare-with", metavar="DIR", default=None,
                        help="another minimax checkout whose env row runs too (the 'baseline' row)")
    parser.add_argument("--out", default="results/speed")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(calibrate(spec) if spec["method"] == "calibrate" else measure(spec)))
        return
    for name, values in (("--games", args.games), ("--mnist-games", args.mnist_games or [1]), ("--threads", args.threads)):
        bad = [v for v in values if v < 1]
        if bad:
            parser.error(f"{name} must be positive counts, got {bad}")
    if args.mnist_batch < 2 or args.seconds <= 0 or args.rounds < 1:
        parser.error(f"--mnist-batch must be >= 2, --seconds > 0 and --rounds >= 1; got {args.mnist_batch}, "
                     f"{args.seconds}, {args.rounds}")  # fmt: skip
    if args.compare_with and not (Path(args.compare_with) / "minimax" / "__init__.py").is_file():
        parser.error(f"--compare-with {args.compare_with!r} is not a minimax checkout (no minimax/__init__.py there)")

    if args.methods is None:
        args.methods = [m for m in FIXED_METHODS + GAMES_METHODS if jax_available() or m not in ("jax", "jax-games")]
    elif any(m in ("jax", "jax-games") for m in args.methods) and not jax_available():
        parser.error("the jax rows need jax and optax (pip install -e .[speed])")

    import torch
    from tqdm.auto import tqdm

    devices = ["cpu", "cuda"] if args.device == "auto" and torch.cuda.is_available() else ["cpu" if args.device == "auto" else args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    specs = []
    for device in devices:
        device_args = argparse.Namespace(**vars(args))
        if args.mnist_games is None:
            device_args.mnist_games = [1, 16, 64, 256] if device == "cuda" else [1, 4, 16]
        specs += plan(device_args, device)
    limits = [run_in_subprocess({"method": "calibrate", "device": d, "threads": t, "task": "-"})
              for d in devices for t in args.threads]  # fmt: skip
    rounds = []
    with tqdm(total=args.rounds * len(specs), desc="configurations") as bar:
        for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits every configuration alike
            results = []
            for spec in specs:
                results.append(run_in_subprocess(spec, args.compare_with if spec["method"] == "baseline" else None))
                bar.update(1)
            rounds.append(results)
    rows = summarise(rounds)
    floor = floors(rows, limits)
    note = _mnist_images(args.data_dir)[1] if "mnist" in args.tasks else ""
    reference = "; ".join(
        f"{r['device']} at {r['threads']} thread(s): a large matmul runs at {r['matmul_gflops']:.3g} GFLOP/s, "
        f"a large copy at {r['copy_gb_per_s']:.3g} GB/s, tanh at {r['tanh_ns']:.2g} ns and its backward at "
        f"{r['tanh_backward_ns']:.2g} ns per element" for r in limits if "error" not in r
    )
    floor_text = "; ".join(f"{t} at {th} thread(s): {v:.4g} game-iterations/s" for (t, _, th), v in sorted(floor.items()))
    header = (f"Speed on {', '.join(machine(d) for d in devices)}; threads {', '.join(map(str, args.threads))}; "
              f"{args.rounds} interleaved rounds of about {args.seconds:g} s per row (median, and the spread min–max)"
              f"{'; baseline: the env row of ' + args.compare_with if args.compare_with else ''}"
              f"{'; MNIST: ' + note if note else ''}. The machine's limits, measured in the same run: {reference}.")  # fmt: skip
    if floor_text:
        header += f" Floors (the eager loop's matmul FLOPs, tanh elements and Adam bytes at those rates): {floor_text}."
    markdown = header + "\n\n" + table(rows, floor) + "\n"
    print(markdown)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "results.json", {"machine": header, "limits": limits, "floors": {"/".join(map(str, k)): v for k, v in floor.items()},
                                     "rows": rows, "rounds": rounds})  # fmt: skip
    atomic_write(out / "results.md", markdown.encode())
    figure(out / "speed.png", rows, floor)
    print(f"wrote {out}/results.md, results.json, speed.png")


if __name__ == "__main__":
    main()
