"""N independent games of one task in lockstep, evaluated as one batched computation.

Why: users sweep seeds, learning rates and schedules. Run one after another, each game pays
the eager price (a few dozen small kernels and Python calls per turn). Here both players'
parameters are ``(N, P)`` buffers, the networks run once per turn for all games (lowered to
batched kernels by :mod:`minimax.core.networks`, or through ``torch.func.vmap`` for layers it does
not know), the loss families take their means per game, and the gradients of the N losses
come from one backward pass (the games share no parameters, so the gradient of the sum is
each game's own gradient).

Each game keeps its own random streams (data, noise, losses) and its own copy of the task's
state (a fixed training set and its shuffles), seeded exactly as :class:`minimax.core.game.Game`
seeds them, so game i follows the trajectory it would follow alone, to round-off: a batched
matmul may round differently from an unbatched one.

Per-game loss families are allowed (games are grouped by family inside a turn). Loss options
that differentiate inside the loss or draw random numbers (gradient penalties, instance
noise) are refused: their per-game form (an input gradient per game, a random stream per
game inside one batched loss) is not written yet.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch


from minimax.core.networks import BatchedNetwork
from minimax.utils.checks import check_choice, check_int
from minimax.core.flat import FlatModule
from minimax.core.game import FAKE_MODES, Game, build_players, stream_seeds
from minimax.core.losses import InstanceNoise, LossFamily, Outcome, Regularized, log_sigmoid, make_loss
from minimax.core.schedules import BOTH, DISCRIMINATOR, FAKE, GENERATOR, PARTS, PLAYERS, REAL
from minimax.core.task import Task


PRECISIONS = ("highest", "tf32", "bf16")


@contextmanager
def _precision(mode: str, device: torch.device) -> Iterator[None]:
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
class VectorBatch:
    """One turn's random inputs for some games: ``real`` (n, b, *data_shape), ``noise`` (n, b, z)."""

    real: torch.Tensor
    noise: torch.Tensor
    part: str = BOTH


@dataclass(frozen=True)
class VectorEvaluation:
    """One player's losses ``(n,)`` and flat gradients ``(n, P)`` for n games, plus diagnostics ``(n,)``.

    Detached device tensors; ``d_real``/``d_fake``/``value`` are None where a half-batch turn
    did not compute them.
    """

    loss: torch.Tensor
    gradient: torch.Tensor
    d_real: torch.Tensor | None
    d_fake: torch.Tensor | None
    value: torch.Tensor | None


def _check_vectorizable(loss: LossFamily) -> LossFamily:
    if isinstance(loss, (Regularized, InstanceNoise)):
        raise ValueError(
            f"loss {loss.name!r} cannot run in a vector game yet: gradient penalties and instance noise need an "
            "input gradient or a random stream per game inside the batched loss; "
            "use minimax.Game (one game at a time) for it"
        )
    return loss


