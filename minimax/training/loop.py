"""The training loop: update rules play an env of N >= 1 games for a number of iterations.

An *iteration* is one cycle of every game's schedule (Algorithm 1's outer loop: k
discriminator moves then m generator moves, or one simultaneous joint move); games with
schedules of different lengths share an iteration (see :mod:`minimax.core.match`). The same
loop runs the AEC env, the Parallel env and the vector env of N games: it plays the env's
match directly (:class:`Driver`), so the envs' own state stays true and nothing is done twice.
Per-iteration metrics are written into preallocated ``(iterations, N)`` device tensors, so
the loop itself never waits on the host; they become numpy arrays in the returned
:class:`History`. A game that diverges stops there (in a vector env the others go on), keeps
everything it recorded and says why.

With ``checkpoint_dir`` the run saves its whole state there (every ``checkpoint_every``
iterations and at the end, see :mod:`minimax.training.checkpoint`) and ``resume=True``
continues it from the newest checkpoint, bitwise as if it had never stopped (on the CPU).
``log`` streams the per-iteration metrics as the run goes (:class:`minimax.training.runlog.RunLog`).
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.rules import UpdateRule
from minimax.core.players import DISCRIMINATOR, GENERATOR, PLAYERS
from minimax.envs.aec import GameAECEnv
from minimax.envs.base import check_action
from minimax.envs.parallel import GameParallelEnv
from minimax.envs.vector import VectorGameEnv
from minimax.training import checkpoint as ckpt
from minimax.training.history import METRICS, History
from minimax.utils.checks import check_int

Callback = Callable[[int, Any, History], Any]


def resolve_env(env: Any) -> Any:
    """The minimax env under PettingZoo's and Gymnasium's wrappers (``OrderEnforcingWrapper``, ...), or a clear error."""
    seen = env
    for _ in range(32):
        if isinstance(seen, (GameAECEnv, GameParallelEnv, VectorGameEnv)):
            return seen
        inner = getattr(seen, "env", None)
        if inner is None or inner is seen:
            break
        seen = inner
    raise TypeError(
        f"train takes a minimax env (AEC, Parallel or vector; PettingZoo/Gymnasium wrappers around one are fine), got "
        f"{type(env).__name__}; build one with pettingzoo.make('aec' or 'parallel', 'minimax/...') or minimax.make_vector"
    )


def agents_for(agents: Any) -> dict[str, Any]:
    """One agent per player: a mapping, or one agent copied for both."""
    if isinstance(agents, str):
        raise TypeError(
            f"agents must be update rules, not names: build them with agents.make({agents!r}, ...) "
            "(one per player, or one that is copied for both)"
        )
    if isinstance(agents, Mapping):
        missing = set(PLAYERS) - set(agents)
        extra = set(agents) - set(PLAYERS)
        if missing or extra:
            raise ValueError(f"agents must map exactly {list(PLAYERS)}; missing {sorted(missing)}, extra {sorted(extra)}")
        chosen = dict(agents)
        for player, rule in chosen.items():
            if isinstance(rule, str):
                raise TypeError(f"the agent for {player} is the name {rule!r}: build it with agents.make({rule!r}, ...)")
        if chosen[DISCRIMINATOR] is chosen[GENERATOR]:
            raise ValueError("the two players need separate update-rule instances (each keeps its own state)")
    else:
        chosen = {p: copy.deepcopy(agents) for p in PLAYERS}
    for player, rule in chosen.items():
        if not callable(getattr(rule, "act", None)):
            raise TypeError(f"agent for {player} must be an update rule with act(observation), got {rule!r}")
    return chosen


class Driver:
    """Agents playing an env's match, iteration by iteration: what :func:`train` and the analysis share.

    ``agents`` is ``{player: rule}`` (or one rule, copied for each player), or one game-aware
    rule that moves both players from the joint field (simultaneous moves only). Update rules
    run their in-place core (``UpdateRule.step``), bitwise equal to the functional one; other
    agents are called with ``act(observation)``.
    """

    def __init__(self, env: Any, agents: Any, compile: bool | str = False) -> None:
        """``compile``: play each tick as one compiled graph (True, or a ``torch.compile`` mode name), see
        :mod:`minimax.training.compiled`."""
        self.env = resolve_env(env)
        self.match = self.env.match
        self.joint = agents if getattr(agents, "joint", False) else None
        if self.joint is not None and self.env.kind == "aec":
            raise TypeError(
                f"{type(self.joint).__name__} moves both players from the joint vector field, which needs simultaneous "
                "moves: use the Parallel env (pettingzoo.make('parallel', ...)), not the AEC env"
            )
        self.rules: dict[str, Any] = {} if self.joint is not None else agents_for(agents)
        self.agents = self.joint if self.joint is not None else self.rules
        games = self.match.num_games
        for who, agent in ([("the joint rule", self.joint)] if self.joint is not None else list(self.rules.items())):
            for name, value in _tensor_hyperparameters(getattr(agent, "hyperparameters", {})):
                if value.dim() == 2 and value.shape[0] not in (1, games):
                    raise ValueError(
                        f"{who}'s {name} has {value.shape[0]} per-game values, and this env has {games} game"
                        f"{'s' if games > 1 else ''}: give minimax.per_game one value per game"
                    )  # fmt: skip
        self.compiled = None
        if compile:
            from minimax.training.compiled import compiled_ticks

            if self.joint is not None:
                raise ValueError(f"compile=True runs single-player update rules; {type(self.joint).__name__} is a joint "
                                 "rule (it needs the joint field): run it with compile=False")  # fmt: skip
            mode = compile if isinstance(compile, str) else None
            self.compiled = compiled_ticks(self.match, self.rules, lone=self.env.kind != "vector", mode=mode)

    def reset_agents(self) -> None:
        """Every agent forgets its state (a new run)."""
        for agent in ([self.joint] if self.joint is not None else self.rules.values()):
            agent.reset()

    def _act(self, player: str, observation: dict[str, torch.Tensor], everyone: bool) -> torch.Tensor:
        rule = self.rules[player]
        if isinstance(rule, UpdateRule):
            moving = None if everyone else observation["moving"]
            return rule.step(observation["gradient"], observation["parameters"], moving=moving, in_place=True)
        return self._checked(player, rule.act(observation))

    def _in_place(self, player: str) -> bool:
        """Whether ``player``'s move of this tick can be made in place by its rule's own kernel (the same move,
        bitwise, without writing the change: :meth:`minimax.core.match.Match.move_in_place`)."""
        rule = self.rules[player]
        return isinstance(rule, UpdateRule) and rule.moves_in_place and self.match.can_move_in_place(player)

    def _checked(self, player: str, action: Any) -> torch.Tensor:
        shape = tuple(self.match.game.parameters(player).shape)
        return check_action(self.match.game, player, action, shape if self.env.kind == "vector" else shape[1:])

    def iteration(self, recorder: Recorder | None = None) -> bool:
        """Play one iteration (every tick of it); True when the env is over (diverged, truncated, or every game ended)."""
        env, match = self.env, self.match
        for _ in range(match.ticks_per_iteration):
            tick = match.current
            if self.compiled is not None and self.compiled.ready():  # the tick in one compiled call; the env counts steps
                self.compiled.play()
                for _ in tick.movers if env.kind == "aec" else (None,):
                    env._after_step()
                if recorder is not None:
                    for p in tick.movers:
                        recorder.move(p, match.last_infos[p])
                if env.over:
                    return True
                continue
            if self.joint is None and len(tick.movers) == 1 and self._in_place(tick.movers[0]):
                # a rule whose kernel moves the parameters itself (fused Adam), on its own tick: one env step
                player = tick.movers[0]
                move = self.rules[player].move_
                # the rule keeps the state of the vectors it observes: (P,) in a lone game's env, (N, P) for N games
                match.move_in_place(player, move if env.kind == "vector" else lambda g, p: move(g[0], p[0]))
                env._after_step()
                if recorder is not None:
                    recorder.move(player, match.last_infos[player])
                if env.over:
                    return True
                continue
            if env.kind == "aec":  # one player per env step, in the schedule's order
                for _ in tick.movers:
                    player = match.waiting()[0]
                    env.play(player, self._act(player, env.observe(player), True))
                    if recorder is not None:
                        recorder.move(player, match.last_infos[player])
                    if env.over:
                        return True
                continue
            if self.joint is not None:
                observations = {p: env.observation(p) for p in PLAYERS}
                moves = self.joint.act(observations, env.field())
                env.play({p: self._checked(p, moves[p]) for p in PLAYERS})
            else:
                env.play({p: self._act(p, env.observation(p), tick.everyone(p)) for p in tick.movers})
            if recorder is not None:
                for p in tick.movers:
                    recorder.move(p, match.last_infos[p])
            if env.over:
                return True
        return False


class Recorder:
    """One preallocated ``(iterations, metrics, N)`` device table, one row per iteration (one write per row).

    Per move it keeps references (no device work, except summing a player's losses when it moves
    more than once in an iteration); at the end of an iteration the row is stacked and written in
    one copy.
    """

    def __init__(self, iterations: int, num_games: int, device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        self.num_games = num_games
        self.table = torch.full((iterations, len(METRICS), num_games), float("nan"), device=device, dtype=dtype)
        self.column = {name: j for j, name in enumerate(METRICS)}
        self.nan = torch.full((num_games,), float("nan"), device=device, dtype=dtype)
        self.loss_sums: dict[str, torch.Tensor | None] = {p: None for p in PLAYERS}
        # moves in the iteration: how many every game made, plus (only when some games sat out) per game
        self.moves_all = {p: 0 for p in PLAYERS}
        self.moves_some: dict[str, np.ndarray] = {}
        self.grad_norms: dict[str, torch.Tensor] = {}
        self.last: dict[str, torch.Tensor] = {}
        self.device = device

    @property
    def buffers(self) -> dict[str, torch.Tensor]:
        """Each metric's ``(iterations, N)`` column of the table (views)."""
        return {name: self.table[:, j] for name, j in self.column.items()}

    def move(self, player: str, info: Mapping[str, Any]) -> None:
        """One move of ``player`` (the match's info of it): loss summed, latest diagnostics kept, where it moved."""
        everyone = info["everyone"]
        loss = info["loss"]
        total = self.loss_sums[player]
        if everyone:
            self.loss_sums[player] = loss if total is None else total + loss
            self.moves_all[player] += 1
        else:
            moving = info["moving"]
            mask = torch.as_tensor(moving, device=self.device)
            zero = torch.zeros_like(loss) if total is None else total
            self.loss_sums[player] = torch.where(mask, zero + loss, zero)
            self.moves_some[player] = self.moves_some.get(player, 0) + moving
        for name in ("value", "d_real", "d_fake"):
            value = info[name]
            if value is None:
                continue
            if everyone:
                self.last[name] = value
            else:
                previous = self.last.get(name, self.nan)
                self.last[name] = torch.where(mask & ~value.isnan(), value, previous)
        norm = info["grad_norm"]
        if everyone:
            self.grad_norms[player] = norm
        else:
            self.grad_norms[player] = torch.where(mask, norm, self.grad_norms.get(player, self.nan))

    def end_iteration(self, i: int) -> None:
        row = dict.fromkeys(METRICS, self.nan)
        for p in PLAYERS:
            total = self.loss_sums[p]
            if p in self.moves_some:  # some games sat some of their moves out: a count per game
                counts = self.moves_some.pop(p) + self.moves_all[p]
                divisor = torch.as_tensor(np.maximum(counts, 1), device=self.device, dtype=total.dtype)
                moved = torch.as_tensor(counts > 0, device=self.device)
                row[f"{p}_loss"] = torch.where(moved, total / divisor, self.nan)
            elif self.moves_all[p]:
                row[f"{p}_loss"] = total if self.moves_all[p] == 1 else total / self.moves_all[p]
            if p in self.grad_norms:
                row[f"{p}_grad_norm"] = self.grad_norms[p]
            self.loss_sums[p] = None
            self.moves_all[p] = 0
        for name in ("value", "d_real", "d_fake"):  # the latest move that had each
            if name in self.last:
                row[name] = self.last[name]
        self.table[i] = torch.stack([row[name] for name in METRICS])

    def history(self, done: int) -> dict[str, np.ndarray]:
        table = self.table[:done].cpu().numpy()
        return {name: table[:, j].copy() for name, j in self.column.items()}

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Iterations ``start + 1 .. stop`` as dicts (one host copy), non-finite values as None; one row per game
        and iteration (with ``"game"``) when there are several games."""
        block = self.table[start:stop].cpu().tolist()  # (iterations, metrics, N)
        columns = {name: [r[j] for r in block] for name, j in self.column.items()}
        rows = []
        for j in range(stop - start):
            for g in range(self.num_games):
                row: dict[str, Any] = {"iteration": start + j + 1}
                if self.num_games > 1:
                    row["game"] = g
                row.update({k: (x if math.isfinite(x) else None) for k, x in ((k, c[j][g]) for k, c in columns.items())})
                rows.append(row)
        return rows

    def state(self) -> dict[str, Any]:
        """What carries over from one iteration to the next (for checkpoints)."""
        return {"last": dict(self.last), "grad_norms": dict(self.grad_norms)}

    def load(self, metrics: Mapping[str, np.ndarray], done: int, state: Mapping[str, Any] | None) -> None:
        """Continue after ``done`` recorded iterations (from a checkpoint)."""
        for name, j in self.column.items():
            if name in metrics:
                saved = np.asarray(metrics[name])[:done].reshape(done, -1)
                self.table[:done, j] = torch.as_tensor(saved, device=self.device, dtype=self.table.dtype)
        state = state or {}
        self.last = {k: v.to(self.device) for k, v in state.get("last", {}).items()}
        self.grad_norms = {k: v.to(self.device) for k, v in state.get("grad_norms", {}).items()}


def train(
    env: Any,
    agents: Any,
    iterations: int,
    *,
    seed: int | Sequence[int] | None = None,
    callbacks: Iterable[Callback] = (),
    callback_every: int = 100,
    callback_at: Iterable[int] | None = None,
    progress: bool | None = None,
    description: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 2,
    resume: bool = False,
    log: Any = None,
    log_every: int = 1,
    image_every: int | None = None,
    run_spec: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
    compile: bool | str = False,
) -> History:
    """Reset ``env`` (with ``seed``) and let the agents play ``iterations`` iterations.

    ``env`` is a minimax AEC, Parallel or vector env (of N games; ``seed`` may then give one
    seed per game). ``agents`` maps ``"discriminator"`` and ``"generator"`` to update rules (or
    is one rule, copied for each player), or is one game-aware rule that moves both players from
    the joint field (:class:`agents.joint.JointRule`, simultaneous moves only). An update rule's
    hyper-parameters may be ``(N, 1)`` tensors (:func:`minimax.per_game`): one value per game.
    Each callback is called as ``callback(iteration, env, history)`` every ``callback_every``
    iterations (or at the completed-iteration counts listed in ``callback_at``) and after the
    last; it sees the history so far. ``progress``: a tqdm bar (None: only on a terminal).

    Crash safety (all optional):

    * ``checkpoint_dir``: save the whole state there (``checkpoint-<iteration>.ckpt``,
      atomically) every ``checkpoint_every`` iterations (None: only at the end), at the
      end, at a divergence and when ``stop`` says so; the ``keep_checkpoints`` newest are
      kept. ``run_spec`` (what rebuilds the run, see :mod:`minimax.cli`) is written
      next to them as ``run.json`` and into each checkpoint; ``extra`` goes into each
      checkpoint too. A directory that already holds checkpoints is refused unless
      ``resume``.
    * ``resume=True``: continue from the newest valid checkpoint in ``checkpoint_dir``
      (a fresh start when there is none): env, rules, random streams and history are
      restored, and the run goes on to ``iterations`` (which may exceed the original
      count, to extend a run). ``seed`` must be None or the checkpoint's.
    * ``log``: a :class:`minimax.training.runlog.RunLog` (or a directory to make one in) that
      receives one row per iteration (per game, for N games), every ``log_every`` iterations
      and before each checkpoint; on resume, rows after the checkpoint are dropped.
      ``image_every``: also a picture of the game (game 0 of N) every that many iterations, at the
      start and at the end (:class:`minimax.training.runlog.Pictures`: an image and a histogram of
      generated samples in TensorBoard and W&B, the latest frame as ``frame.png``); drawn from its own
      noise, it leaves training bitwise as it is, and costs nothing when off (None).
    * ``stop``: called after each iteration; when it returns True the run checkpoints
      and returns (``history.settings["stopped"]`` is True), e.g. on SIGTERM.

    ``compile=True`` (or a ``torch.compile`` mode name) plays each tick as one compiled graph:
    evaluation, the rules' update and the move (see :mod:`minimax.training.compiled`: equal to
    the eager engine to round-off; the first call of each tick compiles it).
    """
    iterations = check_int("iterations", iterations, minimum=1)
    callback_every = check_int("callback_every", callback_every, minimum=1)
    due_callbacks = None if callback_at is None else {check_int("callback_at item", i, minimum=1) for i in callback_at}
    driver = Driver(env, agents, compile=compile)
    view, match = driver.env, driver.match
    callbacks = list(callbacks)
    keep_checkpoints = check_int("keep_checkpoints", keep_checkpoints, minimum=1)
    log_every = check_int("log_every", log_every, minimum=1)
    if image_every is not None:
        image_every = check_int("image_every", image_every, minimum=1)
        if log is None:
            raise ValueError(f"image_every={image_every} needs a log to draw into: pass log= (a run directory or a "
                             "RunLog), or leave image_every out")  # fmt: skip
    if checkpoint_every is not None:
        checkpoint_every = check_int("checkpoint_every", checkpoint_every, minimum=1)
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    if directory is None and (checkpoint_every is not None or resume):
        raise ValueError(f"{'resume' if resume else 'checkpoint_every'} needs a checkpoint_dir")
    driver.reset_agents()
    from minimax.utils.memory import check_fits

    check_fits(f"iterations={iterations}: the history of {iterations} iterations x {len(METRICS)} metrics x "
               f"{match.num_games} game(s)", 2 * iterations * len(METRICS) * match.num_games * 4, match.game.device)  # fmt: skip
    recorder = Recorder(iterations, match.num_games, match.game.device)
    start = time.perf_counter()
    done = first = 0
    earlier_wall = 0.0
    over = stopped = False
    resumed_at: list[int] = []

    def snapshot(completed: int) -> History:
        settings: dict[str, Any] = {"seed": seed, "iterations_requested": iterations}
        if resumed_at:
            settings["resumed_at"] = list(resumed_at)
        if stopped:
            settings["stopped"] = True
        if match.game.device.type == "cuda":
            torch.cuda.synchronize(match.game.device)  # the loop only queued work: wait for it before reading the clock
        flags = match.divergence()
        return History(
            metrics=recorder.history(completed),
            iterations=completed,
            moves=match.moves.copy(),
            wall_time=earlier_wall + time.perf_counter() - start,
            termination_reasons=list(match.reasons),
            truncated=bool(view.truncated),
            settings=settings,
            diverged_at=flags["iteration"],
            diverged_player=np.where(flags["code"] > 0, (flags["code"] - 1) % 2, -1),
            seeds=list(getattr(view, "seeds", [])),
        )

    restored = None
    if directory is not None:
        ckpt.clean_partial(directory)
        if resume:
            restored = ckpt.load_latest(directory, set_aside=True)
        elif ckpt.checkpoints(directory):
            raise FileExistsError(
                f"{directory} already holds checkpoints ({ckpt.latest(directory).name}); pass resume=True to continue "
                "that run, or use another checkpoint_dir"
            )
    if restored is not None:
        training = restored.extra.get("training", {})
        if seed is not None and training.get("seed") != seed:
            raise ckpt.CheckpointError(
                restored.path, f"written by a run with seed {training.get('seed')!r}, train was called with seed {seed!r}"
            )
        seed = training.get("seed")
        if restored.iteration > iterations:
            raise ValueError(
                f"iterations must be at least the checkpoint's {restored.iteration} to resume it, got {iterations}"
            )
        ckpt.restore(view, driver.agents, restored)
        first = done = restored.iteration
        earlier_wall = restored.history.wall_time
        recorder.load(restored.history.metrics, first, training.get("recorder"))
        resumed_at = [*restored.history.settings.get("resumed_at", []), first]
        over = bool(restored.history.terminated.all()) or restored.history.truncated
    else:
        view.reset(seed=seed)
    if directory is not None and run_spec is not None:
        ckpt.write_run_spec(directory, run_spec)
    elif directory is not None and not (directory / ckpt.RUN_SPEC).exists():  # a run started from Python
        ckpt.write_run_spec(directory, ckpt.describe_run(
            view, driver.agents, seed=seed, iterations=iterations, checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints))  # fmt: skip

    own_log = log is not None and isinstance(log, (str, os.PathLike))
    if own_log:
        from minimax.training.runlog import RunLog

        log = RunLog(log)
    logged = first
    pictures = None
    if log is not None:
        log.begin(first, snapshot(first) if first else None)

    def flush_log(completed: int) -> None:
        nonlocal logged
        if log is not None and completed > logged:
            wall = earlier_wall + time.perf_counter() - start
            log.write([{**row, "wall_time": wall} for row in recorder.rows(logged, completed)])
            logged = completed

    def save_checkpoint(completed: int) -> None:
        path = ckpt.checkpoint_path(directory, completed)
        previous = ckpt.latest(directory)
        bookkeeping = {"seed": seed, "iterations": iterations, "recorder": recorder.state()}
        try:
            ckpt.save(path, view, driver.agents, snapshot(completed),
                      {**dict(extra or {}), "training": bookkeeping}, run_spec=run_spec)  # fmt: skip
        except OSError as error:
            kept = f"the previous checkpoint {previous} is intact" if previous else "there is no earlier checkpoint"
            raise OSError(
                error.errno, f"could not write checkpoint {path} ({error.strerror or error}); {kept}: "
                "free space and resume the run",
            ) from error  # fmt: skip
        ckpt.prune(directory, keep_checkpoints)

    try:
        if over or first >= iterations:
            return snapshot(first)
        if image_every is not None:
            from minimax.training.runlog import Pictures

            pictures = Pictures(match.game, image_every)
            if first == 0:
                pictures.draw(0, log)  # the starting point
        disable = None if progress is None else not progress
        with torch.no_grad(), tqdm(total=iterations, initial=first, disable=disable, desc=description, leave=False) as bar:
            for i in range(first, iterations):
                over = driver.iteration(recorder)
                recorder.end_iteration(i)
                done = i + 1
                bar.update(1)
                stopped = stop is not None and bool(stop())
                final = done == iterations or over or stopped
                if final:
                    match.read_divergence()  # the last word on every game, whatever the check interval
                due = checkpoint_every is not None and done % checkpoint_every == 0
                if log is not None and (final or due or done % log_every == 0):
                    flush_log(done)
                if pictures is not None:
                    pictures.after(done, final, log)
                if directory is not None and (final or due):
                    save_checkpoint(done)
                scheduled = done % callback_every == 0 if due_callbacks is None else done in due_callbacks
                if callbacks and (scheduled or final):
                    history = snapshot(done)
                    with torch.enable_grad():
                        for callback in callbacks:
                            callback(done, env, history)
                if over or stopped:
                    break
        return snapshot(done)
    finally:
        if log is not None:
            try:
                flush_log(done)  # what completed before an exception
            finally:
                if own_log:
                    log.close()  # a W&B run is finished, as failed when an exception is on its way out
                else:
                    log.flush()


def _tensor_hyperparameters(hyperparameters: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """The tensors among a rule's hyper-parameters (nested in tuples and mappings), with their names."""
    if isinstance(hyperparameters, torch.Tensor):
        return [(prefix, hyperparameters)]
    if isinstance(hyperparameters, Mapping):
        return [t for k, v in hyperparameters.items() for t in _tensor_hyperparameters(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(hyperparameters, (tuple, list)):
        return [t for i, v in enumerate(hyperparameters) for t in _tensor_hyperparameters(v, f"{prefix}[{i}]")]
    return []


def per_game(values: Sequence[float], device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One hyper-parameter value per game as an ``(N, 1)`` tensor, e.g. ``agents.make("adam", lr=per_game(lrs))``."""
    values = list(values)
    if not values:
        raise ValueError("per_game needs at least one value")
    return torch.tensor(values, dtype=dtype, device=device).unsqueeze(-1)


def train_vector(env: Any, rules: Any, iterations: int, *, seed: int | Sequence[int] | None = None,
                 progress: bool | None = None, description: str | None = None) -> History:  # fmt: skip
    """Deprecated: :func:`train` runs any env of N >= 1 games (this calls it)."""
    warnings.warn("minimax.train_vector is deprecated: minimax.train runs vector envs too", DeprecationWarning, stacklevel=2)
    return train(env, rules, iterations, seed=seed, progress=progress, description=description)


#: Deprecated: a vector run's history is a :class:`History` (metrics ``(iterations, N)``).
VectorHistory = History
VECTOR_METRICS = METRICS

__all__ = ["Callback", "Driver", "Recorder", "agents_for", "per_game", "resolve_env", "train"]
