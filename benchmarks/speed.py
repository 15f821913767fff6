"""Speed: a plain eager PyTorch loop, minimax's single-game env, and N games in lockstep.

For each task, in one run on one machine:

* ``eager``: the reference, a plain PyTorch loop written as a user would (benchmarks/eager.py),
  one game at a time;
* ``env``: one game through minimax's AEC env and ``minimax.train`` (the conformance path:
  observations, rewards, divergence checks, metrics);
* ``vector N``: N independent games in lockstep (``minimax.vector_game`` + ``train_vector``),
  N = 1 being the fast single game.

Every configuration runs in its own subprocess (clean timing and peak memory), warms up, then
runs for about ``--seconds``. Reported: iterations per second of the run, game-iterations per
second (N times that), the ratio of game-iterations per second to the eager loop's iterations
per second (the speed-up over running the same games one after another in the eager loop),
peak memory above the process's baseline (CPU: resident set; GPU: peak allocated), and the
matmul throughput (FLOPs counted by ``torch.utils.flop_counter`` on one iteration).

Tasks: ``normal1d`` (the 1D task as ``make run`` trains it: G and D 1-32-32-1 tanh, batch 256,
Algorithm 1 with k = 1, Adam), ``normal1d-small`` (hidden 8, batch 64: where per-step overhead,
not arithmetic, dominates), ``mnist`` (the report's networks and update: three turns per
iteration, batch 32, Adam(2e-4, 0.5)). MNIST images come from ``--data-dir`` or
``$MINIMAX_MNIST_DIR``; without them random images of the same shape are used (speed does not
depend on pixel values) and the table says so.

    python -m benchmarks.speed                                 # CPU, and the GPU too when there is one
    python -m benchmarks.speed --tasks normal1d --games 1 16 64 256 --seconds 5
    python -m benchmarks.speed --device cuda --mnist-games 1 16 64 256 --mnist-batch 64

Writes results/speed/ (or --out): results.json, results.md, speed.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.reporting import markdown_table, save_figure, save_json
from minimax.utils.files import atomic_write

TASKS = ("normal1d", "normal1d-small", "mnist")
ONE_D = {"normal1d": (32, 256), "normal1d-small": (8, 64)}  # hidden, batch


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
    return {**spec, "matmul_gflops": matmul / 1e9, "copy_gb_per_s": bandwidth / 1e9}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in this process and return its figures."""
    import torch

    import agents
    import minimax
    from benchmarks import eager
    from minimax.envs.vector import VectorGameEnv
    from minimax.vector_game import VectorGame
    from minimax.vector_training import train_vector

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    task, schedule, loss, rule_options, fake_mode = _setup(spec)
    baseline_kb = _rss_kb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_gpu = torch.cuda.memory_allocated(device)
    method, games = spec["method"], spec.get("games", 1)
    if method == "eager":
        if spec["task"] in ONE_D:
            loop = eager.make_normal1d(*ONE_D[spec["task"]], device=str(device))
        else:
            images = torch.as_tensor(task.images).float().div(127.5).sub(1.0)
            loop = eager.make_mnist(images, spec["mnist_batch"], device=str(device))

        def run(n: int) -> float:
            sync()
            start = time.perf_counter()
            loop(n)
            sync()
            return time.perf_counter() - start
    elif method == "env":
        env = minimax.GameAECEnv(minimax.Game(task, loss=loss, device=device, fake_mode=fake_mode), schedule)
        rules = {p: agents.make("adam", **rule_options) for p in minimax.PLAYERS}
        run = lambda n: minimax.train(env, rules, n, seed=0, progress=False).wall_time  # noqa: E731
    else:
        vector = VectorGame(task, games, loss=loss, device=device, fake_mode=fake_mode)
        venv = VectorGameEnv(vector, schedule)
        rule = agents.make("adam", **rule_options)
        run = lambda n: train_vector(venv, rule, n, seed=0, progress=False).wall_time  # noqa: E731
    iterations, seconds = _timed(run, spec["seconds"])
    result = {**spec, "iterations": iterations, "seconds": seconds, "its_per_s": iterations / seconds,
              "game_its_per_s": games * iterations / seconds}  # fmt: skip
    if device.type == "cuda":
        result["peak_mb"] = (torch.cuda.max_memory_allocated(device) - base_gpu) / 2**20
    else:
        result["peak_mb"] = max(0.0, (_peak_rss_kb() - baseline_kb) / 1024)
    if method == "vector" and games == 1:
        result["flops_per_game_iteration"] = _flops(run)
    return result


def _flops(run) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        run(1)
    return float(counter.get_total_flops())


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ----------------------------------------------------------------------------------- the study


def run_in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    """``measure(spec)`` in a fresh interpreter; a failure (out of memory, ...) becomes a row that says so."""
    command = [sys.executable, "-m", "benchmarks.speed", "--worker", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(spec["threads"])})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {**spec, "error": tail[0]}
    return json.loads(lines[-1])


