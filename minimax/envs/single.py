"""One player learns, the other is an embedded agent: a Gymnasium view of the game."""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium
import numpy as np
import torch

from minimax.envs.aec import GameAECEnv
from minimax.envs.base import RENDER_FPS, RENDER_MODES
from minimax.utils.checks import check_choice
from minimax.core.schedules import PLAYERS


class SinglePlayerEnv(gymnasium.Env):
    """The game seen by ``player``; ``opponent`` (an update rule) plays the other side.

    A step is one move of ``player``; the opponent's turns that the schedule puts
    between two of them happen inside ``step`` (and inside ``reset`` when the
    opponent moves first). Observation, action and reward are the learning
    player's, as in the AEC env. ``action_scale`` (a number > 0) bounds the action space to
    ``[-1, 1]^P`` for RL libraries that need a bounded Box (stable-baselines3): the change
    applied is ``action_scale * clip(action, -1, 1)``.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": RENDER_FPS}
    CONFIG = ("player", "other", "observation_space", "action_space", "render_mode", "spec", "action_scale")
    STATE = {"game_env": "game_env", "opponent": "opponent", "_done": "done", "_np_random": "np_random",
             "_np_random_seed": "np_random"}  # fmt: skip

    def __init__(self, env: GameAECEnv, player: str, opponent: Any, action_scale: float | None = None) -> None:
        self.player = check_choice("player", player, PLAYERS)
        self.other = next(a for a in PLAYERS if a != player)
        if isinstance(opponent, str):
            import agents

            opponent = agents.make(opponent)
        if not callable(getattr(opponent, "act", None)):
            raise TypeError(f"opponent must be an update rule with act(observation), got {opponent!r}")
        self.opponent = opponent
        self.game_env = env
        self.observation_space = env.observation_space(player)
        self.action_space = env.action_space(player)
        self.action_scale = None
        if action_scale is not None:
            if isinstance(action_scale, bool) or not isinstance(action_scale, numbers.Real):
                raise TypeError(f"action_scale must be a real number (the largest change per parameter), got {action_scale!r}")
            if not 0 < float(action_scale) < float("inf"):
                raise ValueError(f"action_scale must be a finite number > 0 (the largest change per parameter), "
                                 f"got {action_scale!r}")  # fmt: skip
            self.action_scale = float(action_scale)
            self.action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=self.action_space.shape, dtype=np.float32)
        self.render_mode = env.render_mode  # the game env draws (every move, the opponent's too)
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        super().reset(seed=seed)
        self.game_env.reset(seed=int(self.np_random.integers(0, 2**63 - 1)), options=options)
        self.opponent.reset()
        self._done = False
        self._opponent_turns()
        observation, _, _, _, info = self.game_env.last()
        return observation, info

    def _opponent_turns(self) -> None:
        env = self.game_env
        while env.agents and env.agent_selection == self.other and not self._game_over():
            env.step(self.opponent.act(env.observe(self.other)))

    def _game_over(self) -> bool:
        env = self.game_env
        return env.terminations[self.player] or env.truncations[self.player]

    def step(
        self, action: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode is over (or never started); call reset() before step()")
        env = self.game_env
        if self.action_scale is not None and isinstance(action, torch.Tensor):
            action = action.clamp(-1.0, 1.0) * self.action_scale
        env.step(action)
        reward = env.rewards[self.player]
        self._opponent_turns()
        observation = env.observe(self.player)
        terminated, truncated = env.terminations[self.player], env.truncations[self.player]
        self._done = terminated or truncated
        return observation, reward, terminated, truncated, dict(env.infos[self.player])

    def state_dict(self) -> dict[str, Any]:
        """The game env's state, the opponent's rule state and this view's own (its stream, whether it is done)."""
        bits = self.np_random.bit_generator
        opponent = getattr(self.opponent, "state", None)
        return {"kind": "single", "game_env": self.game_env.state_dict(), "opponent": opponent, "done": self._done,
                "np_random": {"bit_generator": type(bits).__name__, "state": bits.state,
                              "seed": getattr(self, "_np_random_seed", None)}}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (the opponent's state must fit its rule)."""
        from minimax.envs.base import _numpy_generator

        if not isinstance(state, dict) or set(state) != {"kind", "game_env", "opponent", "done", "np_random"}:
            raise ValueError("single-player env state: expected the keys game_env, opponent, done, np_random, kind")
        if not isinstance(state["done"], bool):
            raise ValueError(f"single-player env state: done must be True or False, got {state['done']!r}")
        generator = _numpy_generator(state["np_random"])
        self.game_env.load_state_dict(state["game_env"])
        if callable(getattr(self.opponent, "set_state", None)):
            params = self.game_env.game.parameters(self.other)[0]
            self.opponent.set_state(state["opponent"], params if state["opponent"] is not None else None)
        self.np_random = generator
        self._np_random_seed = state["np_random"].get("seed")
        self._done = state["done"]

    def render(self) -> np.ndarray | None:
        """The game env's picture (see :meth:`minimax.envs.base.GameView.render`)."""
        return self.game_env.render()

    def close(self) -> None:
        self.game_env.close()
