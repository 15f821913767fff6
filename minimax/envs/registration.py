"""Environment ids and their registration with PettingZoo's and Gymnasium's registries.

``import minimax`` registers every id with both registries::

    pettingzoo.make("aec", "minimax/Normal1D-v0", schedule="alternating:k=5")
    pettingzoo.make("parallel", "minimax/Normal1D-v0", loss="non-saturating")
    gymnasium.make("minimax/Normal1D-v0", player="generator", opponent="adam")
    minimax.make_vector("minimax/Normal1D-v0", 64, schedule=["alternating:k=1", "simultaneous", ...])

What ``pettingzoo.make`` and ``gymnasium.make`` return is the *numpy view* (``view="numpy"``, the
default): float32 arrays, Python-float rewards and numpy actions, as PettingZoo's ``api_test``,
Gymnasium's ``check_env`` and libraries such as stable-baselines3 expect. ``view="torch"`` gives
the torch-native env underneath: device tensors, live parameter views, no host sync per step
(what :func:`minimax.train`, the update rules and the benchmarks use; ``train`` takes either
view, and unwraps the numpy one). The numpy view is a thin wrapper: ``env.unwrapped`` is the
torch env. ``minimax.make_vector`` is always torch-native (N games in lockstep are the fast path).

Keyword arguments are split between the task (its constructor's parameters, e.g. ``mean``,
``std``, ``batch_size``), the game (``loss``, ``device``, ``dtype``, ``fake_mode``,
``precision``, ``execution``) and the env (``schedule``, ``max_steps``, ``max_cycles``,
``nonfinite_check_every``; ``max_iterations`` for N games). One function builds the game for
every kind of env, lone or N games.

Your own data and networks get an id of your choosing with :func:`register_task`
(``minimax.register_task("myorg/Swiss-v0", data=X, generator=G, discriminator=D)``): the same
three registries, and :func:`make_vector`, then know it.
"""

from __future__ import annotations

import copy
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
from minimax.envs.numpy_edge import to_numpy
from minimax.envs.parallel import GameParallelEnv
from minimax.envs.single import SinglePlayerEnv
from minimax.envs.vector import VectorGameEnv
from minimax.tasks import MNIST, DiracGAN, FashionMNIST, Grid25, LinearWGAN, Normal1D, Ring8, StackedMNIST, Task
from minimax.tasks.custom import DataTask
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
VIEWS = ("numpy", "torch")
_ENV_OPTIONS = {
    "aec": {"schedule", "max_steps", "max_cycles", "nonfinite_check_every", "render_mode"},
    "parallel": {"max_steps", "max_cycles", "nonfinite_check_every", "render_mode"},
    "vector": {"schedule", "max_iterations", "nonfinite_check_every", "joint", "render_mode", "render_games"},
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


def check_view(view: Any) -> str:
    """``view`` if it is one of :data:`VIEWS`, else a clear error."""
    if view not in VIEWS:
        raise ValueError(f"view must be 'numpy' (arrays and floats, what the checkers and RL libraries expect) or "
                         f"'torch' (device tensors, no host sync), got {view!r}")  # fmt: skip
    return view


def _viewed(env: Any, view: str) -> Any:
    return env if check_view(view) == "torch" else to_numpy(env)


def make_aec(factory: Callable[..., Any], view: str = "numpy", **kwargs: Any) -> Any:
    """A turn-based (AEC) game env for a task: its numpy view, or with ``view="torch"`` the :class:`GameAECEnv`."""
    check_view(view)
    task_options, game_options, env_options = _split(factory, "aec", kwargs)
    schedule = make_schedule(env_options.pop("schedule", "alternating"))
    max_steps = _max_steps(env_options, schedule.turns_per_iteration)
    game = build_game(factory, task_options, game_options)
    return _viewed(GameAECEnv(game, schedule=schedule, max_steps=max_steps, **env_options), view)


def make_parallel(factory: Callable[..., Any], view: str = "numpy", **kwargs: Any) -> Any:
    """A simultaneous (Parallel) game env for a task: its numpy view, or with ``view="torch"`` the
    :class:`GameParallelEnv`."""
    check_view(view)
    task_options, game_options, env_options = _split(factory, "parallel", kwargs)
    max_steps = _max_steps(env_options, 1)
    env = GameParallelEnv(build_game(factory, task_options, game_options), max_steps=max_steps, **env_options)
    return _viewed(env, view)


def make_single(factory: Callable[..., Any], player: str = "generator", opponent: Any = "adam",
                action_scale: float | None = None, view: str = "numpy", **kwargs: Any) -> Any:  # fmt: skip
    """A single-player Gymnasium env: ``player`` learns against an embedded ``opponent`` rule (``action_scale``:
    a bounded ``[-1, 1]`` action space, scaled); its numpy view, or with ``view="torch"`` the
    :class:`SinglePlayerEnv`."""
    check_view(view)
    env = SinglePlayerEnv(make_aec(factory, view="torch", **kwargs), player=player, opponent=opponent,
                          action_scale=action_scale)  # fmt: skip
    return _viewed(env, view)


def make_vector(env_id: str, num_games: int, **kwargs: Any) -> VectorGameEnv:
    """N games of a registered task in lockstep: ``make_vector("minimax/Normal1D-v0", 64, schedule=[...])``.

    Options as for the AEC env, except that ``loss`` and ``schedule`` may also be one per game
    and the episode limit is ``max_iterations`` (see :class:`minimax.envs.vector.VectorGameEnv`).
    """
    name = env_id.split("/", 1)[1] if env_id.startswith(f"{NAMESPACE}/") else env_id
    catalogue = {**TASKS, **GAMES}
    if env_id in CUSTOM_TASKS:  # an id of register_task
        name, catalogue = env_id, {env_id: CUSTOM_TASKS[env_id]}
    if name not in catalogue:
        known = sorted(f"{NAMESPACE}/{t}" for t in catalogue) + sorted(CUSTOM_TASKS)
        raise ValueError(f"unknown env id {env_id!r}; expected one of: {known}")
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


#: The ids of :func:`register_task` (the full id -> its task factory); :func:`make_vector` knows them too.
CUSTOM_TASKS: dict[str, "RegisteredTask"] = {}


class RegisteredTask:
    """The task factory behind an id of :func:`register_task`: ``factory(**{**defaults, **overrides})``.

    Its signature is the factory's with the registered defaults (keyword-only), so the envs' option
    split knows the task's options and a make call may override any of them. A :class:`DataTask`
    registered without overrides is built once (its data read and its networks probed at
    registration) and each env gets a shallow copy that shares the data.
    """

    def __init__(self, env_id: str, factory: Callable[..., Task], defaults: dict[str, Any], prototype: Task) -> None:
        self.__name__ = env_id
        self.factory, self.defaults, self.prototype = factory, defaults, prototype

    @property
    def __signature__(self) -> inspect.Signature:
        """The factory's parameters, keyword-only, with the registered values as their defaults."""
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, default=self.defaults.get(name, p.default))
                  for name, p in inspect.signature(self.factory).parameters.items()
                  if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]  # fmt: skip
        return inspect.Signature(params)

    def __call__(self, **overrides: Any) -> Task:
        if not overrides and self.factory is DataTask:
            return copy.copy(self.prototype)
        return self.factory(**{**self.defaults, **overrides})

    def __repr__(self) -> str:
        return f"RegisteredTask({self.__name__!r}, {getattr(self.factory, '__name__', self.factory)})"


