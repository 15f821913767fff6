"""The joint vector field of a game and its Jacobian: the instruments of saddle-point analysis.

At a state theta = (theta_D, theta_G) and one fixed minibatch, the *joint vector
field* stacks each player's gradient of its own loss:

    xi(theta) = (grad_D L_D, grad_G L_G)

so simultaneous gradient descent is ``theta <- theta - h xi(theta)``. Its Jacobian
``J = d xi / d theta`` (the "game Hessian": not symmetric unless the game is a
potential game) decides local behaviour: a fixed point is stable under small-step
gradient play when every eigenvalue of J has a positive real part; purely imaginary
eigenvalues mean rotation. ``J = S + A`` splits into a symmetric part (potential)
and an antisymmetric part (rotation), and ``H = 1/2 ||xi||^2`` is the Hamiltonian
that consensus optimisation descends (Mescheder et al. 2017; Balduzzi et al. 2018).

Sign convention: Mescheder et al. (2018) write the field as v = -xi for the
discriminator ascending, so their eigenvalues are the negatives of ours.

Games in lockstep: vectors carry the game dimension, ``{player: (N, P)}``, and every product is
per game (the games share nothing, so one backward pass serves all of them); ``jacobian()`` is
``(N, D, D)``. A lone game's field (``squeeze=True``, what a lone env hands out) takes and returns
``(P,)`` vectors and a ``(D, D)`` Jacobian, as one game's field naturally would.

Products with J and J^T cost two backward passes (double backward); the full matrix
(``jacobian()``) is for small games.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from minimax.core.players import BOTH, PLAYERS

Vector = dict[str, torch.Tensor]


class JointField:
    """xi, J v, J^T u and J for the games of ``game`` on one fixed minibatch (the turn's).

    ``game`` is a :class:`minimax.core.game.Game` or a payoff game (anything with
    ``parameters``, ``loss_rngs`` and ``losses_at(params, batch, rngs)``). A loss that draws
    random numbers draws the same ones at every evaluation (each game's loss stream is
    rewound to where it stood when the field was made), so xi is a deterministic function
    of the parameters.
    """

    def __init__(self, game, batch, squeeze: bool = False) -> None:
        if squeeze and game.num_games != 1:
            raise ValueError(f"a squeezed field is one game's; this game has {game.num_games}")
        self.game = game
        self.batch = batch
        self.squeeze = squeeze
        self._rng_states = [rng.get_state() for rng in game.loss_rngs]

    def resampled(self) -> "JointField":
        """The same games' field on a fresh minibatch drawn from their own streams (stochastic
        extragradient with independent samples at its two steps draws one)."""
        return JointField(self.game, self.game.sample(BOTH), squeeze=self.squeeze)

    def current(self) -> Vector:
        """The players' live parameters (views)."""
        return self._out({p: self.game.parameters(p) for p in PLAYERS})

    def _rngs(self) -> list[torch.Generator]:
        rngs = []
        for original, state in zip(self.game.loss_rngs, self._rng_states):
            rng = torch.Generator(original.device)
            rng.set_state(state)
            rngs.append(rng)
        return rngs

    def _in(self, params: Mapping[str, torch.Tensor] | None) -> Vector:
        """``params`` (default: the current state) with the game dimension."""
        if params is None:
            return {p: self.game.parameters(p) for p in PLAYERS}
        return {p: params[p].unsqueeze(0) if self.squeeze else params[p] for p in PLAYERS}

    def _out(self, vector: Vector) -> Vector:
        return {p: v[0] for p, v in vector.items()} if self.squeeze else vector

    def _leaves(self, params: Mapping[str, torch.Tensor] | None) -> Vector:
        return {p: v.detach().clone().requires_grad_(True) for p, v in self._in(params).items()}

    def losses(self, params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """Each player's loss at ``params`` (default: the current state), detached: ``(N,)`` (a 0-d tensor squeezed)."""
        with torch.no_grad():
            values = self.game.losses_at({p: v.detach() for p, v in self._in(params).items()}, self.batch, self._rngs())
        return self._out({p: v.detach() for p, v in values.items()})

    def _field(self, leaves: Vector, create_graph: bool) -> Vector:
        with torch.enable_grad():
            losses = self.game.losses_at(leaves, self.batch, self._rngs())
            field = {}
            for p in PLAYERS:
                (grad,) = torch.autograd.grad(
                    losses[p].sum(), leaves[p], create_graph=create_graph, retain_graph=True, allow_unused=True
                )
                field[p] = torch.zeros_like(leaves[p]) if grad is None else grad
            return field

    def __call__(self, params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """xi at ``params`` (default: the current state): each player's gradient of its own loss."""
        return self._out({p: v.detach() for p, v in self._field(self._leaves(params), create_graph=False).items()})

    def vjp(self, u: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """J^T u: one backward pass through xi."""
        leaves = self._leaves(params)
        u = self._in(u)
        with torch.enable_grad():
            field = self._field(leaves, create_graph=True)
            inner = sum((field[p] * u[p].detach()).sum() for p in PLAYERS)
            grads = torch.autograd.grad(inner, [leaves[p] for p in PLAYERS], allow_unused=True)
        return self._out({p: torch.zeros_like(leaves[p]) if g is None else g.detach() for p, g in zip(PLAYERS, grads)})

    def jvp(self, v: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """J v, by the double-backward trick: J v = d/dw <J^T w, v> for a dummy w."""
        leaves = self._leaves(params)
        v = self._in(v)
        with torch.enable_grad():
            field = self._field(leaves, create_graph=True)
            dummy = {p: torch.zeros_like(field[p], requires_grad=True) for p in PLAYERS}
            inner = sum((field[p] * dummy[p]).sum() for p in PLAYERS)
            transposed = torch.autograd.grad(inner, [leaves[p] for p in PLAYERS], create_graph=True, allow_unused=True)
            outer = sum((t * v[p].detach()).sum() for p, t in zip(PLAYERS, transposed) if t is not None)
            if not torch.is_tensor(outer) or not outer.requires_grad:  # xi does not depend on theta
                return self._out({p: torch.zeros_like(leaves[p]) for p in PLAYERS})
            grads = torch.autograd.grad(outer, [dummy[p] for p in PLAYERS], allow_unused=True)
        return self._out({p: torch.zeros_like(leaves[p]) if g is None else g.detach() for p, g in zip(PLAYERS, grads)})

    def jacobian(self, params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The full matrix J per game, ``(N, D, D)`` (``(D, D)`` squeezed); rows and columns discriminator then generator."""
        leaves = self._leaves(params)
        with torch.enable_grad():
            field = self._field(leaves, create_graph=True)
            flat = torch.cat([field[p].reshape(field[p].shape[0], -1) for p in PLAYERS], dim=-1)
            rows = []
            for i in range(flat.shape[-1]):
                grads = torch.autograd.grad(flat[:, i].sum(), [leaves[p] for p in PLAYERS], retain_graph=True,
                                            allow_unused=True)  # fmt: skip
                rows.append(torch.cat([torch.zeros_like(leaves[p]) if g is None else g for p, g in zip(PLAYERS, grads)],
                                      dim=-1))  # fmt: skip
        matrix = torch.stack(rows, dim=1).detach()
        return matrix[0] if self.squeeze else matrix

    def hamiltonian(self, params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """H = 1/2 ||xi||^2 per game (a 0-d tensor squeezed)."""
        xi = self._in(self(params)) if self.squeeze else self(params)
        value = 0.5 * sum(xi[p].pow(2).sum(-1) for p in PLAYERS)
        return value[0] if self.squeeze else value


def split(jacobian: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """J = S + A: the symmetric (potential) and antisymmetric (rotational) parts (of each matrix of a batch)."""
    transposed = jacobian.transpose(-1, -2)
    return 0.5 * (jacobian + transposed), 0.5 * (jacobian - transposed)


def eigenvalues(matrix: torch.Tensor) -> torch.Tensor:
    """Complex eigenvalues in float64, sorted by real part then imaginary part (per matrix of a batch ``(..., D, D)``)."""
    if matrix.dim() > 2:
        return torch.stack([eigenvalues(m) for m in matrix.reshape(-1, *matrix.shape[-2:])]).reshape(*matrix.shape[:-1])
    values = torch.linalg.eigvals(matrix.to(torch.float64))
    order = sorted(range(len(values)), key=lambda i: (round(float(values[i].real), 12), float(values[i].imag)))
    return values[order]
