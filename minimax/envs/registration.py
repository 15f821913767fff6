"""Environment ids and their registration with PettingZoo's and Gymnasium's registries.

``import minimax`` registers every id with both registries::

    pettingzoo.make("aec", "minimax/Normal1D-v0", schedule="alternating:k=5")
    pettingzoo.make("parallel", "minimax/Normal1D-v0", loss="non-saturating")
    gymnasium.make("minimax/Normal1D-v0", player="generator", opponent="adam")

Keyword arguments are split between the task (its constructor's parameters, e.g.
``mean``, ``std``, ``batch_size``) and the game/env (``loss``, ``schedule``,
``max_steps``, ``max_cycles``, ``device``, ``dtype``, ``nonfinite_check_every``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import gymnasium
import pettingzoo
import torch

from minimax.envs.aec import GameAECEnv
from minimax.envs.parallel import GameParallelEnv
from minimax.envs.single import SinglePlayerEnv
from minimax.utils.checks import check_int
from minimax.core.game import Game
from minimax.core.schedules import make_schedule
from minimax.tasks import MNIST, DiracGAN, FashionMNIST, Grid25, LinearWGAN, Normal1D, Ring8, StackedMNIST, Task
from minimax.tasks.payoff import Bilinear, PayoffGame, Saddle

if TYPE_CHECKING:
    from minimax.envs.vector import VectorGameEnv

TASKS: dict[str, Callable[..., Task]] = {
    "Normal1D-v0": Normal1D,
    "MNIST-v0": MNIST,
    "FashionMNIST-v0": FashionMNIST,
    "DiracGAN-v0": DiracGAN,
    "LinearWGAN-v0": LinearWGAN,
    "Ring8-v0": Ring8,
    "Grid25-v0": Grid25,
    "StackedMNIST-v0": StackedMNIST,
}
# Games given by a payoff f(x, y) rather than a task under a loss family.
GAMES: dict[str, Callable[..., PayoffGame]] = {"Bilinear-v0": Bilinear, "Saddle-v0": Saddle}
NAMESPACE = "minimax"
_GAME_OPTIONS = {"loss", "device", "dtype", "fake_mode"}
_ENV_OPTIONS = {"max_steps", "max_cycles", "nonfinite_check_every", "render_mode"}


def _split(task_factory: Callable[..., Task], kind: str, kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
    task_options = set(inspect.signature(task_factory).parameters)
    if task_factory in GAMES.values():  # device and dtype are the game's own; no loss family
        task_options -= _GAME_OPTIONS
    env_options = _ENV_OPTIONS | ({"schedule"} if kind == "aec" else set())
    unknown = set(kwargs) - task_options - _GAME_OPTIONS - env_options
    if unknown:
        raise TypeError(
            f"unknown option(s) {sorted(unknown)} for {getattr(task_factory, '__name__', task_factory)} ({kind}); "
            f"task options: {sorted(task_options)}; game options: {sorted(_GAME_OPTIONS)}; "
            f"env options: {sorted(env_options)}"
        )
    pick = lambda keys: {k: v for k, v in kwargs.items() if k in keys}  # noqa: E731
    return pick(task_options), pick(_GAME_OPTIONS), pick(env_options)


def _dtype(value: Any) -> torch.dtype:
    if isinstance(value, torch.dtype):
        return value
    table = {"float32": torch.float32, "float64": torch.float64}
    if value not in table:
        raise ValueError(f"dtype must be 'float32' or 'float64' (or a torch.dtype), got {value!r}")
    return table[value]


def _game(task_factory: Callable[..., Task], task_options: dict, game_options: dict) -> Game | PayoffGame:
    if task_factory in GAMES.values():
        if set(game_options) - {"device", "dtype"}:
            raise TypeError(f"a payoff game takes no {sorted(set(game_options) - {'device', 'dtype'})}: "
                            "its losses are f and -f")  # fmt: skip
        return task_factory(**task_options, device=game_options.get("device", "cpu"),
                            dtype=_dtype(game_options.get("dtype", torch.float32)))  # fmt: skip
    task = task_factory(**task_options)
    return Game(
        task,
        loss=game_options.get("loss", "minimax"),
        device=game_options.get("device", "cpu"),
        dtype=_dtype(game_options.get("dtype", torch.float32)),
        fake_mode=game_options.get("fake_mode", "train"),
    )


def _max_steps(options: dict, turns_per_cycle: int) -> int | None:
    steps, cycles = options.pop("max_steps", None), options.pop("max_cycles", None)
    if steps is not None and cycles is not None:
        raise TypeError(f"give max_steps ({steps}) or max_cycles ({cycles}), not both")
    if cycles is not None:
        return check_int("max_cycles", cycles, minimum=1) * turns_per_cycle
    return steps


def make_aec(task_factory: Callable[..., Task], **kwargs: Any) -> GameAECEnv:
    """A turn-based (AEC) game env for a task."""
    task_options, game_options, env_options = _split(task_factory, "aec", kwargs)
    schedule = make_schedule(env_options.pop("schedule", "alternating"))
    max_steps = _max_steps(env_options, schedule.turns_per_iteration)
    game = _game(task_factory, task_options, game_options)
    return GameAECEnv(game, schedule=schedule, max_steps=max_steps, **env_options)


def make_parallel(task_factory: Callable[..., Task], **kwargs: Any) -> GameParallelEnv:
    """A simultaneous (Parallel) game env for a task."""
    task_options, game_options, env_options = _split(task_factory, "parallel", kwargs)
    max_steps = _max_steps(env_options, 1)
    return GameParallelEnv(_game(task_factory, task_options, game_options), max_steps=max_steps, **env_options)


def make_single(
    task_factory: Callable[..., Task], player: str = "generator", opponent: Any = "adam", **kwargs: Any
) -> SinglePlayerEnv:
    """A single-player Gymnasium env: ``player`` learns against an embedded ``opponent`` rule."""
    return SinglePlayerEnv(make_aec(task_factory, **kwargs), player=player, opponent=opponent)


def make_vector(env_id: str, num_games: int, **kwargs: Any) -> "VectorGameEnv":
    """N games of a registered task in lockstep: ``make_vector("minimax/Normal1D-v0", 64, schedule=[...])``.

    Options as for the AEC env, except that ``loss`` and ``schedule`` may also be one per game
    and the episode limit is ``max_iterations`` (see :class:`minimax.envs.vector.VectorGameEnv`).
    """
    from minimax.envs.vector import VectorGameEnv
    from minimax.vector_game import VectorGame

    name = env_id.split("/", 1)[1] if env_id.startswith(f"{NAMESPACE}/") else env_id
    if name not in TASKS:
        raise ValueError(f"no vector env for {env_id!r}; tasks with one: {sorted(f'{NAMESPACE}/{t}' for t in TASKS)}")
    factory = TASKS[name]
    env_keys = {"schedule", "max_iterations"}
    task_options = set(inspect.signature(factory).parameters)
    unknown = set(kwargs) - task_options - _GAME_OPTIONS - env_keys
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)} for {name} (vector); task options: {sorted(task_options)}; "
                        f"game options: {sorted(_GAME_OPTIONS)}; env options: {sorted(env_keys)}")  # fmt: skip
    task = factory(**{k: v for k, v in kwargs.items() if k in task_options})
    game = VectorGame(
        task, num_games, loss=kwargs.get("loss", "minimax"), device=kwargs.get("device", "cpu"),
        dtype=_dtype(kwargs.get("dtype", torch.float32)), fake_mode=kwargs.get("fake_mode", "train"),
    )  # fmt: skip
    return VectorGameEnv(game, kwargs.get("schedule", "alternating"), max_iterations=kwargs.get("max_iterations"))


def register_all() -> None:
    """Register every task id with PettingZoo (aec, parallel) and Gymnasium (single-player view)."""
    for name, factory in {**TASKS, **GAMES}.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id in pettingzoo.aec_registry:
            continue
        pettingzoo.register("aec", env_id, entry_point=partial(make_aec, factory))
        pettingzoo.register("parallel", env_id, entry_point=partial(make_parallel, factory))
        gymnasium.register(env_id, entry_point=partial(make_single, factory), disable_env_checker=True)
