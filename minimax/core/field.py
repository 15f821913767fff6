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

Products with J and J^T cost two backward passes (double backward); the full matrix
(``jacobian()``) is for small games.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from minimax.core.schedules import PLAYERS

Vector = dict[str, torch.Tensor]


class JointField:
    """xi, J v, J^T u and J for one game on one fixed minibatch (the turn's).

    ``game`` is anything with ``players`` (flat parameter buffers), ``loss_rng`` and
    ``losses_at(params, batch, rng)``: a :class:`minimax.Game` or an analytic game.
    A loss that draws random numbers draws the same ones at every evaluation, so xi
    is a deterministic function of the parameters.
    """

    def __init__(self, game, batch) -> None:
        self.game = game
        self.batch = batch
        self._rng_state = game.loss_rng.get_state()

    def current(self) -> Vector:
        """The players' live flat parameters (views)."""
        return {p: self.game.players[p].flat for p in PLAYERS}

    def _rng(self) -> torch.Generator:
        rng = torch.Generator(self.game.loss_rng.device)
        rng.set_state(self._rng_state)
        return rng

    def _leaves(self, params: Mapping[str, torch.Tensor] | None) -> Vector:
        params = self.current() if params is None else params
        return {p: params[p].detach().clone().requires_grad_(True) for p in PLAYERS}

    def losses(self, params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """Each player's loss at ``params`` (default: the current state), detached."""
        with torch.no_grad():
            values = self.game.losses_at({p: v.detach() for p, v in (params or self.current()).items()},
                                         self.batch, self._rng())  # fmt: skip
        return {p: v.detach() for p, v in values.items()}

    def _field(self, leaves: Vector, create_graph: bool) -> Vector:
        with torch.enable_grad():
            losses = self.game.losses_at(leaves, self.batch, self._rng())
            field = {}
            for p in PLAYERS:
                (grad,) = torch.autograd.grad(
                    losses[p], leaves[p], create_graph=create_graph, retain_graph=True, allow_unused=True
                )
                field[p] = torch.zeros_like(leaves[p]) if grad is None else grad
            return field

    def __call__(self, params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """xi at ``params`` (default: the current state): each player's gradient of its own loss."""
        return {p: v.detach() for p, v in self._field(self._leaves(params), create_graph=False).items()}

    def vjp(self, u: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """J^T u: one backward pass through xi."""
        leaves = self._leaves(params)
        with torch.enable_grad():
            field = self._field(leaves, create_graph=True)
            inner = sum((field[p] * u[p].detach()).sum() for p in PLAYERS)
            grads = torch.autograd.grad(inner, [leaves[p] for p in PLAYERS], allow_unused=True)
        return {p: torch.zeros_like(leaves[p]) if g is None else g.detach() for p, g in zip(PLAYERS, grads)}

    def jvp(self, v: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor] | None = None) -> Vector:
        """J v, by the double-backward trick: J v = d/dw <J^T w, v> for a dummy w."""
        leaves = self._leaves(params)
        with torch.enable_grad():
            field = self._field(leaves, create_graph=True)
            dummy = {p: torch.zeros_like(field[p], requires_grad=True) for p in PLAYERS}
            inner = sum((field[p] * dummy[p]).sum() for p in PLAYERS)
            transposed = torch.autograd.grad(inner, [leaves[p] for p in PLAYERS], create_graph=True, allow_unused=True)
            outer = sum((t * v[p].detach()).sum() for p, t in zip(PLAYERS, transposed) if t is not None)
            if not torch.is_tensor(outer) or not outer.requires_grad:  # xi does not depend on theta
                return {p: torch.zeros_like(leaves[p]) for p in PLAYERS}
            grads = torch.autograd.grad(outer, [dummy[p] for p in PLAYERS], allow_unused=True)
        return {p: torch.zeros_like(leaves[p]) if g is None else g.detach() for p, g in zip(PLAYERS, grads)}

    def jacobian(self, params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The full matrix J (rows and columns ordered discriminator then generator), for small games."""
        leaves = self._leaves(params)
        with torch.enable_grad():
            field = self._field(leaves, create_graph=True)
            flat = torch.cat([field[p].reshape(-1) for p in PLAYERS])
            rows = []
            for i in range(flat.numel()):
                grads = torch.autograd.grad(flat[i], [leaves[p] for p in PLAYERS], retain_graph=True, allow_unused=True)
                rows.append(torch.cat([torch.zeros_like(leaves[p]) if g is None else g for p, g in zip(PLAYERS, grads)]))
        return torch.stack(rows).detach()

    def hamiltonian(self, params: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """H = 1/2 ||xi||^2."""
        xi = self(params)
        return 0.5 * sum(xi[p].pow(2).sum() for p in PLAYERS)


def split(jacobian: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """J = S + A: the symmetric (potential) and antisymmetric (rotational) parts."""
    return 0.5 * (jacobian + jacobian.T), 0.5 * (jacobian - jacobian.T)


def eigenvalues(matrix: torch.Tensor) -> torch.Tensor:
    """Complex eigenvalues in float64, sorted by real part then imaginary part."""
    values = torch.linalg.eigvals(matrix.to(torch.float64))
    order = sorted(range(len(values)), key=lambda i: (round(float(values[i].real), 12), float(values[i].imag)))
    return values[order]