class VectorGame:
    """N games of ``task`` with parameters as ``(N, P)`` buffers and per-game random streams.

    ``loss`` is one loss family for every game or a sequence of N (one per game).
    ``fake_mode`` is as in :class:`minimax.core.game.Game`.

    ``precision`` trades exactness for speed, knowingly: ``"highest"`` (default) computes in the
    game's dtype; ``"tf32"`` lets CUDA matmuls use TensorFloat-32 (10-bit mantissa inputs; no
    effect on the CPU); ``"bf16"`` runs the networks under bfloat16 autocast (parameters,
    gradients, optimizer state and losses stay float32). Both change trajectories: game i then
    no longer equals the lone game to round-off.
    """

    def __init__(
        self,
        task: Task,
        num_games: int,
        loss: str | LossFamily | Sequence[str | LossFamily] = "minimax",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        fake_mode: str = "train",
        precision: str = "highest",
    ) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must be a minimax.tasks.Task, got {task!r}")
        self.num_games = check_int("num_games", num_games, minimum=1)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.device = torch.empty(0, device=device).device
        self.dtype = dtype
        self.fake_mode = check_choice("fake_mode", fake_mode, FAKE_MODES)
        self.precision = check_choice("precision", precision, PRECISIONS)
        specs = [loss] * num_games if isinstance(loss, (str, LossFamily)) else list(loss)
        if len(specs) != num_games:
            raise ValueError(f"loss must be one family or one per game ({num_games}), got {len(specs)}")
        self.losses = [_check_vectorizable(make_loss(spec)) for spec in specs]
        # Games grouped by loss family (by canonical name): one batched loss call per group.
        names = [loss.name for loss in self.losses]
        self._families = {name: self.losses[names.index(name)] for name in dict.fromkeys(names)}
        self._family_of = names
        # A shallow copy per game: big read-only data (images) is shared, per-game state that
        # Task.reset rebinds (a training set, its shuffle) is each game's own.
        self.task = task
        self.tasks = [copy.copy(task) for _ in range(num_games)]
        template = build_players(task, seed=0)
        self.templates: dict[str, FlatModule] = {
            name: FlatModule(module.to(self.device, dtype)) for name, module in template.items()
        }
        self.networks = {p: BatchedNetwork(self.templates[p]) for p in PLAYERS}
        self.params: dict[str, torch.Tensor] = {
            p: torch.zeros(num_games, self.templates[p].size, device=self.device, dtype=dtype) for p in PLAYERS
        }
        self.buffers: dict[str, dict[str, torch.Tensor]] = {
            p: {
                name: torch.zeros((num_games, *b.shape), device=self.device, dtype=b.dtype)
                for name, b in self.templates[p].module.named_buffers()
            }
            for p in PLAYERS
        }
        self.data_rngs = [torch.Generator(self.device) for _ in range(num_games)]
        self.noise_rngs = [torch.Generator(self.device) for _ in range(num_games)]
        self.loss_rngs = [torch.Generator(self.device) for _ in range(num_games)]
        self._index_cache: dict[tuple[int, ...], torch.Tensor] = {}

    # ----------------------------------------------------------------------------- state

    def size(self, player: str) -> int:
        """Number of parameters of one game's ``player``."""
        return self.templates[player].size

    def reset(self, seeds: Sequence[int]) -> None:
        """Every game restarted from its own seed, exactly as ``Game.reset(seed)`` would."""
        seeds = list(seeds)
        if len(seeds) != self.num_games:
            raise ValueError(f"reset needs one seed per game ({self.num_games}), got {len(seeds)}")
        with torch.no_grad():
            for i, seed in enumerate(seeds):
                init_seed, data_seed, noise_seed, loss_seed = stream_seeds(int(seed))
                self.data_rngs[i].manual_seed(data_seed)
                self.noise_rngs[i].manual_seed(noise_seed)
                self.loss_rngs[i].manual_seed(loss_seed)
                self.tasks[i].reset(self.data_rngs[i])
                for p, module in build_players(self.tasks[i], init_seed).items():
                    module = module.to(self.device, self.dtype)
                    self.params[p][i] = torch.cat([t.detach().reshape(-1) for t in module.parameters()])
                    for name, b in module.named_buffers():
                        self.buffers[p][name][i] = b

    def game_parameters(self, i: int, player: str) -> dict[str, torch.Tensor]:
        """Game ``i``'s ``player`` as a state dict (parameters and buffers), e.g. to load into a Game."""
        template = self.templates[player]
        state = {name: t.clone() for name, t in template.unflatten(self.params[player][i]).items()}
        state.update({name: b[i].clone() for name, b in self.buffers[player].items()})
        return state

    def _index(self, games: tuple[int, ...]) -> torch.Tensor:
        if games not in self._index_cache:
            self._index_cache[games] = torch.tensor(games, dtype=torch.long, device=self.device)
        return self._index_cache[games]

    def _all(self, games: tuple[int, ...]) -> bool:
        return len(games) == self.num_games

    # ----------------------------------------------------------------------------- turns

    def sample(self, games: Sequence[int], part: str = BOTH) -> VectorBatch:
        """Draw one turn's minibatch for each listed game from its own streams (as ``Game.sample``)."""
        check_choice("minibatch part", part, PARTS)
        n = self.task.batch_size if part == BOTH else self.task.batch_size // 2
        tasks = [self.tasks[i] for i in games]
        real = self.task.sample_data_games(tasks, n, [self.data_rngs[i] for i in games], self.device, self.dtype)
        noise = self.task.sample_noise_games(n, [self.noise_rngs[i] for i in games], self.device, self.dtype)
        return VectorBatch(real, noise, part)

    def _run(self, player: str, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor,
             train: bool) -> torch.Tensor:  # fmt: skip
        """``player``'s network on every game at once: params and buffers (n, ...), x (n, b, ...)."""
        return self.networks[player](params, buffers, x, train)

    def _player_losses(
        self, player: str, part: str, games: tuple[int, ...], real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """Per-game losses (n,) of ``player``, each under its game's loss family."""
        def term(family: LossFamily):
            if player == GENERATOR:
                return family.generator_loss
            return {BOTH: family.discriminator_loss, REAL: family.discriminator_real_loss,
                    FAKE: family.discriminator_fake_loss}[part]  # fmt: skip

        def batched(family: LossFamily, rl: torch.Tensor, fl: torch.Tensor) -> torch.Tensor:
            # The plain families take their means over the last dim: (n, batch) logits give n losses.
            return term(family)(Outcome(rl, fl, rl, fl, _no_critic, None))

        if len(self._families) == 1:
            return batched(next(iter(self._families.values())), real_logits, fake_logits)
        losses = real_logits.new_zeros(len(games))
        for name, family in self._families.items():
            rows = [j for j, i in enumerate(games) if self._family_of[i] == name]
            if rows:
                at = self._index(tuple(rows))
                losses = losses.index_put((at,), batched(family, real_logits[at], fake_logits[at]))
        return losses

    def evaluate(self, player: str, games: Sequence[int], batch: VectorBatch) -> VectorEvaluation:
        """``player``'s loss and gradient in each listed game on ``batch``; the mover's evaluation.

        Like ``Game.evaluate(batch, (player,))`` for each game: BatchNorm statistics advance as
        they do when that player moves; the other player's parameters are not differentiated.
        """
        check_choice("player", player, PLAYERS)
        games = tuple(games)
        everyone = self._all(games)
        at = None if everyone else self._index(games)
        pick = (lambda t: t) if everyone else (lambda t: t[at])  # noqa: E731
        theta = {p: self.networks[p].leaves(pick(self.params[p]).detach(), requires_grad=p == player) for p in PLAYERS}
        buffers = {p: {k: pick(v) for k, v in self.buffers[p].items()} for p in PLAYERS}
        part = batch.part
        want_d = player == DISCRIMINATOR
        need_real = not want_d or part != FAKE
        need_fake = not want_d or part != REAL
        empty = batch.real.new_zeros(len(games), 0)
        with torch.enable_grad():
            with _precision(self.precision, self.device):
                with torch.set_grad_enabled(not want_d):
                    if need_fake:
                        train_mode = not want_d or self.fake_mode == "train"
                        fake = self._run(GENERATOR, theta[GENERATOR], buffers[GENERATOR], batch.noise, train_mode)
                with torch.set_grad_enabled(want_d):
                    real_logits = self._run(DISCRIMINATOR, theta[DISCRIMINATOR], buffers[DISCRIMINATOR], batch.real, True) if need_real else empty
                fake_logits = self._run(DISCRIMINATOR, theta[DISCRIMINATOR], buffers[DISCRIMINATOR], fake, True) if need_fake else empty
            real_logits, fake_logits = real_logits.to(self.dtype), fake_logits.to(self.dtype)  # losses in full precision
            losses = self._player_losses(player, part, games, real_logits, fake_logits)
            gradient = self.networks[player].gradient(losses.sum(), theta[player])
        if not everyone:  # the subset's buffers were copies: write their updates back
            with torch.no_grad():
                for p in PLAYERS:
                    for k, v in buffers[p].items():
                        self.buffers[p][k][at] = v
        with torch.no_grad():
            rl, fl = real_logits.detach(), fake_logits.detach()
            value = (log_sigmoid(rl).mean(-1) + log_sigmoid(-fl).mean(-1)) if need_real and need_fake else None
            return VectorEvaluation(
                loss=losses.detach(),
                gradient=gradient,
                d_real=torch.sigmoid(rl).mean(-1) if need_real else None,
                d_fake=torch.sigmoid(fl).mean(-1) if need_fake else None,
                value=value,
            )

    @torch.no_grad()
    def generate(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` samples of every game's generator, shape (N, n, *data_shape), in inference mode.

        All games see the same noise (one stream seeded ``seed``), as ``Game.generate`` does.
        """
        rng = torch.Generator(self.device).manual_seed(seed)
        noise = self.task.sample_noise(n, rng, self.device, self.dtype)
        noise = noise.unsqueeze(0).expand(self.num_games, *noise.shape)
        buffers = {k: v.clone() for k, v in self.buffers[GENERATOR].items()}
        params = self.networks[GENERATOR].leaves(self.params[GENERATOR], requires_grad=False)
        return self._run(GENERATOR, params, buffers, noise, train=False)


def _no_critic(x: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("a vector game's loss cannot call the critic (no gradient penalties in a vector game)")


def load_into(game: Game, vector: VectorGame, i: int) -> None:
    """Copy game ``i`` of ``vector`` into a lone :class:`minimax.core.game.Game` of the same task."""
    for p in PLAYERS:
        game.players[p].module.load_state_dict(vector.game_parameters(i, p))


__all__ = ["VectorBatch", "VectorEvaluation", "VectorGame", "load_into"]

