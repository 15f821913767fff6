"""Compiled ticks: a tick's evaluation, its movers' update rules and the move, as one compiled graph.

``minimax.train(env, rules, iterations, compile=True)`` plays each tick through a function
compiled by ``torch.compile(fullgraph=True)``: the networks' forward and backward (through
``torch.func``), every mover's update rule (its functional core) and the addition of the
change, with no graph break and no host sync inside. The minibatch is still drawn eagerly,
from each game's own generators, and the match's bookkeeping (rewards, infos, the divergence
watch, move counts) is the eager engine's own, so a compiled run records what an eager run
records, and checkpoints of either resume in the other.

The arithmetic is the eager engine's, but the compiler fuses and reorders elementwise work,
so trajectories agree with the eager engine's to round-off (tested in float64), not bitwise.
The first call of each kind of tick compiles it (seconds to a minute on a CPU). Within a run, a
tick's later calls skip the compiler's guards (about 0.4 ms a call here, a fifth of a lone 1D
iteration) while its inputs keep the shapes, dtypes and devices of the call that evaluated them;
each run evaluates them again on its first call of each tick.

Supported (anything else is refused, with the reason, before a run starts):

* update rules with a functional core: every single-player rule of :mod:`agents` and their
  wrappers (not the joint rules, which need the joint field);
* loss families without random draws or input-gradient penalties: ``minimax``,
  ``non-saturating``, ``wasserstein``, ``hinge``, ``least-squares``;
* networks the batched execution lowers (Linear, BatchNorm1d, elementwise activations, the
  1D tasks' scaling, flatten); with both players moving at once, a discriminator without
  BatchNorm;
* ticks in which every game that moves, moves the same players on the same part of the
  minibatch (one schedule for every game, or the simultaneous Parallel env).

A diverging game's last tick is applied in full (the eager AEC env could stop between the two
moves of a simultaneous tick).
"""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from agents.rules import UpdateRule
from minimax.core.game import gradient_norm, loss_term
from minimax.core.losses import InstanceNoise, Outcome, Regularized, gan_value
from minimax.core.match import Match, Tick, finite_witness
from minimax.core.networks import NORM, BatchedNetwork
from minimax.core.players import BOTH, DISCRIMINATOR, FAKE, GENERATOR, PLAYERS, REAL


@dataclass
class MoveResult:
    """What one compiled move hands back to the match: the mover's loss and diagnostics, the finite witnesses
    (:func:`minimax.core.match.finite_witness`) of its change and of its new parameters."""

    loss: torch.Tensor
    grad_norm: torch.Tensor
    d_real: torch.Tensor | None
    d_fake: torch.Tensor | None
    value: torch.Tensor | None
    action_witness: torch.Tensor
    params_witness: torch.Tensor


def compile_problems(match: Match, rules: dict[str, Any]) -> list[str]:
    """Why this match and these rules cannot run compiled ticks (an empty list: they can)."""
    problems = []
    game = match.game
    if match.joint and not all(t.simultaneous for t in match.ticks):
        problems.append("a joint match whose ticks are not all simultaneous")
    for player, rule in rules.items():
        if not isinstance(rule, UpdateRule):
            problems.append(f"the {player}'s agent is not an update rule with a functional core ({type(rule).__name__})")
        elif rule.shared_count:
            problems.append(f"the {player}'s rule is fused (fused=True runs torch's own kernel; a compiled tick fuses "
                            "the update itself: use fused=False)")  # fmt: skip
    for family in {id(f): f for f in game.losses}.values():
        if isinstance(family, (Regularized, InstanceNoise)):
            problems.append(f"loss {family.name!r} draws random numbers or takes input gradients inside the loss")
    for player in PLAYERS:
        if BatchedNetwork(game.networks[player].template).ops is None:
            problems.append(f"the {player}'s network has layers the batched execution does not lower")
    d_norm = any(layout == NORM for layout, _ in BatchedNetwork(game.networks[DISCRIMINATOR].template).ops or [])
    for j, tick in enumerate(match.ticks):
        if len(tick.draws) > 1 or any(len(games) != len(tick.draws[part]) for (p, part), games in tick.moves.items()):
            problems.append(f"tick {j} moves different players or minibatch parts in different games (schedules differ)")
        if match.joint and len(tick.movers) == 2 and d_norm:
            problems.append("both players are evaluated at once (the Parallel env) and the discriminator has BatchNorm")
    return sorted(set(problems))


def compiled_ticks(match: Match, rules: dict[str, UpdateRule], lone: bool, mode: str | None = None) -> "CompiledTicks":
    """The compiled ticks of ``match`` for these rules, made once and kept while the match lives.

    The compiled functions depend on the rules' transformations only (their states are passed in),
    so training the same env again with the same rules, or copies of them (``copy.deepcopy``
    shares the transformations), compiles nothing; rules built anew compile anew.
    """
    cache = _CACHE.setdefault(match, {})
    key = (lone, mode, tuple((p, id(getattr(rules[p], "transform", rules[p]))) for p in PLAYERS))
    entry = cache.get(key)
    if entry is None or any(entry.transforms[p] is not getattr(rules[p], "transform", None) for p in PLAYERS):
        entry = cache[key] = CompiledTicks(match, rules, lone, mode)
    entry.rules = rules  # the states are the current rules'
    entry.warm.clear()  # a new run: its first call of each tick evaluates the compiler's guards again
    return entry


