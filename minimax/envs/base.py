"""What every view of a game shares: spaces, seeding, action checks, the words of a divergence.

Observations (torch-native): a dict with

* ``"loss"``: the observing player's loss on the turn's minibatch;
* ``"gradient"``: the gradient of that loss w.r.t. the player's own parameters;
* ``"parameters"``: the player's flat parameter buffer: a *live view* that later moves
  change in place (``minimax.to_numpy`` copies);
* ``"step"``: the number of moves made since reset (a float32 tensor).

A lone game's views (AEC, Parallel, single-player) show ``(P,)`` vectors and 0-d scalars; the
vector env shows the same with a leading game dimension ``(N, P)``, ``(N,)``.

Actions: the change to add to the acting player's parameters, a float tensor of the game's
dtype on the game's device, of the shape of the parameters (one that requires grad is taken
detached: the game's parameters never join the caller's autograd graph).

Rewards: minus the acting player's loss at the state and minibatch it acted on (0 for the
other player on that turn). Under the minimax loss the discriminator's reward is the
empirical value V and the generator's is -V.

Divergence: a non-finite loss, action or resulting parameter ends the game (both players are
terminated) and ``info["termination_reason"]`` says what, whose and at which step, in every
view the same words: ``non-finite action (discriminator) at step 7``. The check runs on the
device; the host reads it every ``nonfinite_check_every`` env steps (1 by default; larger
values avoid a host sync per step, and the reason still names the first bad step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding

from minimax.core.match import Match
from minimax.core.players import PLAYERS
from minimax.utils.checks import check_int

if TYPE_CHECKING:  # matplotlib is imported when an env first draws, not with minimax
    from minimax.render import Renderer


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


def action_space(size: int) -> spaces.Box:
    return spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)


def check_action(game: Any, agent: str, action: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """The action as a tensor of the expected shape, dtype and device, or a clear error."""
    if not isinstance(action, torch.Tensor):
        raise TypeError(
            f"action for {agent} must be a torch.Tensor of shape {shape} and dtype {game.dtype} "
            f"(use minimax.to_numpy(env) to act with numpy arrays), got {type(action).__name__}"
        )
    if tuple(action.shape) != shape:
        raise ValueError(f"action for {agent} must have shape {shape}, got {tuple(action.shape)}")
    if action.dtype != game.dtype:
        raise TypeError(f"action for {agent} must have dtype {game.dtype}, got {action.dtype}")
    if action.device != game.device:
        raise ValueError(f"action for {agent} must be on {game.device}, got {action.device}")
    # an action from a policy network may carry its graph: the game takes its value (its parameters never join
    # the caller's graph, which would keep every later move's history alive)
    return action.detach() if action.requires_grad else action


class GameView:
    """The machinery a lone game's views share: the match, spaces, seeding, state, the game-over check."""

    possible_agents: list[str] = list(PLAYERS)
    match: Match
    agents: list[str]
    CONFIG = ("game", "max_steps", "nonfinite_check_every", "observation_spaces", "action_spaces", "state_space",
              "_zero", "render_mode", "_renderer")  # fmt: skip
    STATE = {"match": "match", "agents": "view", "steps": "view", "np_random": "view", "np_random_seed": "view"}

    def _setup_render(self, render_mode: str | None) -> None:
        """Check ``render_mode`` (None, ``"rgb_array"`` or ``"human"``, which needs a display)."""
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self._renderer = None

    def _setup(self, match: Match, max_steps: int | None, nonfinite_check_every: int) -> None:
        if match.num_games != 1:
            raise ValueError(f"{type(self).__name__} is a view of one game; this game has {match.num_games} "
                             "(use minimax.envs.vector.VectorGameEnv for games in lockstep)")  # fmt: skip
        self.match = match
        self.game = match.game
        self.max_steps = None if max_steps is None else check_int("max_steps", max_steps, minimum=1)
        self.nonfinite_check_every = check_int("nonfinite_check_every", nonfinite_check_every, minimum=1)
        sizes = {a: self.game.size(a) for a in PLAYERS}
        self.observation_spaces = {a: observation_space(sizes[a]) for a in PLAYERS}
        self.action_spaces = {a: action_space(sizes[a]) for a in PLAYERS}
        self.state_space = spaces.Box(-np.inf, np.inf, shape=(sum(sizes.values()),), dtype=np.float32)
        self.np_random, self.np_random_seed = seeding.np_random(None)
        self._zero = torch.zeros((), device=self.game.device, dtype=self.game.dtype)
        self.steps = 0  # env steps since reset
        self.agents = []

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    def _reseed(self, seed: int | None) -> None:
        """Reset the game from ``seed``, or from the env's own stream when ``seed`` is None."""
        if seed is not None or self.np_random is None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        self.match.reset([int(self.np_random.integers(0, 2**63 - 1))])
        self.steps = 0
        if self.render_mode is not None:
            self.renderer.clear()
            self.renderer.record()
            if self.render_mode == "human":
                self.render()

    def _require_reset(self) -> None:
        if not self.match.started:
            raise RuntimeError("the game has not started; call reset() first")

    @property
    def reason(self) -> str | None:
        """Why the game ended, when it diverged (the host has read the flag); else None."""
        return self.match.reasons[0]

    @property
    def truncated(self) -> bool:
        """Whether the step limit has been reached."""
        return self.max_steps is not None and self.steps >= self.max_steps

    @property
    def over(self) -> bool:
        """Whether the game has ended (diverged or truncated)."""
        return self.reason is not None or self.truncated

    def _after_step(self) -> None:
        """Read the divergence flags every ``nonfinite_check_every`` steps, and at the step limit."""
        self.steps += 1
        if self.steps % self.nonfinite_check_every == 0 or self.truncated:
            self.match.read_divergence()
        if self.render_mode is not None:
            self.renderer.record()
            if self.render_mode == "human":
                self.render()

    def field(self) -> Any:
        """The joint vector field on the current state and minibatch (simultaneous moves only)."""
        self._require_reset()
        return self.match.field(squeeze=True)

    def state(self) -> np.ndarray:
        """The global state: both players' parameters, concatenated (float32 copy)."""
        return torch.cat([self.game.parameters(a)[0] for a in PLAYERS]).detach().cpu().float().numpy().copy()

    def _view_state(self) -> dict[str, Any]:
        """The view's own state (the match's is beside it)."""
        bits = self.np_random.bit_generator
        return {"agents": list(self.agents), "steps": self.steps,
                "np_random": {"bit_generator": type(bits).__name__, "state": bits.state},
                "np_random_seed": self.np_random_seed}  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Everything that decides what the env does next: the view's state, the match's, the game's."""
        self._require_reset()
        return {"kind": self.kind, "view": self._view_state(), "match": self.match.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put the env in a saved state (checked first: nothing changes on an error)."""
        if not isinstance(state, dict) or set(state) != {"kind", "view", "match"}:
            raise ValueError(f"env state: expected the keys ['kind', 'match', 'view'], got {_keys(state)}")
        if state["kind"] != self.kind:
            raise ValueError(f"env state: saved from a {state['kind']!r} env, this is a {self.kind!r} env")
        view = state["view"]
        generator = _numpy_generator(view.get("np_random"))
        agents = view.get("agents")
        if not isinstance(agents, list) or any(a not in PLAYERS for a in agents):
            raise ValueError(f"env state: agents must be a list of players, got {agents!r}")
        steps = check_int("env state: steps", view.get("steps"), minimum=0)
        self._check_view_state(view)
        self.match.load_state_dict(state["match"])
        self.np_random, self.np_random_seed = generator, view.get("np_random_seed")
        self.agents, self.steps = list(agents), steps
        self._load_view_state(view)

    def _check_view_state(self, view: dict[str, Any]) -> None:
        """Check what a subclass adds to the view state (nothing by default)."""

    def _load_view_state(self, view: dict[str, Any]) -> None:
        """Restore what a subclass adds to the view state (nothing by default)."""

    def close(self) -> None:
        """Nothing to release; present so wrappers can always call it."""

    @property
    def renderer(self) -> Renderer:
        """What draws this env's frames (made at first use: a matplotlib figure of its own)."""
        if self._renderer is None:
            from minimax.render import Renderer

            self._renderer = Renderer(self.game, 0)
        return self._renderer

    def render(self) -> np.ndarray | None:
        """The game as a picture (see :mod:`minimax.render`): an RGB array under ``render_mode="rgb_array"``; under
        ``"human"`` the same picture in a matplotlib window (drawn at every step, as Gymnasium's envs do)."""
        if self.render_mode is None:
            gymnasium.logger.warn(f"{type(self).__name__}.render() was called without a render mode; give "
                                  "render_mode='rgb_array' (or 'human') when making the env")  # fmt: skip
            return None
        self._require_reset()
        if self.render_mode == "human" and not interactive_backend():  # warned at construction: nowhere to show it
            return None
        return show(self.renderer.frame(f"step {self.steps}"), self.render_mode, self.renderer)


RENDER_MODES = ["human", "rgb_array"]
RENDER_FPS = 30


def check_render_mode(render_mode: Any, modes: list[str]) -> str | None:
    """``render_mode`` if it is None or one of ``modes`` (``"human"`` where matplotlib cannot open a window warns)."""
    if render_mode is not None and render_mode not in modes:
        raise ValueError(f"render_mode must be None or one of {modes}, got {render_mode!r}")
    if render_mode == "human" and not interactive_backend():
        import matplotlib

        gymnasium.logger.warn(f"render_mode='human' draws in a matplotlib window, but the backend is "
                              f"{matplotlib.get_backend()!r}, which cannot open one (no display?): nothing is drawn; "
                              "render_mode='rgb_array' returns them (e.g. for gymnasium.wrappers.RecordVideo)")
    return render_mode


def interactive_backend() -> bool:
    """Whether matplotlib's backend can open windows."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return not (backend in {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"} or backend.startswith("module://"))


def show(frame: np.ndarray, render_mode: str, owner: Renderer) -> np.ndarray | None:
    """A frame as the render mode wants it: returned (``rgb_array``), or drawn in ``owner``'s window (``human``)."""
    if render_mode == "rgb_array":
        return frame
    import matplotlib.pyplot as plt

    window = owner.window
    if window is None or not plt.fignum_exists(window[0].number):
        figure = plt.figure(figsize=(frame.shape[1] / 100, frame.shape[0] / 100), dpi=100)
        axes = figure.add_axes((0, 0, 1, 1))
        axes.axis("off")
        window = owner.window = (figure, axes.imshow(frame))
    window[1].set_data(frame)
    plt.pause(1 / RENDER_FPS)
    return None


def _keys(state: Any) -> Any:
    return sorted(state) if isinstance(state, dict) else type(state).__name__


def _numpy_generator(saved: Any) -> np.random.Generator:
    """A numpy Generator rebuilt from a saved bit-generator state (only numpy's own bit generators)."""
    if not isinstance(saved, dict) or "bit_generator" not in saved or "state" not in saved:
        raise ValueError(f"env state: np_random must be {{'bit_generator', 'state'}}, got {saved!r}"[:200])
    name = saved["bit_generator"]
    bit_class = getattr(np.random, str(name), None)
    if bit_class is None or not isinstance(bit_class, type) or not issubclass(bit_class, np.random.BitGenerator):
        raise ValueError(f"env state: unknown numpy bit generator {name!r}")
    bits = bit_class()
    try:
        bits.state = saved["state"]
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"env state: cannot restore the numpy generator ({error})") from None
    return np.random.Generator(bits)
