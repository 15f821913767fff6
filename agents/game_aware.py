"""Game-aware update rules: extragradient, extrapolation from the past, consensus, SGA, CGD.

Each rule moves both players at once from the game's joint vector field (see
:mod:`agents.joint` and :mod:`minimax.core.field`). Notation: theta = (theta_D, theta_G) the
players' flat parameters; xi(theta) = (grad_D L_D, grad_G L_G) the joint field, every
evaluation on the turn's minibatch (the field fixes it, and any random draws of the loss);
J = d xi / d theta its Jacobian; lr the step size. Simultaneous gradient descent is
theta <- theta - lr xi(theta); every rule below returns delta with theta <- theta + delta.

``lr`` is a number, or a dict ``{"discriminator": lr_D, "generator": lr_G}`` for two
time-scales (Heusel et al. 2017): player p's rows of an update use lr_p (for CGD,
eta_x = lr_G and eta_y = lr_D enter the local game, see :class:`CGD`).

xi(theta) is computed by the field, not read from the observations: the field is
deterministic (the env's observed gradient may carry gradient noise, or other random
draws of the loss), so every evaluation in one step is of the same function.

The single-player optimistic rules (``"optimistic"``, ``"optimistic-adam"``) live in
:mod:`agents.rules`: they need only each player's own past gradient.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Optional, Union

import torch
from torch import Tensor

from agents._checks import check_flag, check_number
from agents.joint import PLAYERS, JointRule

DISCRIMINATOR, GENERATOR = PLAYERS
Rate = Union[float, Tensor, Mapping[str, Union[float, Tensor]]]
Vector = dict[str, Tensor]

#: Total parameter count up to which CGD builds the full Jacobian by default.
EXACT_LIMIT = 200


class ConvergenceWarning(RuntimeWarning):
    """An iterative solve stopped at its iteration cap (or broke down) before its tolerance."""


class SingularSystemError(RuntimeError):
    """CGD's linear system is singular (or numerically so) at the given learning rates."""


def _format(value: Any) -> str:
    if isinstance(value, Tensor):
        return repr(value.item()) if value.numel() == 1 else f"Tensor(shape={list(value.shape)})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {_format(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _rates(owner: str, name: str, value: Any) -> dict[str, Any]:
    """A step size per player from a number or a {player: number} dict, each >= 0."""
    if isinstance(value, Mapping):
        missing = [p for p in PLAYERS if p not in value]
        extra = [k for k in value if k not in PLAYERS]
        if missing or extra:
            raise ValueError(
                f"{owner}: {name} as a dict must have exactly the keys {list(PLAYERS)}; "
                f"missing {missing}, unexpected {extra} (got {value!r})"
            )
        for p in PLAYERS:
            check_number(owner, f"{name}[{p!r}]", value[p], low=0.0)
        return {p: value[p] for p in PLAYERS}
    if isinstance(value, Tensor) and value.numel() != 1 and not (value.dim() == 2 and value.shape[1] == 1):
        raise ValueError(f"{owner}: {name} must be a number, an (N, 1) tensor (one per game) or a dict "
                         f"{{player: number}}, got {_format(value)}")  # fmt: skip
    check_number(owner, name, value, low=0.0)
    return {p: value for p in PLAYERS}


def _check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _dot(u: Vector, v: Vector) -> Tensor:
    """<u, v> over both players: a 0-d tensor for one game's (P,) vectors, (N, 1) for N games' (N, P)."""
    batched = u[PLAYERS[0]].dim() > 1
    return sum((u[p] * v[p]).sum(-1, keepdim=True) if batched else (u[p] * v[p]).sum() for p in PLAYERS)


def _games(x: Tensor) -> Tensor:
    """A (P,) vector as one game (1, P); (N, P) as it is."""
    return x.unsqueeze(0) if x.dim() == 1 else x


def _dots(a: Tensor, b: Tensor) -> Tensor:
    """Per game <a_i, b_i> in float64, each a plain vector dot (so one game rounds as a lone game does), (n,)."""
    a, b = _games(a), _games(b)
    return torch.stack([a[i] @ b[i] for i in range(a.shape[0])]).double()