_CACHE: "weakref.WeakKeyDictionary[Match, dict[tuple, CompiledTicks]]" = weakref.WeakKeyDictionary()


class CompiledTicks:
    """The ticks of one match as compiled functions, one per tick of the iteration (compiled on first use)."""

    def __init__(self, match: Match, rules: dict[str, UpdateRule], lone: bool, mode: str | None = None) -> None:
        problems = compile_problems(match, rules)
        if problems:
            raise ValueError("compile=True cannot run this game: " + "; ".join(problems) + " (run it with compile=False)")
        self.match, self.rules, self.lone = match, rules, lone
        self.transforms = {p: rules[p].transform for p in PLAYERS}
        game = match.game
        self.networks = {p: BatchedNetwork(game.networks[p].template) for p in PLAYERS}
        self.mode = mode
        self._functions: dict[tuple[int, bool], Callable] = {}
        # tick key -> the inputs' layout at its last call with the compiler's guards evaluated (see play)
        self.warm: dict[tuple[int, bool], tuple] = {}

    # ------------------------------------------------------------------------------ one tick

    def ready(self) -> bool:
        """Whether the current tick can be played compiled: no mover has been evaluated yet (an env's reset or an
        observation already made the evaluation, which moved BatchNorm statistics: that tick is played eagerly)."""
        return not any(p in self.match.evaluations for p in self.match.current.movers)

    def play(self) -> None:
        """Play the match's current tick: evaluate, update and move its movers, then record it in the match."""
        match = self.match
        tick = match.current
        game = match.game
        (part,) = tick.draws
        batch = match.batches[part]
        masks = {p: match.move_mask(p) for p in tick.movers}
        key = (match.tick, any(m is not None for m in masks.values()))
        if key not in self._functions:
            self._functions[key] = torch.compile(_own_code(self._tick_function(tick, part), key), fullgraph=True,
                                                 dynamic=False, mode=self.mode)  # fmt: skip
        states = {p: self._state(p) for p in tick.movers}
        params = {p: game.params[p] for p in PLAYERS}
        inputs = (params, game.buffers, states, batch.real, batch.noise, masks)
        # The compiler's guards cost about 0.4 ms a call (a fifth of a lone 1D iteration). Within a run, once a
        # tick has been called with them, they are skipped while the inputs keep the layout of that call (shapes,
        # dtypes, devices: what the compiled code was specialised on; the rest of what it read is fixed for the run)
        layout = _layout(inputs)
        skip = self.warm.get(key) == layout
        with torch.no_grad():
            with torch.compiler.set_stance("default", skip_guard_eval_unsafe=skip):
                new_params, new_states, results = self._functions[key](*inputs)
            self.warm[key] = layout
            for p in tick.movers:
                game.params[p].copy_(new_params[p])
                self.rules[p].commit_state(new_states[p])
        match.commit(results)

    def _state(self, player: str) -> Any:
        params = self.match.game.params[player]
        return self.rules[player].state_for(params[0] if self.lone else params)

    # ------------------------------------------------------------------------------ the pure function

    def _tick_function(self, tick: Tick, part: str) -> Callable:
        """The pure function of one tick: (params, buffers, states, real, noise, masks) -> (params, states, results)."""
        game, nets, transforms, lone = self.match.game, self.networks, self.transforms, self.lone
        movers = tick.movers
        rows = game.all_games
        d_net, g_net = nets[DISCRIMINATOR], nets[GENERATOR]
        groups = [(family, torch.as_tensor([i in games for i in rows], device=game.device))
                  for family, _, games in game._groups(rows)]  # fmt: skip

        def family_losses(player: str, on: str, real, fake, real_logits, fake_logits) -> torch.Tensor:
            """Each game's loss (n,) under its own family: every family on every game, each game keeping its own
            (the families' losses are per-game means, so this is exact; no indexing in the graph)."""
            outcome = Outcome(real, fake, real_logits, fake_logits, None, None, len(rows))
            total = None
            for family, members in groups:
                term = loss_term(family, player, on)(outcome)
                piece = term if len(groups) == 1 else torch.where(members, term, torch.zeros_like(term))
                total = piece if total is None else total + piece
            return total

        def losses(which: tuple[str, ...], theta: dict[str, list[torch.Tensor]], buffers, real, noise):
            """The losses (n,) of the players ``which`` at parameters ``theta`` (each player's per-layer slices), as
            :meth:`minimax.core.game.Game.evaluate` computes them, and the logits for the diagnostics."""
            want_d, want_g = DISCRIMINATOR in which, GENERATOR in which
            need_real, need_fake = want_g or part != FAKE, want_g or part != REAL
            g_params, d_params = (_named(nets[p], theta[p]) for p in (GENERATOR, DISCRIMINATOR))
            empty = real.new_empty(real.shape[0], 0)
            train_fakes = want_g or game.fake_mode == "train"
            fake = g_net.run(g_params, buffers[GENERATOR], noise, train_fakes) if need_fake else real[:, :0]
            real_logits = d_net.run(d_params, buffers[DISCRIMINATOR], real, True) if need_real else empty
            out, fake_logits = {}, empty
            if want_d:  # the discriminator's loss sees the samples as data: no gradient to the generator
                fake_d = fake.detach() if want_g else fake
                fake_logits = d_net.run(d_params, buffers[DISCRIMINATOR], fake_d, True) if need_fake else empty
                out[DISCRIMINATOR] = family_losses(DISCRIMINATOR, part, real, fake_d, real_logits, fake_logits)
            if want_g:  # the generator's loss through the discriminator, whose parameters do not move here
                frozen = {k: v.detach() for k, v in d_params.items()} if want_d else d_params
                fake_logits = d_net.run(frozen, buffers[DISCRIMINATOR], fake, True)
                out[GENERATOR] = family_losses(GENERATOR, BOTH, real, fake, real_logits.detach(), fake_logits)
            return out, (real_logits.detach(), fake_logits.detach())

        def objective(theta_which, others, buffers, real, noise, which):
            out, logits = losses(which, {**others, **theta_which}, buffers, real, noise)
            return sum(out[p].sum() for p in which), ({p: out[p].detach() for p in which}, logits)

        gradient_of = torch.func.grad(objective, argnums=0, has_aux=True)
        # A joint match evaluates the movers together (one forward); otherwise each mover is evaluated on its
        # own, in order, at the same parameters (the AEC env's simultaneous tick: BatchNorm sees both forwards).
        evaluations = (movers,) if self.match.joint or len(movers) == 1 else tuple((p,) for p in movers)

        def tick_function(params, buffers, states, real, noise, masks):
            grads, loss, logits = {}, {}, None
            for which in evaluations:
                # differentiate each layer's slice on its own: the gradient is then one concatenation (a gradient
                # w.r.t. the flat vector would add a zero-padded full-length tensor per layer)
                theta = {p: _slices(nets[p], params[p]) for p in which}
                others = {p: _slices(nets[p], params[p].detach()) for p in PLAYERS if p not in which}
                parts, (values, logits) = gradient_of(theta, others, buffers, real, noise, which)
                grads.update({p: torch.cat(parts[p], dim=-1) for p in which})
                loss.update(values)
            real_logits, fake_logits = logits
            need_real = GENERATOR in movers or part != FAKE
            need_fake = GENERATOR in movers or part != REAL
            d_real = torch.sigmoid(real_logits).mean(-1) if need_real else None
            d_fake = torch.sigmoid(fake_logits).mean(-1) if need_fake else None
            value = gan_value(real_logits, fake_logits) if need_real and need_fake else None
            new_params, new_states, results = {}, {}, {}
            for p in movers:
                current = params[p][0] if lone else params[p]
                delta, new_states[p] = transforms[p].update(grads[p][0] if lone else grads[p], states[p], current)
                delta = delta.unsqueeze(0) if lone else delta
                moved = params[p] + delta
                if masks[p] is not None:
                    moved = torch.where(masks[p].unsqueeze(-1), moved, params[p])
                new_params[p] = moved
                results[p] = MoveResult(loss[p], gradient_norm(grads[p]), d_real, d_fake, value,
                                        finite_witness(delta), finite_witness(moved))  # fmt: skip
            return new_params, new_states, results

        return tick_function


