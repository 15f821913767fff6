"""N games in lockstep: the vector view of a :class:`minimax.core.match.Match` of N games.

Conventions: Gymnasium's vector envs (``num_envs``, ``reset(seed=[...])`` returning
``(observations, infos)``, ``step`` returning five batched results, ``single_*`` and batched
spaces) with PettingZoo Parallel's per-agent dicts, since there are two players.

Time runs in *ticks* (see :mod:`minimax.core.match`): in each tick every game makes the turn its
own schedule says, so games with ``alternating:k=5``, ``alternating:k=1`` and ``simultaneous``
share one env. Observations carry a ``"moving"`` mask ``(N,)``: a player's action is applied only
where it moves, and an update rule should keep its state only there (``minimax.train`` does both).

Observations per player (device tensors, nothing copied to the host): ``"loss"`` (N,),
``"gradient"`` (N, P) (zeros where the player does not move), ``"parameters"`` (N, P), the live
buffer, ``"step"`` (N,) moves so far, ``"moving"`` (N,) bool. Rewards are minus the mover's loss
(0 elsewhere). The gradient may be a buffer the env reuses: it is valid until the next ``step``
(copy it to keep it), and an agent may overwrite it (``rule.update_`` does).

Divergence is per game, in the same words as a lone env's: a move with a non-finite loss,
action or parameters terminates that game (``terminations[player][i]``), the move is applied,
and from then on the game is frozen. ``infos`` say at which iteration and whose move
(``diverged_at``, ``diverged_player``: -1 while alive; player 0 is the discriminator); the
other games go on, untouched. The host reads the flags every ``nonfinite_check_every`` steps
(``infos["termination_reason"]`` then names them); ``terminations`` come from the device flags
at every step, without a host sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

from minimax.core.match import Match, Tick, plan_ticks
from minimax.core.players import PLAYERS
from minimax.core.schedules import Schedule
from minimax.envs.base import RENDER_FPS, _numpy_generator, action_space, check_action, check_render_mode, observation_space
from minimax.utils.checks import check_int


class VectorGameEnv:
    """N independent games of one task in lockstep, each with its own seed, schedule and loss family."""

    metadata = {"name": "minimax_vector_v0", "render_modes": ["rgb_array"], "render_fps": RENDER_FPS, "autoreset_mode": None}
    possible_agents: list[str] = list(PLAYERS)
    kind = "vector"
    CONFIG = ("game", "num_envs", "schedules", "ticks", "ticks_per_iteration", "max_iterations", "nonfinite_check_every",
              "single_observation_spaces", "single_action_spaces", "observation_spaces", "action_spaces",
              "render_mode", "render_games", "_renderers")  # fmt: skip
    STATE = {"match": "match", "agents": "view", "steps": "view", "seeds": "view", "np_random": "view",
             "np_random_seed": "view"}  # fmt: skip

    def __init__(
        self,
        game: Any,
        schedule: str | Schedule | Sequence[str | Schedule] = "alternating",
        max_iterations: int | None = None,
        nonfinite_check_every: int = 1,
        joint: bool = False,
        render_mode: str | None = None,
        render_games: Sequence[int] | None = None,
    ) -> None:
        """``joint``: on a tick where both players move in every game (simultaneous schedules), evaluate them in
        one forward/backward, as the Parallel env does (BatchNorm statistics then advance once per joint move).
        ``render_mode="rgb_array"``: ``render()`` returns one frame per game of ``render_games`` (all by default,
        as Gymnasium's vector envs do; a frame costs about 0.1 s, so name a few games when N is large)."""
        if not hasattr(game, "num_games"):
            raise TypeError(f"game must be a minimax.Game (of N games) or a payoff game, got {game!r}")
        self.match = Match(game, schedule, joint=joint)
        self.game = game
        self.num_envs = game.num_games
        self.schedules = self.match.schedules
        self.ticks = self.match.ticks
        self.ticks_per_iteration = self.match.ticks_per_iteration
        self.max_iterations = None if max_iterations is None else check_int("max_iterations", max_iterations, minimum=1)
        self.nonfinite_check_every = check_int("nonfinite_check_every", nonfinite_check_every, minimum=1)
        self.single_observation_spaces = {p: observation_space(game.size(p)) for p in PLAYERS}
        self.single_action_spaces = {p: action_space(game.size(p)) for p in PLAYERS}
        self.observation_spaces = {p: batch_space(s, self.num_envs) for p, s in self.single_observation_spaces.items()}
        self.action_spaces = {p: batch_space(s, self.num_envs) for p, s in self.single_action_spaces.items()}
        self.agents: list[str] = []
        self.seeds: list[int] = []
        self.steps = 0
        self.np_random, self.np_random_seed = seeding.np_random(None)
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        games = range(self.num_envs) if render_games is None else render_games
        self.render_games = [check_int("render_games", i, minimum=0) for i in games]
        if any(i >= self.num_envs for i in self.render_games):
            raise ValueError(f"render_games must name games in [0, {self.num_envs - 1}], got {list(render_games)}")
        self._renderers = []
        if render_mode is not None:
            from minimax.render import Renderer  # matplotlib only when an env draws

            self._renderers = [Renderer(game, i) for i in self.render_games]

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    @property
    def iteration(self) -> int:
        return self.match.iteration

    @property
    def truncated(self) -> bool:
        return self.max_iterations is not None and self.match.iteration >= self.max_iterations

    @property
    def over(self) -> bool:
        """Whether every game has ended (the host has read every game's divergence), or the limit is reached."""
        return bool(self.match.over.all()) or self.truncated

    # ------------------------------------------------------------------------------ API

    def reset(
        self, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, Any]]]:
        """Restart every game. ``seed``: one per game (game i then equals a lone env reset with
        ``seed[i]``), or one int from which N seeds are drawn, or None (fresh entropy)."""
        n = self.num_envs
        if seed is None or isinstance(seed, (int, np.integer)):
            self.np_random, self.np_random_seed = seeding.np_random(None if seed is None else int(seed))
            env_seeds = [int(s) for s in self.np_random.integers(0, 2**31 - 1, size=n)]
        else:
            env_seeds = [int(s) for s in seed]
            if len(env_seeds) != n:
                raise ValueError(f"reset needs one seed per game ({n}) or a single int, got {len(env_seeds)} seeds")
        # As a lone env: the env's seed draws the game's seed.
        game_seeds = [int(seeding.np_random(s)[0].integers(0, 2**63 - 1)) for s in env_seeds]
        self.seeds = env_seeds
        self.match.reset(game_seeds)
        self.agents = list(PLAYERS)
        self.steps = 0
        for renderer in self._renderers:
            renderer.clear()
            renderer.record()
        return self.observations(), self.infos()

    def step(self, actions: dict[str, torch.Tensor]) -> tuple[Any, Any, Any, Any, Any]:
        """Apply each moving player's actions ``(N, P)`` where it moves, then advance one tick."""
        if not self.agents:
            raise RuntimeError("call reset() before step(), and again once every game is over")
        tick = self.match.current
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{player: (N, P) tensor}}, got {type(actions).__name__}")
        for p in tick.movers:
            if p not in actions:
                raise ValueError(f"{p} moves in this tick (games {np.flatnonzero(tick.moving[p]).tolist()}) but has no action")
        checked = {p: check_action(self.game, p, actions[p], (self.num_envs, self.game.size(p))) for p in tick.movers}
        self.play(checked)
        zeros = torch.zeros(self.num_envs, device=self.game.device, dtype=self.game.dtype)
        rewards = {p: self.match.last_rewards[p] if p in tick.movers else zeros for p in PLAYERS}
        if self.truncated:
            self.agents = []
        observations = self.observations()
        dead = ~self.match.alive
        terminations = {p: dead for p in PLAYERS}
        truncations = {p: torch.full((self.num_envs,), self.truncated, device=self.game.device) for p in PLAYERS}
        return observations, rewards, terminations, truncations, self.infos()

    def play(self, actions: dict[str, torch.Tensor]) -> None:
        """The tick's moves, already checked: what ``step`` does after its checks, and what :func:`minimax.train` calls."""
        for p in self.match.current.movers:
            self.match.submit(p, actions[p])
        self._after_step()

    def _after_step(self) -> None:
        """One more step: read the divergence watch every ``nonfinite_check_every`` steps, and at the step limit."""
        self.steps += 1
        if self.steps % self.nonfinite_check_every == 0 or self.truncated:
            self.match.read_divergence()
        for renderer in self._renderers:
            renderer.record()

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One RGB frame per game of ``render_games`` (see :mod:`minimax.render`), or None without a render mode."""
        if self.render_mode is None:
            gymnasium.logger.warn("VectorGameEnv.render() was called without a render mode; give "
                                  "render_mode='rgb_array' when making the env")  # fmt: skip
            return None
        if not self.match.started:
            raise RuntimeError("the game has not started; call reset() first")
        return tuple(r.frame(f"game {r.index} · iteration {self.match.iteration}") for r in self._renderers)

    def close(self) -> None:
        """Nothing to release."""

    def field(self) -> Any:
        """The joint field of every game (a tick in which both players move in every game: simultaneous schedules)."""
        return self.match.field()

    # ------------------------------------------------------------------------------ views of the match

    def observation(self, player: str) -> dict[str, torch.Tensor]:
        """``player``'s observation in every game: where it does not move this tick, zero loss and gradient."""
        match = self.match
        if player not in match.current.movers:
            zeros = torch.zeros(self.num_envs, self.game.size(player), device=self.game.device, dtype=self.game.dtype)
            loss = zeros[:, 0]
        else:
            e = match.evaluation(player)
            loss, zeros = e.losses[player], e.gradients[player]
        return {"loss": loss, "gradient": zeros, "parameters": self.game.parameters(player),
                "step": match.move_count.to(torch.float32), "moving": match.moving(player)}  # fmt: skip

    def observations(self) -> dict[str, dict[str, torch.Tensor]]:
        if not self.agents:
            return {p: {"parameters": self.game.parameters(p)} for p in PLAYERS}
        return {p: self.observation(p) for p in PLAYERS}

    def infos(self) -> dict[str, dict[str, Any]]:
        match = self.match
        code = match.bad_code
        common = {"iteration": match.iteration, "tick": match.tick, "diverged_at": match.bad_iteration,
                  "diverged_player": torch.where(code > 0, (code - 1) % 2, -1),
                  "termination_reason": list(match.reasons)}  # fmt: skip
        infos: dict[str, dict[str, Any]] = {p: dict(common) for p in PLAYERS}
        if self.agents:
            for p in match.current.movers:
                e = match.evaluation(p)
                for name in ("d_real", "d_fake", "value"):
                    if getattr(e, name) is not None:
                        infos[p][name] = getattr(e, name)
        return infos

    # ------------------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        bits = self.np_random.bit_generator
        view = {"agents": list(self.agents), "steps": self.steps, "seeds": list(self.seeds),
                "np_random": {"bit_generator": type(bits).__name__, "state": bits.state},
                "np_random_seed": self.np_random_seed}  # fmt: skip
        return {"kind": self.kind, "view": view, "match": self.match.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"kind", "view", "match"}:
            raise ValueError("env state: expected the keys ['kind', 'match', 'view']")
        if state["kind"] != self.kind:
            raise ValueError(f"env state: saved from a {state['kind']!r} env, this is a {self.kind!r} env")
        view = state["view"]
        generator = _numpy_generator(view.get("np_random"))
        agents, seeds = view.get("agents"), view.get("seeds")
        if not isinstance(agents, list) or any(a not in PLAYERS for a in agents):
            raise ValueError(f"env state: agents must be a list of players, got {agents!r}")
        if not isinstance(seeds, list) or len(seeds) not in (0, self.num_envs):
            raise ValueError(f"env state: seeds must be one per game ({self.num_envs}), got {seeds!r}"[:200])
        steps = check_int("env state: steps", view.get("steps"), minimum=0)
        self.match.load_state_dict(state["match"])
        self.np_random, self.np_random_seed = generator, view.get("np_random_seed")
        self.agents, self.seeds, self.steps = list(agents), [int(s) for s in seeds], steps


__all__ = ["Tick", "VectorGameEnv", "plan_ticks"]