def _norms(a: Tensor) -> Tensor:
    a = _games(a)
    return torch.stack([torch.linalg.vector_norm(a[i]) for i in range(a.shape[0])]).double()


def _scaled(scalars: Tensor, like: Tensor) -> Tensor:
    """Per-game float64 scalars (n,) as a factor for ``like`` ((P,) or (n, P)), in its dtype."""
    factor = scalars.to(like.dtype)
    return factor[0] if like.dim() == 1 else factor.unsqueeze(-1)


def _zero_sum(game: Any) -> bool:
    """Whether every game of ``game`` is zero-sum (its ``zero_sum`` flags, or its loss family's)."""
    if game is None:
        return False
    flags = getattr(game, "zero_sum", None)
    if flags is None:
        flags = [getattr(getattr(game, "loss", None), "zero_sum", False)]
    return bool(all(flags) if isinstance(flags, (list, tuple)) else flags)


def _pick(rate: Any, i: int) -> Any:
    """Game i's value of a step size (a number, or one per game (N, 1))."""
    return rate[i, 0] if isinstance(rate, Tensor) and rate.dim() == 2 else rate


class GameAwareRule(JointRule):
    """Shared checks and bookkeeping of the rules in this module."""

    def __init__(self, hyperparameters: Mapping[str, Any]) -> None:
        self.name = type(self).__name__
        self._hyperparameters = dict(hyperparameters)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters the rule was built with (a copy)."""
        return dict(self._hyperparameters)

    def _parameters(self, observations: Any, field: Any) -> Vector:
        """Checks the call and returns theta = {player: flat parameters} from the observations."""
        owner = self.name
        if not isinstance(observations, Mapping):
            raise TypeError(
                f"{owner}.act needs a dict {{player: observation}} of both players, got {type(observations).__name__}"
            )
        if "gradient" in observations or "parameters" in observations:
            raise TypeError(
                f"{owner} is a joint rule: it moves both players at once and cannot act for one player. "
                "Call act(observations, env.field()) with the Parallel env's observations of both players "
                "(minimax.train(parallel_env, rule, ...) does this)"
            )
        missing = [p for p in PLAYERS if p not in observations]
        extra = [k for k in observations if k not in PLAYERS]
        if missing or extra:
            raise ValueError(
                f"{owner}.act needs the observations of both players {list(PLAYERS)}; missing {missing}, "
                f"unexpected {extra}. A joint rule needs simultaneous moves: use the Parallel env, not the AEC env"
            )
        if field is None or not callable(field):
            raise TypeError(
                f"{owner}.act needs the game's joint field as second argument (env.field() of the Parallel env), "
                f"got {field!r}"
            )
        theta = {}
        for p in PLAYERS:
            params = observations[p].get("parameters") if isinstance(observations[p], Mapping) else None
            if not isinstance(params, Tensor):
                raise TypeError(
                    f"{owner}.act: observations[{p!r}]['parameters'] must be a torch tensor (the minimax envs' "
                    f"torch-native observations), got {type(params).__name__}"
                )
            theta[p] = params.detach()
        return theta

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_format(v)}" for k, v in self._hyperparameters.items())
        return f"{self.name}({args})"


class Extragradient(GameAwareRule):
    """Extragradient (Korpelevich 1976; for GANs, Gidel et al. 2019, "A Variational
    Inequality Perspective on Generative Adversarial Networks"), both steps on one minibatch:

        theta_half = theta - lr' xi(theta)          (lr' = extrapolation_lr, default lr)
        delta      = -lr xi(theta_half)

    Two field evaluations per step. On f = x y it contracts by |1 - lr^2 -+ i lr| =
    sqrt(1 - lr^2 + lr^4) per step where simultaneous descent grows by sqrt(1 + lr^2).

    ``samples="independent"`` evaluates the second step on a fresh minibatch (the
    stochastic mirror-prox of Juditsky et al. 2011), which diverges on a stochastic
    bilinear game where both steps on one minibatch (the default) converge (Chavdarova
    et al. 2019; Mishchenko et al. 2020).
    """

    SAMPLES = ("same", "independent")

    def __init__(self, lr: Rate, extrapolation_lr: Optional[Rate] = None, samples: str = "same") -> None:
        owner = type(self).__name__
        self.lr = _rates(owner, "lr", lr)
        self.extrapolation_lr = (
            self.lr if extrapolation_lr is None else _rates(owner, "extrapolation_lr", extrapolation_lr)
        )
        if samples not in self.SAMPLES:
            raise ValueError(f"{owner}: samples must be one of {list(self.SAMPLES)}, got {samples!r}")
        self.samples = samples
        options: dict[str, Any] = {"lr": lr, "extrapolation_lr": extrapolation_lr}
        if samples != "same":
            options["samples"] = samples
        super().__init__(options)

    def act(self, observations: Mapping[str, Mapping[str, Tensor]], field: Any = None) -> Vector:
        theta = self._parameters(observations, field)
        with torch.no_grad():
            xi = field(theta)
            half = {p: theta[p] - self.extrapolation_lr[p] * xi[p] for p in PLAYERS}
            second = field.resampled() if self.samples == "independent" else field
            xi_half = second(half)
            return {p: -self.lr[p] * xi_half[p] for p in PLAYERS}


class PastExtragradient(GameAwareRule):
    """Extrapolation from the past (Popov 1980; Gidel et al. 2019, Algorithm 3):

        theta_half = theta - lr g_prev
        g          = xi(theta_half)
        delta      = -lr g,    g_prev <- g

    One field evaluation per step: the extrapolation reuses the previous step's extrapolated
    gradient g_prev. At the first step (or after `reset`) there is none and g_prev = xi(theta)
    (one extra evaluation). The extrapolated points theta_half follow optimistic gradient
    descent exactly (theta_{t+3/2} = theta_{t+1/2} - 2 lr g_t + lr g_{t-1}), so both have the
    same linear rate.
    """

    def __init__(self, lr: Rate) -> None:
        self.lr = _rates(type(self).__name__, "lr", lr)
        super().__init__({"lr": lr})
        self.reset()

    @property
    def state(self) -> Optional[dict[str, Vector]]:
        """{"previous": g_prev}, or None before the first step and after `reset`."""
        return None if self._previous is None else {"previous": dict(self._previous)}

    def reset(self) -> None:
        self._previous: Optional[Vector] = None
        self._key: Optional[tuple] = None

    def state_dict(self) -> dict[str, Any]:
        """g_prev (None before the first step)."""
        return {"previous": None if self._previous is None else {p: v.clone() for p, v in self._previous.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        previous = state.get("previous") if isinstance(state, Mapping) else ...
        if previous is ... or set(state) != {"previous"}:
            raise ValueError(f"{self.name} state: expected {{'previous': ...}}, got {state!r}"[:200])
        if previous is None:
            self.reset()
            return
        if not isinstance(previous, Mapping) or set(previous) != set(PLAYERS) or \
                not all(isinstance(previous[p], Tensor) for p in PLAYERS):  # fmt: skip
            raise ValueError(f"{self.name} state: previous must map both players to tensors")
        self._previous = {p: previous[p].clone() for p in PLAYERS}
        self._key = tuple((self._previous[p].shape, self._previous[p].dtype, self._previous[p].device) for p in PLAYERS)

    def act(self, observations: Mapping[str, Mapping[str, Tensor]], field: Any = None) -> Vector:
        theta = self._parameters(observations, field)
        key = tuple((theta[p].shape, theta[p].dtype, theta[p].device) for p in PLAYERS)
        with torch.no_grad():
            if self._previous is None or key != self._key:
                self._previous, self._key = field(theta), key
            half = {p: theta[p] - self.lr[p] * self._previous[p] for p in PLAYERS}
            g = field(half)
            self._previous = g
            return {p: -self.lr[p] * g[p] for p in PLAYERS}


class Consensus(GameAwareRule):
    """Consensus optimisation (Mescheder, Nowozin, Geiger 2017, "The Numerics of GANs"):

        delta = -lr (xi + gamma J^T xi),   J^T xi = grad of H = 1/2 ||xi||^2.

    One field evaluation and one vector-Jacobian product per step. On f = alpha x y,
    J^T J = alpha^2 I and the step map has eigenvalues 1 - lr gamma alpha^2 -+ i lr alpha.
    """

    def __init__(self, lr: Rate, gamma: float = 1.0) -> None:
        owner = type(self).__name__
        self.lr = _rates(owner, "lr", lr)
        check_number(owner, "gamma", gamma, low=0.0)
        self.gamma = gamma
        super().__init__({"lr": lr, "gamma": gamma})

    def act(self, observations: Mapping[str, Mapping[str, Tensor]], field: Any = None) -> Vector:
        theta = self._parameters(observations, field)
        with torch.no_grad():
            xi = field(theta)
            grad_h = field.vjp(xi, theta)
            return {p: -self.lr[p] * (xi[p] + self.gamma * grad_h[p]) for p in PLAYERS}


class SGA(GameAwareRule):
    """Symplectic gradient adjustment (Balduzzi et al. 2018, "The Mechanics of n-Player
    Differentiable Games", Algorithm 1):

        A      = (J - J^T) / 2,   A^T xi = (J^T xi - J xi) / 2
        delta  = -lr (xi + lambda A^T xi)

    With ``sign_rule`` (their alignment criterion), with grad H = J^T xi and d the number of
    parameters of both players:

        lambda = lam * sign(<xi, grad H> <A^T xi, grad H> / d + eps)

    otherwise lambda = lam. One field evaluation, one J^T product and one J product per
    step. The lambda of the last step is kept in ``last_lambda`` (a 0-d tensor).

    The criterion is not scale-free: the product grows as |xi|^4 while eps is absolute. Where
    <xi, grad H> is 0 in exact arithmetic (a pure bilinear game, where lambda = lam), its
    rounding error can exceed eps once |xi| is large (a diverging run) and flip lambda.
    """

    def __init__(self, lr: Rate, lam: float = 1.0, sign_rule: bool = True, eps: float = 0.1) -> None:
        owner = type(self).__name__
        self.lr = _rates(owner, "lr", lr)
        check_number(owner, "lam", lam, low=0.0)
        check_flag(owner, "sign_rule", sign_rule)
        check_number(owner, "eps", eps, low=0.0)
        self.lam, self.sign_rule, self.eps = lam, sign_rule, eps
        self.last_lambda: Optional[Tensor] = None
        super().__init__({"lr": lr, "lam": lam, "sign_rule": sign_rule, "eps": eps})

    def reset(self) -> None:
        self.last_lambda = None

    def state_dict(self) -> dict[str, Any]:
        """The lambda of the last step (a diagnostic: the next step does not depend on it)."""
        return {"last_lambda": self.last_lambda}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or set(state) != {"last_lambda"}:
            raise ValueError(f"{self.name} state: expected {{'last_lambda': ...}}, got {state!r}"[:200])
        self.last_lambda = state["last_lambda"]

    def act(self, observations: Mapping[str, Mapping[str, Tensor]], field: Any = None) -> Vector:
        theta = self._parameters(observations, field)
        with torch.no_grad():
            xi = field(theta)
            jt_xi = field.vjp(xi, theta)  # grad H
            j_xi = field.jvp(xi, theta)
            at_xi = {p: 0.5 * (jt_xi[p] - j_xi[p]) for p in PLAYERS}
            ref = xi[DISCRIMINATOR]
            if self.sign_rule:
                d = sum(xi[p].shape[-1] for p in PLAYERS)
                alignment = _dot(xi, jt_xi) * _dot(at_xi, jt_xi) / d + self.eps
                lam = self.lam * torch.sign(alignment)
            else:
                lam = torch.as_tensor(self.lam, dtype=ref.dtype, device=ref.device)
            self.last_lambda = lam
            return {p: -self.lr[p] * (xi[p] + lam * at_xi[p]) for p in PLAYERS}


def _conjugate_gradient(
    apply: Callable[[Tensor], Tensor], b: Tensor, tol: float, max_iter: int
) -> tuple[Tensor, list[int], list[float], list[bool]]:
    """Solves M u = b for symmetric positive definite M (applied by ``apply``), from u0 = b, per game.

    ``b`` is one game's (P,) or N games' (N, P): each game iterates on its own (its own scalars
    and stopping point, in float64 as one game's would be). Returns (u, iterations, relative
    residual, converged), the last three one entry per game; a game stops early on breakdown (a
    non-positive or non-finite curvature p^T M p).
    """
    b_norm = _norms(b)
    n = b_norm.shape[0]
    active = b_norm != 0  # a zero right-hand side: u = 0 at once
    u = torch.where(_mask(active, b), b, torch.zeros_like(b))
    r = b - apply(u)
    p = r.clone()
    rr = _dots(r, r)
    iterations, residuals, converged = [0] * n, [0.0] * n, [True] * n
    for k in range(max_iter + 1):
        residual = torch.sqrt(rr) / torch.where(active, b_norm, torch.ones_like(b_norm))
        for i in torch.nonzero(active & (residual <= tol)).flatten().tolist():
            iterations[i], residuals[i], converged[i] = k, float(residual[i]), True
            active[i] = False
        if k == max_iter or not active.any():
            break
        mp = apply(p)
        curvature = _dots(p, mp)
        for i in torch.nonzero(active & (~torch.isfinite(curvature) | (curvature <= 0))).flatten().tolist():
            iterations[i], residuals[i], converged[i] = k, float(residual[i]), False
            active[i] = False
        if not active.any():
            break
        alpha = torch.where(active, rr / torch.where(active, curvature, torch.ones_like(curvature)), torch.zeros_like(rr))
        keep = _mask(active, b)
        u = torch.where(keep, u + _scaled(alpha, b) * p, u)
        r = torch.where(keep, r - _scaled(alpha, b) * mp, r)
        rr_new = _dots(r, r)
        ratio = torch.where(active, rr_new / torch.where(active, rr, torch.ones_like(rr)), torch.zeros_like(rr))
        p = torch.where(keep, r + _scaled(ratio, b) * p, p)
        rr = torch.where(active, rr_new, rr)
    for i in torch.nonzero(active).flatten().tolist():  # stopped at the iteration cap
        iterations[i], residuals[i], converged[i] = k, float(torch.sqrt(rr[i]) / b_norm[i]), False
    return u, iterations, residuals, converged


def _mask(active: Tensor, like: Tensor) -> Tensor:
    """A per-game mask (n,) broadcastable to ``like`` ((P,) or (n, P))."""
    mask = active.to(like.device)
    return mask[0] if like.dim() == 1 else mask.unsqueeze(-1)


def _cgnr(
    apply: Callable[[Tensor], Tensor], apply_t: Callable[[Tensor], Tensor], b: Tensor, tol: float, max_iter: int
) -> tuple[Tensor, list[int], list[float], list[bool]]:
    """Solves M u = b for any nonsingular M by conjugate gradient on M^T M u = M^T b (CGLS form:
    the residual r = b - M u is tracked, and the tolerance is on ||r|| / ||b||), from u0 = b, per game."""
    b_norm = _norms(b)
    n = b_norm.shape[0]
    active = b_norm != 0
    u = torch.where(_mask(active, b), b, torch.zeros_like(b))
    r = b - apply(u)
    s = apply_t(r)
    p = s.clone()
    ss = _dots(s, s)
    iterations, residuals, converged = [0] * n, [0.0] * n, [True] * n
    safe_norm = torch.where(active, b_norm, torch.ones_like(b_norm))
    for k in range(max_iter + 1):
        residual = _norms(r) / safe_norm
        for i in torch.nonzero(active & (residual <= tol)).flatten().tolist():
            iterations[i], residuals[i], converged[i] = k, float(residual[i]), True
            active[i] = False
        for i in torch.nonzero(active & (ss == 0)).flatten().tolist():
            iterations[i], residuals[i], converged[i] = k, float(residual[i]), False
            active[i] = False
        if k == max_iter or not active.any():
            break
        q = apply(p)
        qq = _dots(q, q)
        for i in torch.nonzero(active & (~torch.isfinite(qq) | (qq <= 0))).flatten().tolist():
            iterations[i], residuals[i], converged[i] = k, float(residual[i]), False
            active[i] = False
        if not active.any():
            break
        alpha = torch.where(active, ss / torch.where(active, qq, torch.ones_like(qq)), torch.zeros_like(ss))
        keep = _mask(active, b)
        u = torch.where(keep, u + _scaled(alpha, b) * p, u)
        r = torch.where(keep, r - _scaled(alpha, b) * q, r)
        s = apply_t(r)
        ss_new = _dots(s, s)
        ratio = torch.where(active, ss_new / torch.where(active, ss, torch.ones_like(ss)), torch.zeros_like(ss))
        p = torch.where(keep, s + _scaled(ratio, b) * p, p)
        ss = torch.where(active, ss_new, ss)
    final = _norms(r) / safe_norm
    for i in torch.nonzero(active).flatten().tolist():
        iterations[i], residuals[i], converged[i] = k, float(final[i]), False
    return u, iterations, residuals, converged


class CGD(GameAwareRule):
    """Competitive gradient descent (Schaefer & Anandkumar 2019), general-sum form.

    Players x = generator (loss f = L_G) and y = discriminator (loss g = L_D); xi_x =
    grad_x f, xi_y = grad_y g, and the off-diagonal blocks of J are J_xy = d xi_x / d y =
    D2_xy f and J_yx = d xi_y / d x = D2_yx g. Each step plays the Nash equilibrium of the
    local bilinear game with quadratic penalties 1/(2 eta_x) |dx|^2, 1/(2 eta_y) |dy|^2
    (eta_x = lr_G, eta_y = lr_D; both lr for a single number):

        dx = -eta_x (I - eta_x eta_y J_xy J_yx)^{-1} (xi_x - eta_y J_xy xi_y)
        dy = -eta_y (I - eta_x eta_y J_yx J_xy)^{-1} (xi_y - eta_x J_yx xi_x)

    Zero-sum (g = -f, so xi_y = -grad_y f, J_yx = -(D2_xy f)^T) this is the paper's
    dx = -eta (I + eta^2 D_xy f D_yx f)^{-1} (grad_x f + eta D_xy f grad_y f) and
    dy = eta (I + eta^2 D_yx f D_xy f)^{-1} (grad_y f - eta D_yx f grad_x f).

    ``exact=True`` (the default when both players have <= 200 parameters in all) builds J
    with ``field.jacobian()`` and solves both systems with torch.linalg.solve; a singular or
    numerically singular system raises :class:`SingularSystemError`. Otherwise the system of
    the player with fewer parameters is solved matrix-free (J products restricted to one
    block: J_yx u = (J {y: 0, x: u})_y) and the other player's move follows from the local
    Nash condition, dy = -eta_y (xi_y + J_yx dx) (or dx = -eta_x (xi_x + J_xy dy)). For a
    zero-sum game (``field.game.loss.zero_sum``) the matrix I + eta_x eta_y J_xy J_xy^T is
    symmetric positive definite and plain conjugate gradient is used; otherwise conjugate
    gradient on the normal equations (CGNR, with J^T products). Both start from the
    right-hand side and stop at relative residual ``cg_tol`` (raised to 10 machine epsilons
    of the dtype if lower) or after ``cg_max_iter`` iterations, with a
    :class:`ConvergenceWarning` and the last iterate. ``last_solve`` describes the last
    solve (method, iterations, residual, converged).
    """

    def __init__(
        self,
        lr: Rate,
        exact: Optional[bool] = None,
        cg_tol: float = 1e-10,
        cg_max_iter: int = 100,
    ) -> None:
        owner = type(self).__name__
        self.lr = _rates(owner, "lr", lr)
        if exact is not None:
            check_flag(owner, "exact", exact)
        check_number(owner, "cg_tol", cg_tol, low=0.0, low_open=True)
        self.exact, self.cg_tol = exact, float(cg_tol)
        self.cg_max_iter = _check_int(owner, "cg_max_iter", cg_max_iter, minimum=1)
        self.last_solve: Optional[dict[str, Any]] = None
        super().__init__({"lr": lr, "exact": exact, "cg_tol": cg_tol, "cg_max_iter": cg_max_iter})

    def reset(self) -> None:
        self.last_solve = None

    def state_dict(self) -> dict[str, Any]:
        """What the last solve did (a diagnostic: the next step does not depend on it)."""
        return {"last_solve": None if self.last_solve is None else dict(self.last_solve)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or set(state) != {"last_solve"}:
            raise ValueError(f"{self.name} state: expected {{'last_solve': ...}}, got {state!r}"[:200])
        self.last_solve = None if state["last_solve"] is None else dict(state["last_solve"])

    def act(self, observations: Mapping[str, Mapping[str, Tensor]], field: Any = None) -> Vector:
        theta = self._parameters(observations, field)
        sizes = {p: theta[p].shape[-1] for p in PLAYERS}  # per game
        exact = self.exact if self.exact is not None else sum(sizes.values()) <= EXACT_LIMIT
        with torch.no_grad():
            xi = field(theta)
            if exact:
                return self._exact(field, theta, xi, sizes)
            return self._iterative(field, theta, xi, sizes)

    def _singular(self, who: str, sizes: dict[str, int], cond: float) -> SingularSystemError:
        n = sizes[GENERATOR] if who == "generator" else sizes[DISCRIMINATOR]
        return SingularSystemError(
            f"CGD: the {who}'s system (I - lr_x lr_y J_xy J_yx for the generator, I - lr_x lr_y J_yx J_xy for "
            f"the discriminator; {n}x{n}, in a game of {sizes[GENERATOR]} generator and {sizes[DISCRIMINATOR]} "
            f"discriminator parameters) is singular at lr={_format(self._hyperparameters['lr'])} (condition "
            f"number {cond:.3g}): the local game has no unique Nash equilibrium; use a smaller lr"
        )

    def _exact(self, field: Any, theta: Vector, xi: Vector, sizes: dict[str, int]) -> Vector:
        jacobian = field.jacobian(theta)
        if jacobian.dim() == 2:  # one game's (P,) vectors
            solutions = self._solve_exact(jacobian, xi[GENERATOR], xi[DISCRIMINATOR], self.lr, sizes, None)
        else:  # N games: each game's own system
            per_game = [self._solve_exact(jacobian[i], xi[GENERATOR][i], xi[DISCRIMINATOR][i],
                                          {p: _pick(self.lr[p], i) for p in PLAYERS}, sizes, i)
                        for i in range(jacobian.shape[0])]  # fmt: skip
            solutions = {p: torch.stack([s[p] for s in per_game]) for p in PLAYERS}
        self.last_solve = {"method": "exact", "iterations": 0, "residual": 0.0, "converged": True}
        return {p: solutions[p].reshape(theta[p].shape).to(theta[p].dtype) for p in PLAYERS}

    def _solve_exact(self, jacobian: Tensor, xi_x: Tensor, xi_y: Tensor, lr: dict[str, Any], sizes: dict[str, int],
                     game: Optional[int]) -> dict[str, Tensor]:  # fmt: skip
        """One game's two linear systems, solved exactly (with a singularity check)."""
        n_y = sizes[DISCRIMINATOR]
        j_yx = jacobian[:n_y, n_y:]  # d xi_D / d theta_G
        j_xy = jacobian[n_y:, :n_y]  # d xi_G / d theta_D
        eta_x, eta_y = lr[GENERATOR], lr[DISCRIMINATOR]
        xi_x, xi_y = xi_x.reshape(-1), xi_y.reshape(-1)
        eye_x = torch.eye(sizes[GENERATOR], dtype=jacobian.dtype, device=jacobian.device)
        eye_y = torch.eye(n_y, dtype=jacobian.dtype, device=jacobian.device)
        systems = {
            "generator": (eye_x - eta_x * eta_y * (j_xy @ j_yx), -eta_x * (xi_x - eta_y * (j_xy @ xi_y))),
            "discriminator": (eye_y - eta_x * eta_y * (j_yx @ j_xy), -eta_y * (xi_y - eta_x * (j_yx @ xi_x))),
        }
        limit = 1.0 / torch.finfo(jacobian.dtype).eps
        solutions = {}
        for who, (matrix, rhs) in systems.items():
            singular_values = torch.linalg.svdvals(matrix)
            smallest, largest = float(singular_values.min()), float(singular_values.max())
            cond = largest / smallest if smallest > 0 else math.inf
            if not math.isfinite(cond) or cond > limit:
                error = self._singular(who, sizes, cond)
                raise SingularSystemError(f"{error} (game {game})") if game is not None else error
            solutions[who] = torch.linalg.solve(matrix, rhs)
        return solutions

    def _iterative(self, field: Any, theta: Vector, xi: Vector, sizes: dict[str, int]) -> Vector:
        zeros = {p: torch.zeros_like(xi[p]) for p in PLAYERS}

        def block(product: Callable, player: str, to: str) -> Callable[[Tensor], Tensor]:
            # product({player: w, other: 0})[to]: one block of J or J^T applied to w
            return lambda w: product({**zeros, player: w}, theta)[to]

        x, y = GENERATOR, DISCRIMINATOR
        j_yx, j_xy = block(field.jvp, x, y), block(field.jvp, y, x)  # x-space -> y-space, y -> x
        j_xy_t, j_yx_t = block(field.vjp, x, y), block(field.vjp, y, x)  # x -> y, y -> x
        eta = {x: self.lr[x], y: self.lr[y]}
        c = eta[x] * eta[y]
        solve_for = x if sizes[x] <= sizes[y] else y
        if solve_for == x:
            apply = lambda u: u - c * j_xy(j_yx(u))  # noqa: E731
            apply_t = lambda u: u - c * j_yx_t(j_xy_t(u))  # noqa: E731
            rhs = -eta[x] * (xi[x] - eta[y] * j_xy(xi[y]))
        else:
            apply = lambda w: w - c * j_yx(j_xy(w))  # noqa: E731
            apply_t = lambda w: w - c * j_xy_t(j_yx_t(w))  # noqa: E731
            rhs = -eta[y] * (xi[y] - eta[x] * j_yx(xi[x]))
        zero_sum = _zero_sum(getattr(field, "game", None))
        tol = max(self.cg_tol, 10 * torch.finfo(rhs.dtype).eps)
        if zero_sum:
            method = "cg"
            solution, iterations, residual, converged = _conjugate_gradient(apply, rhs, tol, self.cg_max_iter)
        else:
            method = "cgnr"
            solution, iterations, residual, converged = _cgnr(apply, apply_t, rhs, tol, self.cg_max_iter)
        lone = rhs.dim() == 1
        self.last_solve = {"method": method, "solved_for": solve_for,
                           "iterations": iterations[0] if lone else iterations,
                           "residual": residual[0] if lone else residual,
                           "converged": converged[0] if lone else converged}  # fmt: skip
        failed = [i for i, ok in enumerate(converged) if not ok]
        if failed:
            where = "" if lone else f" in games {failed}"
            warnings.warn(
                f"CGD: {method} did not reach relative residual {tol:.3g} in {max(iterations[i] for i in failed)} "
                f"iterations{where} (cg_max_iter={self.cg_max_iter}; residual {max(residual[i] for i in failed):.3g}); "
                "using the last iterate",
                ConvergenceWarning,
                stacklevel=3,
            )
        if solve_for == x:
            delta = {x: solution, y: -eta[y] * (xi[y] + j_yx(solution))}
        else:
            delta = {y: solution, x: -eta[x] * (xi[x] + j_xy(solution))}
        return {p: delta[p].to(theta[p].dtype) for p in PLAYERS}
