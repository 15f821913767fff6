"""The README's pictures drawn by the envs' own ``render()``: a 1D run and a Dirac-GAN run as animations, and the
README's bring-your-own example (a swiss roll) at its end.

    python -m benchmarks.render                 # docs/render_normal1d.gif, docs/render_dirac.gif, docs/render_swiss.png
    python -m benchmarks.render --out results/render --frames 20

Each run is an ordinary env with ``render_mode="rgb_array"``, trained by ``minimax.train`` with a
callback that grabs a frame at evenly spaced iterations; the frames become a looping GIF
(Pillow, written atomically). What is drawn is what any user of the env gets.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pettingzoo
import torch
from PIL import Image

import agents
import minimax
from minimax.utils.files import atomic_write

# ---- 1. The two runs ------------------------------------------------------------------------------

#: The 1D run: the report's task with the main job's noise, penalty and schedule (normal noise, R1, two D steps), a
#: smaller batch, a constant step and no averaging (the frames show the live generator): short enough to draw in
#: a minute.
NORMAL1D = {"env": "minimax/Normal1D-v0", "kind": "aec", "iterations": 1500,
            "options": {"noise": "normal", "batch_size": 256, "schedule": "alternating:k=2", "loss": "non-saturating:r1=1"},
            "rule": lambda: agents.make("adam", lr=2e-3, betas=(0.5, 0.999))}  # fmt: skip
#: Dirac-GAN under simultaneous gradient descent-ascent: the trajectory spirals out (Mescheder et al.'s figure).
DIRAC = {"env": "minimax/DiracGAN-v0", "kind": "parallel", "iterations": 120, "options": {"theta": 1.0, "psi": 1.0},
         "rule": lambda: agents.make("sgd", lr=0.2)}  # fmt: skip
RUNS = {"normal1d": NORMAL1D, "dirac": DIRAC}
PICTURES = ("swiss",)
SWISS_ITERATIONS = 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where the GIFs go (default: docs)")
    parser.add_argument("--frames", type=int, default=30, help="frames per animation (default 30)")
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS) + list(PICTURES), default=sorted(RUNS) + list(PICTURES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error(f"--frames must be at least 2, got {args.frames}")
    return args


# ---- 2. Frames and the GIF ------------------------------------------------------------------------


def record(run: dict[str, Any], frames: int, seed: int) -> list[np.ndarray]:
    """Train ``run`` and return ``frames`` frames at evenly spaced iterations (the first before any move)."""
    env = pettingzoo.make(run["kind"], run["env"], view="torch", render_mode="rgb_array", **run["options"])
    at = set(np.linspace(0, run["iterations"], frames).round().astype(int).tolist()[1:])
    pictures: list[np.ndarray] = []

    def grab(iteration: int, *_: Any) -> None:
        pictures.append(env.render())

    env.reset(seed=seed)  # the start (train resets to the same state)
    pictures.append(env.render())
    rules = {p: run["rule"]() for p in minimax.PLAYERS}
    minimax.train(env, rules, run["iterations"], seed=seed, progress=False, callbacks=[grab], callback_at=sorted(at))
    return pictures


def save_gif(path: Path, pictures: list[np.ndarray], seconds: float = 6.0) -> None:
    """A looping GIF of the frames over ``seconds`` (the last frame held a second), written atomically."""
    images = [Image.fromarray(p).convert("P", palette=Image.Palette.ADAPTIVE, colors=64) for p in pictures]
    durations = [int(1000 * seconds / len(images))] * len(images)
    durations[-1] = 1000
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   optimize=True)  # fmt: skip
    atomic_write(path, buffer.getvalue())


def swiss_roll(seed: int) -> np.ndarray:
    """The README's bring-your-own example (your data and networks, registered under your id), trained for
    ``SWISS_ITERATIONS`` iterations of Adam instead of the README's 500; the frame at the end."""
    import math

    from torch import nn

    t = 1.5 * math.pi * (1 + 2 * torch.rand(2000, 1, generator=torch.Generator().manual_seed(seed)))
    data = torch.cat([t * torch.cos(t), t * torch.sin(t)], dim=1) / 10
    generator = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))
    discriminator = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    minimax.register_task("myorg/Swiss-v0", data=data, generator=generator, discriminator=discriminator,
                          batch_size=128, overwrite=True)  # fmt: skip
    env = pettingzoo.make("aec", "myorg/Swiss-v0", loss="non-saturating", render_mode="rgb_array")
    minimax.train(env, agents.make("adam", lr=1e-3, betas=(0.5, 0.999)), SWISS_ITERATIONS, seed=seed, progress=False)
    return env.render()


def save_png(path: Path, picture: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=True)
    atomic_write(path, buffer.getvalue())


# ---- 3. Main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Path]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    written = {}
    for name in [r for r in args.runs if r in PICTURES]:
        start = time.perf_counter()
        path = args.out / f"render_{name}.png"
        save_png(path, swiss_roll(args.seed))
        written[name] = path
        print(f"{path}: the README's bring-your-own example after {SWISS_ITERATIONS} iterations, {time.perf_counter() - start:.1f} s")
    for name in [r for r in args.runs if r in RUNS]:
        start = time.perf_counter()
        pictures = record(RUNS[name], args.frames, args.seed)
        path = args.out / f"render_{name}.gif"
        save_gif(path, pictures)
        written[name] = path
        print(f"{path}: {len(pictures)} frames of {RUNS[name]['env']}, {RUNS[name]['iterations']} iterations, "
              f"{path.stat().st_size / 1e3:.0f} kB, {time.perf_counter() - start:.1f} s")  # fmt: skip
    return written


if __name__ == "__main__":
    main()
