"""What the AEC and Parallel game environments share: spaces, seeding, action checks, divergence.

Observations (torch-native): a dict with

* ``"loss"``: the observing player's loss on the turn's minibatch, a 0-d tensor;
* ``"gradient"``: the gradient of that loss w.r.t. the player's own parameters, shape ``(P,)``;
* ``"parameters"``: the player's flat parameter buffer, shape ``(P,)``: a *live view*
  that later moves change in place (``minimax.to_numpy`` copies);
* ``"step"``: the number of moves made since reset, a 0-d float32 tensor.

Actions: the change to add to the acting player's parameters, a float tensor of
shape ``(P,)`` with the game's dtype, on the game's device.

Rewards: minus the acting player's loss at the state and minibatch it acted on
(0 for the other player on that turn). Under the minimax loss the
discriminator's reward is the empirical value V and the generator's is -V.

Divergence: a non-finite loss, action or resulting parameter ends the game: both
players are terminated and ``info["termination_reason"]`` says what, whose and at
which step. The check is done on the device; the host reads it every
``nonfinite_check_every`` moves (1 by default; larger values avoid a host sync per
move, and the reason still names the first bad step).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding

from minimax.utils.checks import check_int
from minimax.core.game import Evaluation, Game
from minimax.core.schedules import PLAYERS

_REASONS = ("non-finite loss", "non-finite action", "non-finite parameters")


def observation_space(size: int) -> spaces.Dict:
    """The observation space of a player with ``size`` parameters."""
    unbounded = {"low": -np.inf, "high": np.inf, "dtype": np.float32}
    return spaces.Dict(
        {
            "loss": spaces.Box(shape=(), **unbounded),
            "gradient": spaces.Box(shape=(size,), **unbounded),
            "parameters": spaces.Box(shape=(size,), **unbounded),
            "step": spaces.Box(low=0.0, high=np.inf, shape=(), dtype=np.float32),
        }
    )


class GameEnvCore:
    """Shared machinery of the game environments (mixed into the PettingZoo classes)."""

    possible_agents: list[str] = list(PLAYERS)

    def _setup(self, game: Game, max_steps: int | None, nonfinite_check_every: int) -> None:
        self.game = game
        self.max_steps = None if max_steps is None else check_int("max_steps", max_steps, minimum=1)
        self.nonfinite_check_every = check_int("nonfinite_check_every", nonfinite_check_every, minimum=1)
        self.observation_spaces = {a: observation_space(game.players[a].size) for a in PLAYERS}
        self.action_spaces = {
            a: spaces.Box(-np.inf, np.inf, shape=(game.players[a].size,), dtype=np.float32) for a in PLAYERS
        }
        total = sum(game.players[a].size for a in PLAYERS)
        self.state_space = spaces.Box(-np.inf, np.inf, shape=(total,), dtype=np.float32)
        self.np_random, self.np_random_seed = seeding.np_random(None)
        self._zero = torch.zeros((), device=game.device, dtype=game.dtype)
        self._game_over_reason: str | None = None

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    def _reseed(self, seed: int | None) -> None:
        """Reset the game from ``seed``, or from the env's own stream when ``seed`` is None."""
        if seed is not None or self.np_random is None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        self.game.reset(int(self.np_random.integers(0, 2**63 - 1)))
        device = self.game.device
        self._moves = 0
        self._step_count = torch.zeros((), dtype=torch.int64, device=device)
        self._bad_code = torch.zeros((), dtype=torch.int64, device=device)
        self._bad_step = torch.zeros((), dtype=torch.int64, device=device)
        self._game_over_reason = None

    def _check_action(self, agent: str, action: Any) -> torch.Tensor:
        """The action as a tensor of the expected shape, dtype and device, or a clear error."""
        size = self.game.players[agent].size
        if not isinstance(action, torch.Tensor):
            raise TypeError(
                f"action for {agent} must be a torch.Tensor of shape ({size},) and dtype {self.game.dtype} "
                f"(use minimax.to_numpy(env) to act with numpy arrays), got {type(action).__name__}"
            )
        if action.shape != (size,):
            raise ValueError(f"action for {agent} must have shape ({size},), got {tuple(action.shape)}")
        if action.dtype != self.game.dtype:
            raise TypeError(f"action for {agent} must have dtype {self.game.dtype}, got {action.dtype}")
        if action.device != self.game.device:
            raise ValueError(f"action for {agent} must be on {self.game.device}, got {action.device}")
        return action

    def _flag(self, code: int, ok: torch.Tensor) -> None:
        """Remember the first non-finite event (device-side, no host sync)."""
        newly = (self._bad_code == 0) & ~ok
        self._bad_code = torch.where(newly, code, self._bad_code)
        self._bad_step = torch.where(newly, self._step_count, self._bad_step)

    def _watch_move(self, agent: str, loss: torch.Tensor, action: torch.Tensor) -> None:
        """Flag a non-finite loss or action of ``agent`` (codes encode reason and player)."""
        index = PLAYERS.index(agent)
        self._flag(1 + 2 * 0 + index, torch.isfinite(loss))
        self._flag(1 + 2 * 1 + index, torch.isfinite(action).all())

    def _watch_parameters(self, agent: str) -> None:
        self._flag(1 + 2 * 2 + PLAYERS.index(agent), torch.isfinite(self.game.parameters(agent)).all())

    def _diverged(self, force: bool = False) -> str | None:
        """Read the device flag (every ``nonfinite_check_every`` moves) and describe the divergence."""
        if not force and self._moves % self.nonfinite_check_every:
            return None
        code = int(self._bad_code)
        if code == 0:
            return None
        reason, player = _REASONS[(code - 1) // 2], PLAYERS[(code - 1) % 2]
        return f"{reason} ({player}) at step {int(self._bad_step)}"

    def _count_move(self) -> None:
        """One more move: the host counter and its device twin (no host-to-device copy per step)."""
        self._moves += 1
        self._step_count.add_(1)

    def _truncated(self) -> bool:
        return self.max_steps is not None and self._moves >= self.max_steps

    def _info(self, agent: str, evaluation: Evaluation) -> dict[str, Any]:
        """Diagnostics of ``agent``'s last evaluated minibatch (device tensors, no host sync).

        A half-batch turn has no ``value`` and only one of ``d_real``/``d_fake``.
        """
        diagnostics = {"d_real": evaluation.d_real, "d_fake": evaluation.d_fake, "value": evaluation.value}
        return {
            "step": self._moves,
            "loss": evaluation.losses[agent],
            **{k: v for k, v in diagnostics.items() if v is not None},
            "grad_norm": torch.linalg.vector_norm(evaluation.gradients[agent]),
            "zero_sum": self.game.loss.zero_sum,
        }

    def _observation(self, agent: str, evaluation: Evaluation) -> dict[str, torch.Tensor]:
        return {
            "loss": evaluation.losses[agent],
            "gradient": evaluation.gradients[agent],
            "parameters": self.game.parameters(agent),
            "step": self._step_count.to(torch.float32),
        }

    def _require_reset(self) -> None:
        if not hasattr(self, "_moves"):
            raise RuntimeError("the game has not started; call reset() first")

    def _require_live(self) -> None:
        self._require_reset()
        if not self.agents:
            why = f" ({self._game_over_reason})" if self._game_over_reason else ""
            raise RuntimeError(f"the game is over{why}; call reset() before step()")

    def state(self) -> np.ndarray:
        """The global state: both players' parameters, concatenated (float32 copy)."""
        return torch.cat([self.game.parameters(a) for a in PLAYERS]).detach().cpu().float().numpy().copy()
