"""Environment ids and their registration with PettingZoo's and Gymnasium's registries.

``import minimax`` registers every id with both registries::

    pettingzoo.make("aec", "minimax/Normal1D-v0", schedule="alternating:k=5")
    pettingzoo.make("parallel", "minimax/Normal1D-v0", loss="non-saturating")
    gymnasium.make("minimax/Normal1D-v0", player="generator", opponent="adam")
    minimax.make_vector("minimax/Normal1D-v0", 64, schedule=["alternating:k=1", "simultaneous", ...])

Keyword arguments are split between the task (its constructor's parameters, e.g. ``mean``,
``std``, ``batch_size``), the game (``loss``, ``device``, ``dtype``, ``fake_mode``,
``precision``, ``execution``) and the env (``schedule``, ``max_steps``, ``max_cycles``,
``nonfinite_check_every``; ``max_iterations`` for N games). One function builds the game for
every kind of env, lone or N games.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium
import pettingzoo
import torch

from minimax.core.game import Game
from minimax.core.schedules import make_schedule
from minimax.envs.aec import GameAECEnv
from minimax.envs.parallel import GameParallelEnv
from minimax.envs.single import SinglePlayerEnv
from minimax.envs.vector import VectorGameEnv
from minimax.tasks import MNIST, DiracGAN, FashionMNIST, Grid25, LinearWGAN, Normal1D, Ring8, StackedMNIST, Task
from minimax.tasks.payoff import Bilinear, PayoffGame, Saddle
from minimax.utils.checks import check_int

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
_GAME_OPTIONS = {"loss", "device", "dtype", "fake_mode", "precision", "execution"}
_ENV_OPTIONS = {
    "aec": {"schedule", "max_steps", "max_cycles", "nonfinite_check_every", "render_mode"},
    "parallel": {"max_steps", "max_cycles", "nonfinite_check_every", "render_mode"},
    "vector": {"schedule", "max_iterations", "nonfinite_check_every", "joint"},
}


def _split(factory: Callable[..., Any], kind: str, kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
    """The options of the task, of the game and of the env, or a clear error naming the unknown ones."""
    task_options = set(inspect.signature(factory).parameters)
    if factory in GAMES.values():  # device and dtype are the game's own; no loss family
        task_options -= _GAME_OPTIONS | {"num_games"}
    env_options = _ENV_OPTIONS[kind]
    unknown = set(kwargs) - task_options - _GAME_OPTIONS - env_options
    if unknown:
        raise TypeError(
            f"unknown option(s) {sorted(unknown)} for {getattr(factory, '__name__', factory)} ({kind}); "
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


def build_game(factory: Callable[..., Any], task_options: dict, game_options: dict, num_games: int = 1) -> Any:
    """The game of a task (or a payoff game) with ``num_games`` games."""
    dtype = _dtype(game_options.get("dtype", torch.float32))
    device = game_options.get("device", "cpu")
    if factory in GAMES.values():
        extra = set(game_options) - {"device", "dtype"}
        if extra:
            raise TypeError(f"a payoff game takes no {sorted(extra)}: its losses are f and -f")
        return factory(**task_options, device=device, dtype=dtype, num_games=num_games)
    return Game(
        factory(**task_options),
        num_games,
        loss=game_options.get("loss", "minimax"),
        device=device,
        dtype=dtype,
        fake_mode=game_options.get("fake_mode", "train"),
        precision=game_options.get("precision", "highest"),
        execution=game_options.get("execution", "auto"),
    )


def _max_steps(options: dict, turns_per_cycle: int) -> int | None:
    steps, cycles = options.pop("max_steps", None), options.pop("max_cycles", None)
    if steps is not None and cycles is not None:
        raise TypeError(f"give max_steps ({steps}) or max_cycles ({cycles}), not both")
    if cycles is not None:
        return check_int("max_cycles", cycles, minimum=1) * turns_per_cycle
    return steps


def make_aec(factory: Callable[..., Any], **kwargs: Any) -> GameAECEnv:
    """A turn-based (AEC) game env for a task."""
    task_options, game_options, env_options = _split(factory, "aec", kwargs)
    schedule = make_schedule(env_options.pop("schedule", "alternating"))
    max_steps = _max_steps(env_options, schedule.turns_per_iteration)
    game = build_game(factory, task_options, game_options)
    return GameAECEnv(game, schedule=schedule, max_steps=max_steps, **env_options)


def make_parallel(factory: Callable[..., Any], **kwargs: Any) -> GameParallelEnv:
    """A simultaneous (Parallel) game env for a task."""
    task_options, game_options, env_options = _split(factory, "parallel", kwargs)
    max_steps = _max_steps(env_options, 1)
    return GameParallelEnv(build_game(factory, task_options, game_options), max_steps=max_steps, **env_options)


def make_single(factory: Callable[..., Any], player: str = "generator", opponent: Any = "adam",
                action_scale: float | None = None, **kwargs: Any) -> SinglePlayerEnv:  # fmt: skip
    """A single-player Gymnasium env: ``player`` learns against an embedded ``opponent`` rule (``action_scale``:
    a bounded ``[-1, 1]`` action space, scaled)."""
    return SinglePlayerEnv(make_aec(factory, **kwargs), player=player, opponent=opponent, action_scale=action_scale)


def make_vector(env_id: str, num_games: int, **kwargs: Any) -> VectorGameEnv:
    """N games of a registered task in lockstep: ``make_vector("minimax/Normal1D-v0", 64, schedule=[...])``.

    Options as for the AEC env, except that ``loss`` and ``schedule`` may also be one per game
    and the episode limit is ``max_iterations`` (see :class:`minimax.envs.vector.VectorGameEnv`).
    """
    name = env_id.split("/", 1)[1] if env_id.startswith(f"{NAMESPACE}/") else env_id
    catalogue = {**TASKS, **GAMES}
    if name not in catalogue:
        raise ValueError(f"unknown env id {env_id!r}; expected one of: {sorted(f'{NAMESPACE}/{t}' for t in catalogue)}")
    num_games = check_int("num_games", num_games, minimum=1)
    task_options, game_options, env_options = _split(catalogue[name], "vector", kwargs)
    game = build_game(catalogue[name], task_options, game_options, num_games)
    return VectorGameEnv(game, env_options.pop("schedule", "alternating"), **env_options)


#: Gymnasium's episode length (a TimeLimit, as for its own envs): the learner's moves per episode.
#: ``gymnasium.make(id, max_episode_steps=N)`` changes it.
EPISODE_STEPS = 1000


def register_all() -> None:
    """Register every task id with PettingZoo (aec, parallel) and Gymnasium (single-player view)."""
    for name, factory in {**TASKS, **GAMES}.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id in pettingzoo.aec_registry:
            continue
        pettingzoo.register("aec", env_id, entry_point=partial(make_aec, factory))
        pettingzoo.register("parallel", env_id, entry_point=partial(make_parallel, factory))
        gymnasium.register(env_id, entry_point=partial(make_single, factory), disable_env_checker=True,
                           max_episode_steps=EPISODE_STEPS)
