"""One player learns, the other is an embedded agent: a Gymnasium view of the game."""

from __future__ import annotations

from typing import Any

import gymnasium
import torch

from minimax.envs.aec import GameAECEnv
from minimax.utils.checks import check_choice
from minimax.core.schedules import PLAYERS


class SinglePlayerEnv(gymnasium.Env):
    """The game seen by ``player``; ``opponent`` (an update rule) plays the other side.

    A step is one move of ``player``; the opponent's turns that the schedule puts
    between two of them happen inside ``step`` (and inside ``reset`` when the
    opponent moves first). Observation, action and reward are the learning
    player's, as in the AEC env.
    """

    metadata = {"render_modes": []}

    def __init__(self, env: GameAECEnv, player: str, opponent: Any) -> None:
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
        self.render_mode = None
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
        env.step(action)
        reward = env.rewards[self.player]
        self._opponent_turns()
        observation = env.observe(self.player)
        terminated, truncated = env.terminations[self.player], env.truncations[self.player]
        self._done = terminated or truncated
        return observation, reward, terminated, truncated, dict(env.infos[self.player])

    def close(self) -> None:
        self.game_env.close()
