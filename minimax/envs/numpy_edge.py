"""The numpy edge: any minimax env as float32 numpy arrays, Python floats and bools.

The torch-native envs are the fast path (device tensors, live parameter views,
no host sync). ``to_numpy(env)`` converts at the boundary, for PettingZoo's and
Gymnasium's checkers and for numpy users: observations become fresh float32
arrays (never views of the live buffers), rewards Python floats, diagnostics in
``info`` Python numbers, and numpy actions are converted to the env's tensors.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils import BaseWrapper

from minimax.envs.aec import GameAECEnv
from minimax.envs.parallel import GameParallelEnv
from minimax.envs.single import SinglePlayerEnv
from minimax.core.game import Game


def to_host(value: Any) -> Any:
    """Tensors to float32 arrays (0-d tensors to Python numbers); containers recursively."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return value.item() if value.dtype != torch.bool else bool(value)
        return value.detach().to("cpu", torch.float32).numpy().copy()
    if isinstance(value, dict):
        return {k: to_host(v) for k, v in value.items()}
    return value


def observation_to_numpy(observation: dict[str, torch.Tensor] | None) -> dict[str, np.ndarray] | None:
    """An observation as fresh float32 arrays (0-d arrays for the scalars)."""
    if observation is None:
        return None
    return {k: v.detach().to("cpu", torch.float32).numpy().copy() for k, v in observation.items()}


def action_to_tensor(game: Game, agent: str, action: Any) -> Any:
    """A numpy (or list) action as a tensor on the game's device; ``None`` passes through."""
    if action is None or isinstance(action, torch.Tensor):
        return action
    array = np.asarray(action)
    if array.dtype.kind != "f":
        raise TypeError(f"action for {agent} must be a floating-point array, got dtype {array.dtype}")
    size = game.size(agent)
    if array.shape != (size,):
        raise ValueError(f"action for {agent} must have shape ({size},), got {array.shape}")
    # A copy, never a view: a caller may reuse its buffer (and the simultaneous schedule keeps a move).
    return torch.tensor(np.ascontiguousarray(array, dtype=np.float64), dtype=game.dtype, device=game.device)


class NumpyAECEnv(BaseWrapper):
    """The numpy edge of a :class:`GameAECEnv`."""

    def __init__(self, env: GameAECEnv) -> None:
        super().__init__(env)

    @property
    def rewards(self) -> dict[str, float]:
        return {a: float(r) for a, r in self.env.rewards.items()}

    @property
    def _cumulative_rewards(self) -> dict[str, float]:
        return {a: float(r) for a, r in self.env._cumulative_rewards.items()}

    @property
    def infos(self) -> dict[str, dict[str, Any]]:
        return {a: to_host(info) for a, info in self.env.infos.items()}

    @property
    def terminations(self) -> dict[str, bool]:
        return dict(self.env.terminations)

    @property
    def truncations(self) -> dict[str, bool]:
        return dict(self.env.truncations)

    def observe(self, agent: str) -> dict[str, np.ndarray] | None:
        return observation_to_numpy(self.env.observe(agent))

    def step(self, action: Any) -> None:
        self.env.step(action_to_tensor(self.env.unwrapped.game, self.env.agent_selection, action))


class NumpyParallelEnv(ParallelEnv):
    """The numpy edge of a :class:`GameParallelEnv`."""

    def __init__(self, env: GameParallelEnv) -> None:
        self.env = env
        self.metadata = env.metadata
        self.possible_agents = env.possible_agents
        self.render_mode = env.render_mode

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def unwrapped(self) -> GameParallelEnv:
        return self.env

    def __getattr__(self, name: str) -> Any:
        """The torch env's other attributes (``game``, ``match``, ``state_dict``, ...), as PettingZoo's wrappers do."""
        if name.startswith("_") or name == "env":
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return getattr(self.env, name)

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.env.observation_space(agent)

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.env.action_space(agent)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return {a: observation_to_numpy(o) for a, o in observations.items()}, to_host(infos)

    def step(self, actions: dict[str, Any]):
        game = self.env.game
        if not isinstance(actions, dict):
            raise ValueError(f"actions must be a dict with one action for each of {self.env.agents}, got {type(actions).__name__}")
        converted = {a: action_to_tensor(game, a, x) for a, x in actions.items()}
        observations, rewards, terminations, truncations, infos = self.env.step(converted)
        return (
            {a: observation_to_numpy(o) for a, o in observations.items()},
            {a: float(r) for a, r in rewards.items()},
            terminations,
            truncations,
            to_host(infos),
        )

    def state(self) -> np.ndarray:
        return self.env.state()

    def close(self) -> None:
        self.env.close()

    def render(self) -> None:
        return self.env.render()


class NumpySingleEnv(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """The numpy edge of a :class:`SinglePlayerEnv`."""

    def __init__(self, env: gymnasium.Env) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(self)
        gymnasium.Wrapper.__init__(self, env)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        return observation_to_numpy(observation), to_host(info)

    def step(self, action: Any):
        base = self.env.unwrapped
        tensor = action_to_tensor(base.game_env.game, base.player, action)
        observation, reward, terminated, truncated, info = self.env.step(tensor)
        return observation_to_numpy(observation), float(reward), terminated, truncated, to_host(info)


def to_numpy(env: Any) -> Any:
    """Wrap a minimax env (AEC, Parallel or single-player, possibly gymnasium-wrapped) in its numpy edge (an env
    that already shows numpy, as ``pettingzoo.make`` and ``gymnasium.make`` return by default, comes back as is)."""
    if _shows_numpy(env):
        return env
    base = env.unwrapped if isinstance(env, (gymnasium.Env, AECEnv)) else env
    if isinstance(env, GameAECEnv) or (isinstance(env, AECEnv) and isinstance(base, GameAECEnv)):
        return NumpyAECEnv(env)
    if isinstance(env, GameParallelEnv):
        return NumpyParallelEnv(env)
    if isinstance(env, gymnasium.Env) and isinstance(base, SinglePlayerEnv):
        return NumpySingleEnv(env)
    raise TypeError(f"to_numpy takes a minimax AEC, Parallel or single-player env, got {type(env).__name__}")


def _shows_numpy(env: Any) -> bool:
    """Whether ``env`` or a wrapper inside it is already a numpy edge."""
    seen = env
    for _ in range(32):
        if isinstance(seen, (NumpyAECEnv, NumpyParallelEnv, NumpySingleEnv)):
            return True
        inner = seen.__dict__.get("env") if hasattr(seen, "__dict__") else None
        if inner is None or inner is seen:
            return False
        seen = inner
    return False