def register_task(env_id: str, factory: Callable[..., Task] | None = None, *, overwrite: bool = False,
                  **defaults: Any) -> RegisteredTask:  # fmt: skip
    """Register a task under ``env_id`` with PettingZoo (aec, parallel), Gymnasium and :func:`make_vector`.

    Without ``factory`` the task is a :class:`~minimax.tasks.custom.DataTask` of ``defaults``
    (``data=``, ``generator=``, ``discriminator=``, ...; ``name`` defaults to ``env_id``)::

        minimax.register_task("myorg/Swiss-v0", data=X, generator=G, discriminator=D, batch_size=128)
        pettingzoo.make("aec", "myorg/Swiss-v0", schedule="alternating:k=5", loss="non-saturating")

    With ``factory`` (a Task class or a function returning a Task) ``defaults`` are its arguments.
    The task is built once here, so bad arguments fail now, with the task's own error. An id that
    is already registered is refused unless ``overwrite=True``; the built-in ``minimax/...`` ids
    always are. Returns the registered factory (what the make calls build the task with).
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string such as 'myorg/Name-v0', got {env_id!r}")
    try:
        gymnasium.envs.registration.parse_env_id(env_id)
    except gymnasium.error.Error:
        raise ValueError(f"env_id must have the form [namespace/]Name-vN, e.g. 'myorg/Swiss-v0', "
                         f"got {env_id!r}") from None
    if env_id in {f"{NAMESPACE}/{name}" for name in {**TASKS, **GAMES}}:
        raise ValueError(f"{env_id!r} is a built-in minimax id and cannot be replaced; register under another id")
    taken = [name for name, registry in (("PettingZoo aec", pettingzoo.aec_registry),
             ("PettingZoo parallel", pettingzoo.parallel_registry), ("Gymnasium", gymnasium.registry),
             ("minimax", CUSTOM_TASKS)) if env_id in registry]  # fmt: skip
    if taken and not overwrite:
        raise ValueError(f"{env_id!r} is already registered ({', '.join(taken)}); pass overwrite=True to replace it, "
                         f"or choose another id")  # fmt: skip
    if factory is None:
        factory = DataTask
        defaults.setdefault("name", env_id)
    elif not callable(factory) or factory in GAMES.values():
        raise TypeError(f"factory must be a Task class or a function returning a Task, got {factory!r}")
    prototype = factory(**defaults)
    if not isinstance(prototype, Task):
        raise TypeError(f"factory {getattr(factory, '__name__', factory)!r} must return a minimax Task, "
                        f"got {type(prototype).__name__}")  # fmt: skip
    if isinstance(prototype, DataTask) and factory is DataTask:
        defaults["data"] = prototype.data  # read once: a make with overrides does not read a Dataset again
    registered = RegisteredTask(env_id, factory, defaults, prototype)
    for registry in (pettingzoo.aec_registry, pettingzoo.parallel_registry, gymnasium.registry):
        registry.pop(env_id, None)  # overwrite=True (checked above): no "overriding" warnings
    pettingzoo.register("aec", env_id, entry_point=partial(make_aec, registered))
    pettingzoo.register("parallel", env_id, entry_point=partial(make_parallel, registered))
    gymnasium.register(env_id, entry_point=partial(make_single, registered), disable_env_checker=True,
                       max_episode_steps=EPISODE_STEPS)
    CUSTOM_TASKS[env_id] = registered
    return registered
