"""The differentiable game: N games of one task in lockstep, each under its loss family, with its own streams.

A game's state has a leading game dimension: each player's parameters are one ``(N, P)``
buffer, its buffers (BatchNorm statistics) ``(N, ...)`` tensors, and every random stream (data,
noise, losses) is one generator per game, seeded from the game's seed exactly as a lone game
is. A lone game is N = 1 of the same code. Environments add turn-taking on top
(:mod:`minimax.core.match`).

How the networks run may differ by N, where that measures faster (:mod:`minimax.core.networks`):
for N = 1 the modules themselves run (their parameters are views of row 0); for N > 1 the
networks are lowered to batched kernels (or ``torch.func.vmap`` for layers that are not), and
game i follows the trajectory it would follow alone, to round-off (a batched matmul may round
differently from an unbatched one). Every loss family and option (R1, R2, WGAN-GP, instance
noise) runs per game, with per-game input gradients and per-game random streams; games with
different loss families are evaluated group by group.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from minimax.core.flat import FlatModule, bind_buffers
from minimax.core.losses import LossFamily, Outcome, gan_value, make_loss
from minimax.core.networks import BatchedNetwork, Bound, ModuleNetwork
from minimax.core.players import BOTH, DISCRIMINATOR, FAKE, GENERATOR, PARTS, PLAYERS, REAL
from minimax.core.task import Task
from minimax.utils.checks import check_choice, check_int

FAKE_MODES = ("train", "eval")
PRECISIONS = ("highest", "tf32", "bf16")
EXECUTIONS = ("auto", "modules", "batched")
STREAMS = ("data", "noise", "loss")


def stream_seeds(seed: int) -> tuple[int, int, int, int]:
    """The four seeds a game derives from its seed: weight init, data, noise and loss streams."""
    words = np.random.SeedSequence(seed).generate_state(4, dtype=np.uint64)
    return tuple(int(w) % 2**63 for w in words)  # type: ignore[return-value]


def build_players(task: Task, seed: int) -> dict[str, nn.Module]:
    """Fresh networks of ``task`` initialised on the CPU from ``seed``, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        # The CPU generator alone: what torch.manual_seed does for CPU tensors, without also queueing a lazy seed
        # for every accelerator backend (1 ms a call in stack captures: 13 s of a 10,000-game reset)
        torch.random.default_generator.manual_seed(seed)
        return {DISCRIMINATOR: task.build_discriminator(), GENERATOR: task.build_generator()}


@contextmanager
def matmul_precision(mode: str, device: torch.device) -> Iterator[None]:
    """The matmul precision of one evaluation (restores the global TF32 flag on exit)."""
    if mode == "tf32":
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    elif mode == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


@dataclass(frozen=True)
class Minibatch:
    """The random inputs of one turn for some games: target samples ``(n, b, *data_shape)``, noise ``(n, b, z)``.

    ``part`` is ``"both"`` for a full minibatch, or ``"real"``/``"fake"`` for a
    discriminator half batch (``b`` is then half the batch size): its loss is then its
    real-data or its generated-data term alone, while the other player can still be
    observed on the same minibatch.
    """

    real: torch.Tensor
    noise: torch.Tensor
    part: str = BOTH


@dataclass(frozen=True)
class Evaluation:
    """Losses ``(n,)``, flat gradients ``(n, P)`` and gradient norms ``(n,)`` of some players on one minibatch.

    Plus the game's diagnostics ``(n,)``: mean D(x), mean D(G(z)) and the value V. Every
    tensor is detached and lives on the game's device; nothing has been copied to the host.
    On a half-batch turn the diagnostics of the half that was not evaluated are None.
    """

    losses: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]
    grad_norms: dict[str, torch.Tensor]
    d_real: torch.Tensor | None
    d_fake: torch.Tensor | None
    value: torch.Tensor | None


