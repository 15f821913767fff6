"""Fused Adam moved in place against the written change: the same env, the two paths alternating in one process.

``minimax.train`` makes a fused Adam move with the kernel on the parameters themselves where it can
(:meth:`minimax.core.match.Match.move_in_place`); the other path writes the change into a zeroed buffer, adds
it and watches it. The trajectories are bitwise equal (tests/test_fused.py), so only the time differs. Pairing
the two in one process, round after round, cancels most of a shared machine's drift: the table gives each
path's median and the paired ratios (in place over written, per round).

    python -m benchmarks.in_place --task mnist --games 1 --rounds 8 --iterations 60
    python -m benchmarks.in_place --task normal1d --games 16 --rounds 8 --iterations 600

Writes results/in_place/ (or --out): results.md, results.json.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

import agents
import minimax
from benchmarks.reporting import atomic_write, machine, markdown_table, save_json
from benchmarks.speed import ONE_D, _setup
from minimax.training import loop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=(*ONE_D, "mnist"), default="mnist")
    p.add_argument("--games", type=int, default=1, help="N games in lockstep (1: the AEC env)")
    p.add_argument("--rounds", type=int, default=8, help="rounds, each timing both paths once (default 8)")
    p.add_argument("--iterations", type=int, default=60, help="iterations per timed run (default 60)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None, help="MNIST directory (else $MINIMAX_MNIST_DIR, else random images)")
    p.add_argument("--out", type=Path, default=Path("results/in_place"))
    args = p.parse_args(argv)
    for name in ("games", "rounds", "iterations", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    task, schedule, loss, rule_options, fake_mode = _setup({"task": args.task, "data_dir": args.data_dir,
                                                            "mnist_batch": 32})  # fmt: skip
    if args.games == 1:
        env = minimax.GameAECEnv(minimax.Game(task, loss=loss, fake_mode=fake_mode), schedule)
        rules: Any = {p: agents.make("adam", **rule_options, fused=True) for p in minimax.PLAYERS}
    else:
        env = minimax.VectorGameEnv(minimax.Game(task, args.games, loss=loss, fake_mode=fake_mode), schedule)
        rules = agents.make("adam", **rule_options, fused=True)

    in_place = loop.Driver._in_place
    paths = {"in place": in_place, "written change": lambda self, player: False}
    rates: dict[str, list[float]] = {name: [] for name in paths}
    minimax.train(env, rules, 3, seed=0, progress=False)  # warm-up
    try:
        for _ in range(args.rounds):
            for name, choice in paths.items():
                loop.Driver._in_place = choice
                history = minimax.train(env, rules, args.iterations, seed=0, progress=False)
                rates[name].append(args.games * args.iterations / history.wall_time)
    finally:
        loop.Driver._in_place = in_place

    ratios = sorted(a / b for a, b in zip(rates["in place"], rates["written change"]))
    medians = {name: statistics.median(v) for name, v in rates.items()}
    table = markdown_table(
        ["task", "games", "written change (game-its/s)", "in place (game-its/s)", "paired ratio min", "median", "max"],
        [[args.task, str(args.games), f"{medians['written change']:.1f}", f"{medians['in place']:.1f}",
          f"{ratios[0]:.2f}", f"{statistics.median(ratios):.2f}", f"{ratios[-1]:.2f}"]],
    )  # fmt: skip
    text = (f"# Fused Adam in place against the written change\n\n{args.rounds} rounds of {args.iterations} iterations "
            f"on {machine()}, {args.threads} thread(s).\n\n{table}\n")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "results.md", text.encode())
    save_json(args.out / "results.json", {"rates": rates, "ratios": ratios, **vars(args)})
    print(text)
    return {"rates": rates, "ratios": ratios}


if __name__ == "__main__":
    main()