def _slices(net: BatchedNetwork, theta: torch.Tensor) -> list[torch.Tensor]:
    """The ``(n, numel)`` slice of each named parameter of ``theta`` ``(n, P)``, in the flat layout's order."""
    return [theta[:, s.offset : s.offset + s.numel] for s in net.slots]


def _named(net: BatchedNetwork, parts: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Name -> ``(n, *shape)`` parameter, from the slices made by :func:`_slices`."""
    return {s.name: part.reshape(part.shape[0], *s.shape) for s, part in zip(net.slots, parts)}


def _layout(tree: Any) -> tuple:
    """The structure of ``tree`` (dicts, tuples, lists of tensors and None) with each tensor's shape, dtype and device."""
    if isinstance(tree, torch.Tensor):
        return (tree.shape, tree.dtype, tree.device)
    if isinstance(tree, dict):
        return tuple((k, _layout(v)) for k, v in tree.items())
    if isinstance(tree, (tuple, list)):
        return (type(tree), *(_layout(v) for v in tree))
    return (type(tree), tree) if tree is None or isinstance(tree, (bool, int, float, str)) else (type(tree), id(tree))


def _own_code(fn: Callable, key: tuple) -> Callable:
    """``fn`` with a code object of its own: the compiler caches per code object, so each tick keeps one entry."""
    code = fn.__code__.replace(co_name=f"tick_{key[0]}{'_masked' if key[1] else ''}")
    own = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    return functools.wraps(fn)(own)


__all__ = ["CompiledTicks", "MoveResult", "compile_problems", "compiled_ticks"]