def gradient_norm(gradient: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each game's flat gradient ``(n, P)`` -> ``(n,)``."""
    if gradient.shape[0] == 1:  # one game: the reduction of a plain vector, as a lone game always took it
        return torch.linalg.vector_norm(gradient[0]).unsqueeze(0)
    return torch.linalg.vector_norm(gradient, dim=-1)


def loss_term(family: LossFamily, player: str, part: str):
    """The loss function of ``player`` under ``family`` on a minibatch ``part`` (a half batch: the discriminator's half-term)."""
    if player == GENERATOR:
        return family.generator_loss
    return {BOTH: family.discriminator_loss, REAL: family.discriminator_real_loss,
            FAKE: family.discriminator_fake_loss}[part]  # fmt: skip


class Game:
    """N games of ``task``: parameters as ``(N, P)`` buffers, per-game random streams and loss families.

    ``loss`` is one loss family for every game or a sequence of N (one per game).

    ``fake_mode`` is the generator's mode when it makes the samples of a discriminator-only
    turn: ``"train"`` (batch statistics in BatchNorm, running statistics updated: PyTorch's
    usual loop) or ``"eval"`` (running statistics, nothing updated: Keras's
    ``generator.predict``, the report's code). The generator's own turns always run in train mode.

    ``precision`` trades exactness for speed, knowingly: ``"highest"`` (default) computes in the
    game's dtype; ``"tf32"`` lets CUDA matmuls use TensorFloat-32 (no effect on the CPU);
    ``"bf16"`` runs the networks under bfloat16 autocast (parameters, gradients and losses stay
    in the game's dtype). Both change trajectories.

    ``execution``: ``"auto"`` runs the modules themselves for one game and batched kernels for
    more; ``"batched"`` forces the batched kernels (also for one game); ``"modules"`` needs N = 1.
    """

    # Configuration and state (attribute -> its key in state_dict), checked by a test to name every attribute.
    CONFIG = ("task", "num_games", "device", "dtype", "fake_mode", "precision", "losses", "_families", "modular",
              "networks", "_live", "_index_cache", "all_games", "_loss_rng_of")  # fmt: skip
    STATE = {"params": "parameters", "buffers": "buffers", "data_rngs": "rngs", "noise_rngs": "rngs",
             "loss_rngs": "rngs", "tasks": "tasks"}  # fmt: skip

    def __init__(
        self,
        task: Task,
        num_games: int = 1,
        loss: str | LossFamily | Sequence[str | LossFamily] = "minimax",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        fake_mode: str = "train",
        precision: str = "highest",
        execution: str = "auto",
    ) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must be a minimax.Task, got {task!r}")
        self.num_games = check_int("num_games", num_games, minimum=1)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.device = torch.empty(0, device=device).device  # "cuda" -> "cuda:0", as tensors report it
        self.dtype = dtype
        self.fake_mode = check_choice("fake_mode", fake_mode, FAKE_MODES)
        self.precision = check_choice("precision", precision, PRECISIONS)
        execution = check_choice("execution", execution, EXECUTIONS)
        if execution == "modules" and num_games != 1:
            raise ValueError(f"execution='modules' runs one game's modules; this game has {num_games} games")
        specs = [loss] * num_games if isinstance(loss, (str, LossFamily)) else list(loss)
        if len(specs) != num_games:
            raise ValueError(f"loss must be one family or one per game ({num_games}), got {len(specs)}")
        self.losses: list[LossFamily] = [make_loss(spec) for spec in specs]
        names = [family.name for family in self.losses]
        # Games grouped by loss family (canonical name): one loss call per group in a turn.
        self._families = {name: tuple(i for i, n in enumerate(names) if n == name) for name in dict.fromkeys(names)}
        # Game 0 plays the task itself; the others a shallow copy each: big read-only data (images) is
        # shared, the state that Task.reset rebinds (a training set, its shuffle) is each game's own.
        self.task = task
        self.tasks: list[Task] = [task] + [copy.copy(task) for _ in range(num_games - 1)]
        template = {p: m.to(self.device, dtype) for p, m in build_players(task, seed=0).items()}
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, dict[str, torch.Tensor]] = {}
        for p in PLAYERS:
            size = sum(t.numel() for t in template[p].parameters())
            self.params[p] = torch.zeros(num_games, size, device=self.device, dtype=dtype)
            self.buffers[p] = {name: torch.zeros((num_games, *b.shape), device=self.device, dtype=b.dtype)
                               for name, b in template[p].named_buffers()}  # fmt: skip
        self.modular = execution == "modules" or (execution == "auto" and num_games == 1)
        if self.modular:  # the modules run one game: their parameters and buffers view row 0
            flats = {p: FlatModule(template[p], storage=self.params[p][0]) for p in PLAYERS}
            for p in PLAYERS:
                bind_buffers(template[p], {name: b[0] for name, b in self.buffers[p].items()})
            self.networks = {p: ModuleNetwork(flats[p]) for p in PLAYERS}
            self._live = {p: Bound(None, None) for p in PLAYERS}
        else:
            self.networks = {p: BatchedNetwork(FlatModule(template[p])) for p in PLAYERS}
        self.data_rngs = [torch.Generator(self.device) for _ in range(num_games)]
        self.noise_rngs = [torch.Generator(self.device) for _ in range(num_games)]
        self.loss_rngs = [torch.Generator(self.device) for _ in range(num_games)]  # penalty interpolates, instance noise
        self._index_cache: dict[tuple[int, ...], torch.Tensor] = {}
        self.all_games = tuple(range(num_games))
        self._loss_rng_of = dict(zip(self.all_games, self.loss_rngs))

    # ------------------------------------------------------------------------------------ state

    @property
    def loss(self) -> LossFamily:
        """The loss family of every game (an error when games differ: see ``losses``)."""
        if len(self._families) != 1:
            raise AttributeError(f"the games have different loss families ({', '.join(self._families)}); see game.losses")
        return self.losses[0]

    @property
    def zero_sum(self) -> list[bool]:
        """Per game: whether its loss family makes the game zero-sum."""
        return [family.zero_sum for family in self.losses]

    def size(self, player: str) -> int:
        """Number of parameters of one game's ``player``."""
        return self.params[player].shape[1]

    def parameters(self, player: str) -> torch.Tensor:
        """``player``'s live ``(N, P)`` parameter buffer (moves change it in place)."""
        return self.params[player]

    def module(self, player: str, game: int = 0) -> nn.Module:
        """A fresh copy of ``player``'s network holding game ``game``'s parameters and buffers (to export or inspect)."""
        module = copy.deepcopy(self.networks[player].template.module)
        flat = FlatModule(module)
        with torch.no_grad():
            flat.flat.copy_(self.params[player][game])
            for name, b in module.named_buffers():
                b.copy_(self.buffers[player][name][game])
        return module

    def reset(self, seeds: Sequence[int]) -> None:
        """Every game restarted from its own seed: initial weights, data, noise and loss streams."""
        seeds = [int(s) for s in seeds]
        if len(seeds) != self.num_games:
            raise ValueError(f"reset needs one seed per game ({self.num_games}), got {len(seeds)}")
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                init_seed, data_seed, noise_seed, loss_seed = stream_seeds(seed)
                self.data_rngs[i].manual_seed(data_seed)
                self.noise_rngs[i].manual_seed(noise_seed)
                self.loss_rngs[i].manual_seed(loss_seed)
                self.tasks[i].reset(self.data_rngs[i])  # a fixed training set first: the networks may scale by it
                for p, module in build_players(self.tasks[i], init_seed).items():
                    module = module.to(self.device, self.dtype)
                    self.params[p][i] = torch.cat([t.detach().reshape(-1) for t in module.parameters()])
                    for name, b in module.named_buffers():
                        self.buffers[p][name][i] = b

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle: the modules' parameters and buffers view the game's rows again (pickling copies views apart)."""
        self.__dict__.update(state)
        if not self.modular:
            return
        for p in PLAYERS:
            flat = self.networks[p].template
            flat.flat = self.params[p][0]
            with torch.no_grad():
                for slot, parameter in zip(flat.slots, flat.parameter_list):
                    parameter.data = flat.view(flat.flat, slot)
            bind_buffers(flat.module, {name: b[0] for name, b in self.buffers[p].items()})

    def state_dict(self) -> dict[str, Any]:
        """Everything that decides what the games do next: parameters, buffers, every stream, the tasks' state."""
        return {
            "parameters": {p: self.params[p].clone() for p in PLAYERS},
            "buffers": {p: {k: v.clone() for k, v in self.buffers[p].items()} for p in PLAYERS},
            "rngs": {name: [g.get_state() for g in self._streams(name)] for name in STREAMS},
            "tasks": [task.state_dict() for task in self.tasks],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put the games in a saved state; everything is checked first, and nothing changes on an error."""
        _keys("game state", state, {"parameters", "buffers", "rngs", "tasks"})
        for p in PLAYERS:
            _tensor_like(f"{p} parameters", state["parameters"].get(p), self.params[p])
            _keys(f"{p} buffers", state["buffers"].get(p), set(self.buffers[p]))
            for name, b in self.buffers[p].items():
                _tensor_like(f"{p} buffer {name}", state["buffers"][p][name], b)
        _keys("random streams", state["rngs"], set(STREAMS))
        for name in STREAMS:
            saved = state["rngs"][name]
            if not isinstance(saved, (list, tuple)) or len(saved) != self.num_games:
                raise ValueError(f"the {name} streams: expected one state per game ({self.num_games}), got {_what(saved)}")
            for s in saved:
                if not isinstance(s, torch.Tensor) or s.dtype != torch.uint8 or s.dim() != 1:
                    raise ValueError(f"the {name} streams: expected generator states (1-D uint8 tensors), got {_what(s)}")
        if not isinstance(state["tasks"], (list, tuple)) or len(state["tasks"]) != self.num_games:
            raise ValueError(f"task states: expected one per game ({self.num_games}), got {_what(state['tasks'])}")
        for task, saved in zip(self.tasks, state["tasks"]):
            task.check_state(saved)
        current = [[g.get_state() for g in self._streams(name)] for name in STREAMS]
        try:
            for name in STREAMS:
                for g, s in zip(self._streams(name), state["rngs"][name]):
                    g.set_state(s.cpu() if g.device.type == "cpu" else s)
        except (RuntimeError, TypeError) as error:
            for name, saved in zip(STREAMS, current):
                for g, s in zip(self._streams(name), saved):
                    g.set_state(s)
            raise ValueError(f"cannot restore the random streams ({error})") from None
        with torch.no_grad():
            for p in PLAYERS:
                self.params[p].copy_(state["parameters"][p])
                for name, b in self.buffers[p].items():
                    b.copy_(state["buffers"][p][name])
        for task, saved in zip(self.tasks, state["tasks"]):
            task.load_state_dict({k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in saved.items()})

    def _streams(self, name: str) -> list[torch.Generator]:
        return {"data": self.data_rngs, "noise": self.noise_rngs, "loss": self.loss_rngs}[name]

    # ------------------------------------------------------------------------------------ turns

    def rows(self, games: Sequence[int] | None) -> tuple[int, ...]:
        """The games a call concerns: all of them (None), or the listed ones."""
        return self.all_games if games is None else tuple(int(i) for i in games)

    def _index(self, rows: tuple[int, ...]) -> torch.Tensor:
        if rows not in self._index_cache:
            self._index_cache[rows] = torch.tensor(rows, dtype=torch.long, device=self.device)
        return self._index_cache[rows]

    def sample(self, part: str = BOTH, games: Sequence[int] | None = None, batch_size: int | None = None) -> Minibatch:
        """Draw one turn's minibatch for each listed game from its own streams.

        ``part="real"`` or ``"fake"`` draws half batches (``batch_size // 2`` target samples
        and as many noise vectors).
        """
        check_choice("minibatch part", part, PARTS)
        rows = self.rows(games)
        n = self.task.batch_size if batch_size is None else check_int("batch_size", batch_size, minimum=1)
        if part != BOTH:
            if n // 2 < 1:
                raise ValueError(f"a half-batch turn needs a batch size of at least 2, got {n}")
            n //= 2
        if len(rows) == 1:  # one game: its draws as they are (no stacking copy)
            i = rows[0]
            real = self.tasks[i].sample_data(n, self.data_rngs[i], self.device, self.dtype).unsqueeze(0)
            noise = self.tasks[i].sample_noise(n, self.noise_rngs[i], self.device, self.dtype).unsqueeze(0)
            return Minibatch(real, noise, part)
        tasks = [self.tasks[i] for i in rows]
        real = self.task.sample_data_games(tasks, n, [self.data_rngs[i] for i in rows], self.device, self.dtype)
        noise = self.task.sample_noise_games(n, [self.noise_rngs[i] for i in rows], self.device, self.dtype)
        return Minibatch(real, noise, part)

    def _bind(self, rows: tuple[int, ...], differentiate: tuple[str, ...]) -> tuple[dict[str, Bound], dict]:
        """Both networks bound to the listed games; the subset's buffers are copies, to write back after."""
        if self.modular:  # the modules run on their own parameters and buffers (views of row 0)
            return self._live, {}
        everyone = rows == self.all_games
        at = None if everyone else self._index(rows)
        buffers = {p: {k: (v if everyone else v[at]) for k, v in self.buffers[p].items()} for p in PLAYERS}
        bound = {}
        for p in PLAYERS:
            theta = self.params[p] if everyone else self.params[p][at]
            bound[p] = self.networks[p].bind(theta, buffers[p], requires_grad=p in differentiate)
        return bound, ({} if everyone else {"at": at, "buffers": buffers})

    def _write_back(self, copies: dict) -> None:
        if copies:
            with torch.no_grad():
                for p in PLAYERS:
                    for k, v in copies["buffers"][p].items():
                        self.buffers[p][k][copies["at"]] = v

    @contextmanager
    def _kept(self, rows: tuple[int, ...], keep: bool) -> Iterator[None]:
        """Restore the listed games' buffers and loss streams on exit when ``keep`` (observing changes nothing)."""
        if not keep:
            yield
            return
        saved = {p: {k: v.clone() for k, v in self.buffers[p].items()} for p in PLAYERS}
        streams = [(self.loss_rngs[i], self.loss_rngs[i].get_state()) for i in rows]
        try:
            yield
        finally:
            for rng, s in streams:
                rng.set_state(s)
            with torch.no_grad():
                for p in PLAYERS:
                    for k, v in self.buffers[p].items():
                        v.copy_(saved[p][k])

    def _groups(self, rows: tuple[int, ...]) -> list[tuple[LossFamily, torch.Tensor | None, tuple[int, ...]]]:
        """The loss-family groups among ``rows``: (family, positions in rows or None for all, the games)."""
        if len(self._families) == 1:
            return [(self.losses[rows[0]], None, rows)]
        groups = []
        for name, members in self._families.items():
            positions = tuple(j for j, i in enumerate(rows) if i in members)
            if positions:
                index = None if len(positions) == len(rows) else self._index(positions)
                groups.append((self.losses[rows[positions[0]]], index, tuple(rows[j] for j in positions)))
        return groups

    def _losses(self, player: str, part: str, rows: tuple[int, ...], real: torch.Tensor, fake: torch.Tensor,
                real_logits: torch.Tensor, fake_logits: torch.Tensor, critic, rngs) -> torch.Tensor:  # fmt: skip
        """Per-game losses (n,) of ``player``, each game under its loss family, with its own streams."""
        groups = self._groups(rows)
        streams = (lambda games: [rngs[i] for i in games]) if rngs is not None else (lambda games: None)  # noqa: E731
        if len(groups) == 1:
            family, _, games = groups[0]
            outcome = Outcome(real, fake, real_logits, fake_logits, critic(None), streams(games), len(games))
            return loss_term(family, player, part)(outcome)
        losses = real_logits.new_zeros(len(rows))
        for family, at, games in groups:
            pick = (lambda t: t[at]) if at is not None else (lambda t: t)  # noqa: E731
            outcome = Outcome(pick(real), pick(fake), pick(real_logits), pick(fake_logits), critic(at),
                              streams(games), len(games))  # fmt: skip
            losses = losses.index_put((at,), loss_term(family, player, part)(outcome)) if at is not None else \
                loss_term(family, player, part)(outcome)  # fmt: skip
        return losses

    def evaluate(
        self,
        batch: Minibatch,
        players: tuple[str, ...] = PLAYERS,
        games: Sequence[int] | None = None,
        update_buffers: bool = True,
    ) -> Evaluation:
        """Losses and flat gradients of ``players`` in the listed games on ``batch``, in one forward/backward.

        ``update_buffers=False`` leaves the buffers (BatchNorm running statistics) and the loss
        streams as they were: for looking at a player who is not moving, so that observing
        never changes the game. Each gradient is taken with respect to that player's own
        parameters only.
        """
        rows = self.rows(games)
        want_d, want_g = DISCRIMINATOR in players, GENERATOR in players
        # On a half-batch turn the discriminator needs only its half; the generator always needs both.
        need_real = want_g or batch.part != FAKE
        need_fake = want_g or batch.part != REAL
        n = len(rows)
        d_net, g_net = self.networks[DISCRIMINATOR], self.networks[GENERATOR]
        losses: dict[str, torch.Tensor] = {}
        gradients: dict[str, torch.Tensor] = {}
        empty = batch.real.new_empty(n, 0)
        with torch.enable_grad(), self._kept(rows, keep=not update_buffers):
            bound, copies = self._bind(rows, players)
            d = bound[DISCRIMINATOR]
            with matmul_precision(self.precision, self.device):
                # Build only the graph each requested gradient needs.
                with torch.set_grad_enabled(want_g):
                    train_fakes = want_g or self.fake_mode == "train"
                    fake = g_net(bound[GENERATOR], batch.noise, train_fakes) if need_fake else batch.real[:, :0]
                with torch.set_grad_enabled(want_d):
                    real_logits = d_net(d, batch.real, True) if need_real else empty
                fake_logits = d_net(d, fake, True) if need_fake else empty
            if self.precision == "bf16":  # the losses in full precision
                real_logits, fake_logits = real_logits.to(self.dtype), fake_logits.to(self.dtype)

            def critic(at: torch.Tensor | None):
                if at is None:
                    return lambda x: d_net(d, x, True)
                sub = Bound({k: v[at] for k, v in d.params.items()}, {k: v[at] for k, v in d.buffers.items()})
                return lambda x: d_net(sub, x, True)

            rngs = self._loss_rng_of
            if want_d:
                loss_d = self._losses(DISCRIMINATOR, batch.part, rows, batch.real, fake, real_logits, fake_logits,
                                      critic, rngs)  # fmt: skip
                gradients[DISCRIMINATOR] = d_net.gradient(loss_d.sum(), d, retain_graph=want_g)
                losses[DISCRIMINATOR] = loss_d.detach()
            if want_g:
                loss_g = self._losses(GENERATOR, BOTH, rows, batch.real, fake, real_logits, fake_logits, critic, rngs)
                gradients[GENERATOR] = g_net.gradient(loss_g.sum(), bound[GENERATOR])
                losses[GENERATOR] = loss_g.detach()
            self._write_back(copies)
        with torch.no_grad():
            rl, fl = real_logits.detach(), fake_logits.detach()
            return Evaluation(  # None for what a half-batch turn did not need to compute
                losses=losses,
                gradients=gradients,
                grad_norms={p: gradient_norm(g) for p, g in gradients.items()},
                d_real=torch.sigmoid(rl).mean(-1) if need_real else None,
                d_fake=torch.sigmoid(fl).mean(-1) if need_fake else None,
                value=gan_value(rl, fl) if need_real and need_fake else None,
            )

    def losses_at(
        self,
        params: dict[str, torch.Tensor],
        batch: Minibatch,
        rngs: Sequence[torch.Generator] | None = None,
        games: Sequence[int] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Both players' losses ``(n,)`` on ``batch`` as differentiable functions of parameters ``params`` ``(n, P)``.

        The functional twin of :meth:`evaluate` (the networks run with ``params`` in place of
        their own), for the joint vector field and its Jacobian (:mod:`minimax.core.field`).
        Buffers (BatchNorm statistics) are left as they were; ``rngs`` are the listed games'
        loss streams (one per game; None: a fresh generator seeded 0 for each draw).
        """
        rows = self.rows(games)
        at = None if rows == self.all_games else self._index(rows)
        copies = {p: {k: (v if at is None else v[at]).clone() for k, v in self.buffers[p].items()} for p in PLAYERS}
        d_net, g_net = self.networks[DISCRIMINATOR], self.networks[GENERATOR]
        g = g_net.functional(params[GENERATOR], copies[GENERATOR])
        d = d_net.functional(params[DISCRIMINATOR], copies[DISCRIMINATOR])
        fake = g_net(g, batch.noise, True)

        def critic(sub: torch.Tensor | None):
            if sub is None:
                return lambda x: d_net(d, x, True)
            part = d_net.functional(params[DISCRIMINATOR][sub], {k: v[sub] for k, v in copies[DISCRIMINATOR].items()})
            return lambda x: d_net(part, x, True)

        real_logits, fake_logits = d_net(d, batch.real, True), d_net(d, fake, True)
        streams = None if rngs is None else dict(zip(rows, rngs))
        return {
            DISCRIMINATOR: self._losses(DISCRIMINATOR, batch.part, rows, batch.real, fake, real_logits, fake_logits,
                                        critic, streams),  # fmt: skip
            GENERATOR: self._losses(GENERATOR, BOTH, rows, batch.real, fake, real_logits, fake_logits, critic, streams),
        }

    @torch.no_grad()
    def generate(self, n: int, rng: torch.Generator | None = None, games: Sequence[int] | None = None) -> torch.Tensor:
        """``n`` samples of each listed game's generator, ``(games, n, *data_shape)``, in inference mode.

        Every game sees the same noise, drawn from ``rng`` (by default a fresh stream seeded 0,
        so evaluation never perturbs training); buffers are not touched.
        """
        rows = self.rows(games)
        rng = rng if rng is not None else torch.Generator(self.device).manual_seed(0)
        noise = self.task.sample_noise(n, rng, self.device, self.dtype)
        return self._run_frozen(GENERATOR, rows, noise, train=False)

    @torch.no_grad()
    def discriminate(self, x: torch.Tensor, games: Sequence[int] | None = None) -> torch.Tensor:
        """D(x) = sigmoid(logit) for each listed game, ``(games, b)``: ``x`` is one batch for all or ``(games, b, ...)``."""
        rows = self.rows(games)
        x = x.to(self.device, self.dtype)
        return torch.sigmoid(self._run_frozen(DISCRIMINATOR, rows, x, train=True))

    def _run_frozen(self, player: str, rows: tuple[int, ...], x: torch.Tensor, train: bool) -> torch.Tensor:
        """``player``'s network on ``x`` for the listed games with copies of the buffers (nothing changes)."""
        at = None if rows == self.all_games else self._index(rows)
        shared = x.dim() == len(self.task.data_shape if player == DISCRIMINATOR else (self.task.noise_dim,)) + 1
        x = x.unsqueeze(0).expand(len(rows), *x.shape) if shared else x
        theta = self.params[player] if at is None else self.params[player][at]
        buffers = {k: (v if at is None else v[at]).clone() for k, v in self.buffers[player].items()}
        net = self.networks[player]
        bound = net.functional(theta, buffers) if isinstance(net, ModuleNetwork) else Bound(net.leaves(theta, False), buffers)
        return net(bound, x, train)


def _what(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return f"{type(value).__name__} {value!r}"[:120]


def _keys(what: str, value: Any, expected: set[str]) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected a dict with keys {sorted(expected)}, got {_what(value)}")
    if set(value) != expected:
        missing, extra = sorted(expected - set(value)), sorted(set(value) - expected)
        raise ValueError(f"{what}: expected keys {sorted(expected)}; missing {missing}, unexpected {extra}")


def _tensor_like(what: str, value: Any, like: torch.Tensor) -> None:
    if not isinstance(value, torch.Tensor) or value.shape != like.shape or value.dtype != like.dtype:
        raise ValueError(f"{what}: expected a {like.dtype} tensor of shape {list(like.shape)}, got {_what(value)}")


#: Deprecated: N games are a :class:`Game` with ``num_games=N`` (same arguments, same order).
VectorGame = Game

__all__ = ["Evaluation", "Game", "Minibatch", "build_players", "gradient_norm", "stream_seeds"]
