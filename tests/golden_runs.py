"""Golden trajectories: short runs of every kind of game, recorded before the one-engine redesign.

Each run is written against the public API only (``pettingzoo.make``, ``gymnasium.make``,
``minimax.make_vector``, ``agents.make``, ``minimax.train``), and everything it returns is
flattened (``reshape(-1)``), so the same function runs on the code that recorded the values and
on the code that must reproduce them. ``tests/test_golden.py`` compares, bitwise on a machine of
the kind that recorded them (same CPU capability and model).

Record (only when a change of trajectories is intended, and say so in the commit)::

    python tests/golden_runs.py --record tests/data/golden.npz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pettingzoo
import torch

import agents
import minimax  # noqa: F401  (registers the environments)

ITERATIONS = 12
SMALL_1D = {"hidden": 8, "batch_size": 32}
MNIST_TINY = {"g_hidden": (16, 24), "d_hidden": (24, 12), "noise_dim": 8, "batch_size": 16}
MIXTURE_TINY = {"hidden": 8, "depth": 2, "batch_size": 32}


def tiny_images(n: int = 64, seed: int = 0) -> np.ndarray:
    """Deterministic uint8 images (blobs on a dark background), shape (n, 28, 28)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, size=(n, 2))
    blobs = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 18.0)
    return (255 * blobs).astype(np.uint8)


def leaves(state: Any) -> list[np.ndarray]:
    """Every tensor of a rule state (NamedTuples, tuples, dicts), flattened, in a fixed order."""
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state.detach().cpu().reshape(-1).numpy().copy()]
    if isinstance(state, dict):
        return [x for key in sorted(state) for x in leaves(state[key])]
    if isinstance(state, (tuple, list)):
        return [x for item in state for x in leaves(item)]
    return []


def _parameters(env: Any) -> dict[str, np.ndarray]:
    game = env.unwrapped.game if hasattr(env, "unwrapped") and hasattr(env.unwrapped, "game") else env.game
    out = {}
    for p in ("discriminator", "generator"):
        params = game.parameters(p)
        out[f"params/{p}"] = params.detach().cpu().reshape(-1).numpy().copy()
    return out


def _history(history: Any) -> dict[str, np.ndarray]:
    out = {f"history/{k}": np.asarray(v).reshape(-1) for k, v in history.metrics.items()}
    reason = getattr(history, "reason", None)
    out["reason"] = np.frombuffer(str(reason).encode(), dtype=np.uint8)
    return out