def plan(args: argparse.Namespace, device: str) -> list[dict[str, Any]]:
    specs = []
    for task in args.tasks:
        base = {"task": task, "device": device, "threads": args.threads, "seconds": args.seconds,
                "mnist_batch": args.mnist_batch, "data_dir": args.data_dir}  # fmt: skip
        specs.append({**base, "method": "eager"})
        specs.append({**base, "method": "env"})
        for n in args.mnist_games if task == "mnist" else args.games:
            specs.append({**base, "method": "vector", "games": n})
    return specs


def table(rows: list[dict[str, Any]]) -> str:
    eager = {(r["task"], r["device"]): r["its_per_s"] for r in rows if r["method"] == "eager" and "error" not in r}
    flops = {(r["task"], r["device"]): r.get("flops_per_game_iteration") for r in rows if r.get("flops_per_game_iteration")}
    body = []
    for r in rows:
        key = (r["task"], r["device"])
        label = r["method"] if r["method"] != "vector" else f"vector N={r['games']}"
        if "error" in r:
            body.append([r["task"], r["device"], label, "failed: " + r["error"][:80], "", "", "", ""])
            continue
        ratio = r["game_its_per_s"] / eager[key] if key in eager else float("nan")
        gflops = flops.get(key, 0) * r["game_its_per_s"] / 1e9 if flops.get(key) else float("nan")
        body.append([r["task"], r["device"], label, f"{r['its_per_s']:.3g}", f"{r['game_its_per_s']:.4g}", f"{ratio:.3g}×",
                     f"{r['peak_mb']:.0f}", f"{gflops:.3g}"])  # fmt: skip
    return markdown_table(
        ["task", "device", "method", "iterations/s", "game-iterations/s", "vs eager", "peak MB", "matmul GFLOP/s"], body
    )


def figure(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    groups = sorted({(r["task"], r["device"]) for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, (task, device) in zip(axes[0], groups):
        mine = [r for r in rows if r["task"] == task and r["device"] == device and "error" not in r]
        eager = next((r["its_per_s"] for r in mine if r["method"] == "eager"), None)
        vec = sorted((r for r in mine if r["method"] == "vector"), key=lambda r: r["games"])
        if vec:
            ax.loglog([r["games"] for r in vec], [r["game_its_per_s"] for r in vec], "o-", label="vector env")
        if eager:
            ax.axhline(eager, color="k", ls="--", lw=1, label="eager loop (one game)")
        env = next((r["its_per_s"] for r in mine if r["method"] == "env"), None)
        if env:
            ax.axhline(env, color="tab:red", ls=":", lw=1, label="minimax env (one game)")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{task} · {device}")
        ax.set_xlabel("games in lockstep N")
        ax.set_ylabel("game-iterations / s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def machine(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"
    if device == "cuda":
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--games", nargs="+", type=int, default=[1, 16, 64, 256], help="N for the 1D tasks")
    parser.add_argument("--mnist-games", nargs="+", type=int, default=None,
                        help="N for MNIST (default 1 16 64 256 on a GPU, 1 4 16 on the CPU)")
    parser.add_argument("--mnist-batch", type=int, default=32)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: the CPU, and the GPU too when there is one")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, the report's two cores)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration")
    parser.add_argument("--data-dir", default=None, help="MNIST directory (else $MINIMAX_MNIST_DIR, else random images)")
    parser.add_argument("--out", default="results/speed")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(calibrate(spec) if spec["method"] == "calibrate" else measure(spec)))
        return
    for name, values in (("--games", args.games), ("--mnist-games", args.mnist_games or [1])):
        bad = [v for v in values if v < 1]
        if bad:
            parser.error(f"{name} must be positive game counts, got {bad}")
    if args.mnist_batch < 2 or args.seconds <= 0 or args.threads < 1:
        parser.error(f"--mnist-batch must be >= 2, --seconds > 0 and --threads >= 1; got {args.mnist_batch}, "
                     f"{args.seconds}, {args.threads}")  # fmt: skip

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
    limits = [run_in_subprocess({"method": "calibrate", "device": d, "threads": args.threads, "task": "-"}) for d in devices]
    rows = [run_in_subprocess(spec) for spec in tqdm(specs, desc="configurations")]
    note = _mnist_images(args.data_dir)[1] if "mnist" in args.tasks else ""
    reference = "; ".join(
        f"{r['device']}: a large matmul runs at {r['matmul_gflops']:.3g} GFLOP/s, a large copy at {r['copy_gb_per_s']:.3g} GB/s"
        for r in limits if "error" not in r
    )
    header = (f"Speed on {', '.join(machine(d) for d in devices)}; {args.threads} CPU threads; "
              f"about {args.seconds:g} s timed per row{'; MNIST: ' + note if note else ''}. "
              f"The machine's limits, measured in the same run: {reference}.")  # fmt: skip
    markdown = header + "\n\n" + table(rows) + "\n"
    print(markdown)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "results.json", {"machine": header, "limits": limits, "rows": rows})
    atomic_write(out / "results.md", markdown.encode())
    figure(out / "speed.png", rows)
    print(f"wrote {out}/results.md, results.json, speed.png")


if __name__ == "__main__":
    main()