def _rules(rules: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if getattr(rules, "joint", False):
        for i, leaf in enumerate(leaves(getattr(rules, "state", None))):
            out[f"state/joint/{i}"] = leaf
        return out
    for p, rule in rules.items():
        for i, leaf in enumerate(leaves(rule.state)):
            out[f"state/{p}/{i}"] = leaf
    return out


def lone(kind: str, env_id: str, rules: Callable[[], Any], iterations: int = ITERATIONS, seed: int = 0,
         **options: Any) -> Callable[[], dict[str, np.ndarray]]:  # fmt: skip
    """A lone run: ``pettingzoo.make(kind, env_id, view="torch", **options)`` trained by ``minimax.train``."""

    def run() -> dict[str, np.ndarray]:
        env = pettingzoo.make(kind, env_id, view="torch", **options)
        chosen = rules()
        history = minimax.train(env, chosen, iterations, seed=seed, progress=False)
        return {**_parameters(env), **_history(history), **_rules(chosen)}

    return run


def pair(name: str, **hyper: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"discriminator": agents.make(name, **hyper), "generator": agents.make(name, **hyper)}


def single_player() -> dict[str, np.ndarray]:
    """The Gymnasium view: the generator learns by SGD against an embedded Adam discriminator."""
    env = gymnasium.make("minimax/Normal1D-v0", view="torch", player="generator", opponent="adam", **SMALL_1D)
    rule = agents.make("sgd", lr=0.05)
    observation, _ = env.reset(seed=3)
    rewards = []
    for _ in range(ITERATIONS):
        observation, reward, terminated, truncated, _ = env.step(rule.act(observation))
        rewards.append(float(reward))
    return {**_parameters(env.unwrapped.game_env), "rewards": np.asarray(rewards)}


def _info_values(info: dict[str, Any]) -> list[float]:
    return [float(info[k]) if k in info else float("nan") for k in ("loss", "d_real", "d_fake", "value", "grad_norm")]


def aec_by_hand(schedule: str, loss: str) -> Callable[[], dict[str, np.ndarray]]:
    """The README's AEC loop: ``agent_iter``, ``last()``, ``observe`` of the player not moving, ``step``."""

    def run() -> dict[str, np.ndarray]:
        env = pettingzoo.make("aec", N1D, view="torch", schedule=schedule, loss=loss, max_cycles=5, **SMALL_1D)
        env.reset(seed=11)
        rules = pair("adam", lr=1e-3)()
        seen = []
        for player in env.agent_iter(max_iter=40):
            observation, reward, terminated, truncated, info = env.last()
            other = "generator" if player == "discriminator" else "discriminator"
            looked = env.observe(other)  # looking at the other player must change nothing
            seen.append([float(reward), float(observation["loss"]), float(looked["loss"]), *_info_values(info)])
            env.step(None if terminated or truncated else rules[player].act(observation))
        return {**_parameters(env), "seen": np.asarray(seen, dtype=np.float64).reshape(-1)}

    return run


def parallel_by_hand() -> dict[str, np.ndarray]:
    env = pettingzoo.make("parallel", N1D, view="torch", loss="ns:noise=0.1", max_cycles=6, **SMALL_1D)
    observations, _ = env.reset(seed=4)
    rules = pair("momentum", lr=1e-2, momentum=0.5)()
    seen = []
    while env.agents:
        actions = {p: rules[p].act(observations[p]) for p in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        for p in ("discriminator", "generator"):
            seen.append([float(rewards[p]), float(terminations[p]), float(truncations[p]), *_info_values(infos[p])])
    return {**_parameters(env), "seen": np.asarray(seen, dtype=np.float64).reshape(-1)}


def vector(env_id: str, n: int, rule: Callable[[], Any], seeds: list[int], **options: Any) -> Callable[[], dict]:
    """N games in lockstep through ``minimax.make_vector`` and the vector trainer."""

    def run() -> dict[str, np.ndarray]:
        env = minimax.make_vector(env_id, n, **options)
        history = minimax.train_vector(env, rule(), ITERATIONS, seed=seeds, progress=False)
        out = {f"history/{k}": np.asarray(v).reshape(-1) for k, v in history.metrics.items()}
        game = env.game
        for p in ("discriminator", "generator"):
            params = game.params[p] if hasattr(game, "params") else game.parameters(p)
            out[f"params/{p}"] = params.detach().cpu().reshape(-1).numpy().copy()
        return out

    return run


N1D = "minimax/Normal1D-v0"
RUNS: dict[str, Callable[[], dict[str, np.ndarray]]] = {
    # Normal1D: schedules
    "1d-alt-k1-adam-minimax": lone("aec", N1D, pair("adam", lr=1e-3, betas=(0.5, 0.999)), **SMALL_1D),
    "1d-alt-k3-momentum-ns": lone("aec", N1D, pair("momentum", lr=1e-2, momentum=0.9), schedule="alternating:k=3",
                                  loss="non-saturating", **SMALL_1D),
    "1d-gfirst-m2-nesterov": lone("aec", N1D, pair("nesterov", lr=1e-2, momentum=0.5),
                                  schedule="alternating:k=2,m=2,first=generator", **SMALL_1D),
    "1d-aec-simultaneous-sgd": lone("aec", N1D, pair("sgd", lr=0.05), schedule="simultaneous", loss="ns", **SMALL_1D),
    "1d-parallel-adam-ns": lone("parallel", N1D, pair("adam", lr=2e-3), loss="ns", **SMALL_1D),
    "1d-split-adam": lone("aec", N1D, pair("adam", lr=1e-3), schedule="alternating:k=1,split=true", **SMALL_1D),
    # Normal1D: loss families and options
    "1d-wgan-clipped-rmsprop": lone("aec", N1D, lambda: {"discriminator": agents.clipped(agents.make("rmsprop", lr=5e-3), 0.05),
                                                         "generator": agents.make("rmsprop", lr=5e-3)},
                                    schedule="alternating:k=5", loss="wasserstein", **SMALL_1D),  # fmt: skip
    "1d-hinge-adamw": lone("aec", N1D, pair("adamw", lr=1e-3, weight_decay=0.1), loss="hinge", **SMALL_1D),
    "1d-ls-rmsprop-centered": lone("aec", N1D, pair("rmsprop", lr=1e-3, centered=True, momentum=0.5),
                                   loss="least-squares", **SMALL_1D),
    "1d-r1": lone("aec", N1D, pair("adam", lr=1e-3), loss="ns:r1=1", **SMALL_1D),
    "1d-r2": lone("aec", N1D, pair("adam", lr=1e-3), loss="minimax:r2=0.5", **SMALL_1D),
    "1d-gp": lone("aec", N1D, pair("adam", lr=1e-3), loss="wasserstein:gp=10", **SMALL_1D),
    "1d-noise": lone("aec", N1D, pair("adam", lr=1e-3), loss="ns:noise=0.1", **SMALL_1D),
    "1d-split-r1-noise": lone("aec", N1D, pair("adam", lr=1e-3), loss="ns:r1=1,noise=0.2",
                              schedule="alternating:k=2,split=true", **SMALL_1D),
    "1d-parallel-r1-noise": lone("parallel", N1D, pair("sgd", lr=0.02), loss="ns:r1=1,noise=0.1", **SMALL_1D),
    # Normal1D: rules and wrappers
    "1d-optimistic": lone("aec", N1D, pair("optimistic", lr=0.02), **SMALL_1D),
    "1d-optimistic-adam": lone("parallel", N1D, pair("optimistic-adam", lr=1e-3, betas=(-0.5, 0.99)), **SMALL_1D),
    "1d-amsgrad-decay": lone("aec", N1D, pair("adam", lr=1e-3, amsgrad=True, weight_decay=0.01), **SMALL_1D),
    "1d-averaged": lone("aec", N1D, lambda: {"discriminator": agents.averaged(agents.make("adam", lr=1e-3), decay=0.9),
                                             "generator": agents.averaged(agents.make("sgd", lr=0.01))}, **SMALL_1D),
    "1d-lr-schedule": lone("aec", N1D, lambda: {p: agents.with_schedule(agents.make("adam", lr=1e-3),
                                                                        agents.lr_schedules.cosine(steps=8, end=0.1))
                                                for p in ("discriminator", "generator")}, **SMALL_1D),  # fmt: skip
    # Normal1D: task variants
    "1d-train-size-normal-noise": lone("aec", N1D, pair("adam", lr=1e-3), noise="normal", train_size=64,
                                       schedule="alternating:k=2", **SMALL_1D),
    "1d-samples-target": lone("aec", N1D, pair("adam", lr=1e-3), samples=list(np.linspace(-1.0, 3.0, 50) ** 3),
                              **SMALL_1D),
    "1d-preset-2018": lone("aec", N1D, pair("momentum", lr=1e-3, momentum=0.9), preset="2018",
                           schedule="alternating:k=3,m=3", loss="ns"),
    "1d-preset-2017": lone("aec", N1D, pair("adam", lr=2e-4), preset="2017", loss="ns"),
    "1d-float64": lone("parallel", N1D, pair("adam", lr=1e-3), dtype="float64", **SMALL_1D),
    "1d-diverges": lone("aec", N1D, pair("sgd", lr=1e30), iterations=6, **SMALL_1D),
    # Joint (game-aware) rules
    "dirac-extragradient": lone("parallel", "minimax/DiracGAN-v0", lambda: agents.make("extragradient", lr=0.2)),
    "dirac-past-extragradient": lone("parallel", "minimax/DiracGAN-v0", lambda: agents.make("past-extragradient", lr=0.2)),
    "dirac-consensus": lone("parallel", "minimax/DiracGAN-v0", lambda: agents.make("consensus", lr=0.2, gamma=1.0)),
    "dirac-sga": lone("parallel", "minimax/DiracGAN-v0", lambda: agents.make("sga", lr=0.2, lam=1.0)),
    "dirac-cgd": lone("parallel", "minimax/DiracGAN-v0", lambda: agents.make("cgd", lr=0.2)),
    "dirac-r1-alternating": lone("aec", "minimax/DiracGAN-v0", pair("sgd", lr=0.2), loss="minimax:r1=0.5"),
    "dirac-noise-gp": lone("parallel", "minimax/DiracGAN-v0", pair("sgd", lr=0.1), loss="wasserstein:gp=1,noise=0.3",
                           batch_size=4),
    "1d-cgd-iterative": lone("parallel", N1D, lambda: agents.make("cgd", lr=0.01, exact=False, cg_max_iter=20),
                             hidden=4, batch_size=16, iterations=4),
    "1d-consensus-two-timescales": lone("parallel", N1D, lambda: agents.make(
        "consensus", lr={"discriminator": 0.02, "generator": 0.01}, gamma=0.5), **SMALL_1D),  # fmt: skip
    "1d-sga-no-sign": lone("parallel", N1D, lambda: agents.make("sga", lr=0.01, sign_rule=False), **SMALL_1D),
    "linear-wgan-optimistic": lone("parallel", "minimax/LinearWGAN-v0", pair("optimistic", lr=0.05),
                                   loss="wasserstein", batch_size=16),
    # Payoff games
    "bilinear-negative-momentum": lone("aec", "minimax/Bilinear-v0", pair("momentum", lr=0.3, momentum=-0.5)),
    "bilinear-matrix-cgd": lone("parallel", "minimax/Bilinear-v0", lambda: agents.make("cgd", lr=0.3),
                                A=[[1.0, 2.0], [0.5, -1.0]], x0=[1.0, -1.0], y0=[0.5, 2.0]),
    "saddle-noise-sgd": lone("parallel", "minimax/Saddle-v0", pair("sgd", lr=1e-3), gradient_noise=0.5),
    # MNIST (tiny): the report's networks with BatchNorm, split turns, inference-mode fakes
    "mnist-split-eval-fakes": lone("aec", "minimax/MNIST-v0", pair("adam", lr=2e-4, betas=(0.5, 0.999)),
                                   schedule="alternating:k=1,split=true", fake_mode="eval", images=tiny_images(),
                                   **MNIST_TINY),
    "mnist-parallel-r1": lone("parallel", "minimax/MNIST-v0", pair("adam", lr=2e-4), loss="ns:r1=1",
                              images=tiny_images(), **MNIST_TINY),
    "mnist-aec-simultaneous-bn": lone("aec", "minimax/MNIST-v0", pair("momentum", lr=1e-3), schedule="simultaneous",
                                      images=tiny_images(), **MNIST_TINY),
    "stacked-mnist": lone("aec", "minimax/StackedMNIST-v0", pair("adam", lr=2e-4), images=tiny_images(),
                          labels=np.arange(64) % 10, **MNIST_TINY),
    # Mixtures: PacGAN packing, BatchNorm generator, maxout discriminator
    "ring8-pack2": lone("aec", "minimax/Ring8-v0", pair("rmsprop", lr=1e-3), pack=2, **MIXTURE_TINY),
    "grid25-bn-maxout": lone("aec", "minimax/Grid25-v0", pair("adam", lr=1e-3), g_batch_norm=True, d_maxout=3,
                             hidden=8, depth=2, d_hidden=6, d_depth=2, batch_size=20),
    "ring8-extragradient": lone("parallel", "minimax/Ring8-v0", lambda: agents.make("extragradient", lr=0.01),
                                **MIXTURE_TINY),
    # The views driven by hand: rewards, observations and infos as a user sees them
    "single-player": single_player,
    "aec-by-hand-alternating": aec_by_hand("alternating:k=2", "ns"),
    "aec-by-hand-simultaneous": aec_by_hand("simultaneous", "ns:r1=1"),
    "parallel-by-hand": parallel_by_hand,
    # N games in lockstep (the vector trainer)
    "vector-1d-mixed": vector(N1D, 4, lambda: agents.make("adam", lr=minimax.per_game([1e-3, 2e-3, 1e-3, 5e-4])),
                              [0, 1, 2, 3], schedule=["alternating:k=1", "alternating:k=3", "simultaneous",
                                                      "alternating:k=1,first=generator"],
                              loss=["minimax", "ns", "hinge", "least-squares"], **SMALL_1D),  # fmt: skip
    "vector-1d-momentum": vector(N1D, 3, lambda: agents.make("momentum", lr=1e-2, momentum=minimax.per_game([0.9, -0.3, 0.0])),
                                 [5, 6, 7], **SMALL_1D),  # fmt: skip
    "vector-mnist-split": vector("minimax/MNIST-v0", 2, lambda: agents.make("adam", lr=2e-4, betas=(0.5, 0.999)),
                                 [0, 1], schedule="alternating:k=1,split=true", fake_mode="eval",
                                 images=tiny_images(), **MNIST_TINY),
    "vector-ring8-pack2-vmap": vector("minimax/Ring8-v0", 3, lambda: agents.make("rmsprop", lr=1e-3), [0, 1, 2], pack=2,
                                      **MIXTURE_TINY),
}


def machine() -> dict[str, str]:
    """What decides floating-point rounding here: torch's build, its CPU kernels, the CPU model."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(), "cpu": model}


#: Arrays longer than this are stored as their digest and an evenly spaced sample (the file stays small).
FULL_LIMIT = 2048
SAMPLE = 256


def digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes: equal digests mean bitwise-equal arrays."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()


def sample(array: np.ndarray) -> np.ndarray:
    """The entries a comparison on another machine looks at: all of a short array, else SAMPLE spread out."""
    if array.size <= FULL_LIMIT:
        return array
    return array[np.linspace(0, array.size - 1, SAMPLE).round().astype(np.int64)]


def play_all() -> dict[str, np.ndarray]:
    """Every run, one thread (as the tests run), keyed ``run::quantity``."""
    torch.set_num_threads(1)
    arrays: dict[str, np.ndarray] = {}
    for name, run in RUNS.items():
        for key, value in run().items():
            arrays[f"{name}::{key}"] = value
    return arrays


def record(path: Path) -> None:
    arrays = play_all()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: sample(v) for k, v in arrays.items()})
    meta = {"machine": machine(), "runs": sorted(RUNS), "digests": {k: digest(v) for k, v in arrays.items()},
            "sizes": {k: int(v.size) for k, v in arrays.items()}}  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(RUNS)} runs, {len(arrays)} arrays into {path}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, required=True, help="where to write the .npz (a .json beside it)")
    record(parser.parse_args().record)
