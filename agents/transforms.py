"""Composable gradient transformations on flat parameter tensors (Optax style, torch inside).

Why: an update rule is a pure function ``(updates, state, params) -> (updates, state)``.
Chaining small ones rebuilds torch.optim's rules and their game-theoretic variants (negative
momentum, per-game hyper-parameters) without rewriting each. Every operation is elementwise on
tensors of shape ``(..., P)``; reductions run over the last dim only, so N games can run in
lockstep. Step counters are device tensors and nothing reads tensor values on the host, so an
update can be captured in a CUDA graph.

Hyper-parameters are Python numbers or tensors broadcastable to the batch shape, e.g. ``(N, 1)``
for one value per game; keep such tensors on the parameters' device to avoid host copies.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import torch
from torch import Tensor

Hyperparameter = Union[float, Tensor]
State = Any  # a NamedTuple of tensors, or a tuple of such states (see `chain`)


class GradientTransformation(NamedTuple):
    """A pair of pure functions: `init(params) -> state`, `update(updates, state, params)`.

    `update_` (optional) is the same computation done in place: it may overwrite `updates` and
    the tensors of `state` and returns `(updates, state)` with values bitwise equal to
    `update`'s. It exists for speed: on large parameter vectors a CPU spends more time writing
    fresh tensors than computing, and in-place kernels avoid that (torch.optim's own loops are
    in place). Loops that own the gradient and the state (the vector trainer) use it.

    `apply_` (optional) makes the move itself: `apply_(updates, state, params) -> state` adds the
    change to `params` in place, leaving them bitwise equal to `params + update(...)[0]`, and may
    overwrite `updates` and the state's tensors. Where a kernel moves the parameters directly
    (torch's fused Adam), this saves writing the change and reading it back.
    """

    init: Callable[[Tensor], State]
    update: Callable[[Tensor, State, Optional[Tensor]], tuple[Tensor, State]]
    update_: Optional[Callable[[Tensor, State, Optional[Tensor]], tuple[Tensor, State]]] = None
    apply_: Optional[Callable[[Tensor, State, Tensor], State]] = None


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


class TraceState(NamedTuple):
    """Momentum buffer and the number of steps taken (0-d int64 tensor)."""

    count: Tensor
    momentum_buffer: Tensor


class AdamState(NamedTuple):
    """Adam moments; `nu_max` is the running maximum of `nu` (AMSGrad) or None."""

    count: Tensor
    mu: Tensor
    nu: Tensor
    nu_max: Optional[Tensor]


class RmsState(NamedTuple):
    """RMSprop averages; `mu` (centered) and `momentum_buffer` are None when unused."""

    nu: Tensor
    mu: Optional[Tensor]
    momentum_buffer: Optional[Tensor]


def tree_where(mask: Tensor, new: Any, old: Any) -> Any:
    """``new`` where ``mask`` (N,) is True, ``old`` elsewhere, leaf by leaf over a state tree.

    For N games in lockstep of which only some move: the others keep their state. Leaves with
    a leading dimension of N are masked row by row; other leaves (shared constants) come from
    ``new``.
    """
    if isinstance(new, Tensor):
        if new.dim() == 0 or new.shape[0] != mask.shape[0]:
            return new
        return torch.where(mask.view(-1, *([1] * (new.dim() - 1))), new, old)
    if new is None:
        return None
    if isinstance(new, tuple):
        merged = [tree_where(mask, a, b) for a, b in zip(new, old)]
        return type(new)(*merged) if hasattr(new, "_fields") else tuple(merged)
    return new


def _like(value: Hyperparameter, ref: Tensor) -> Hyperparameter:
    """Casts a tensor hyper-parameter to `ref`'s device and dtype; numbers pass through."""
    if isinstance(value, Tensor):
        return value.to(device=ref.device, dtype=ref.dtype)
    return value


def _is_zero(value: Hyperparameter) -> bool:
    """True for a Python number equal to 0 (tensors are never treated as known zeros)."""
    return not isinstance(value, Tensor) and value == 0


def step_count(params: Tensor, dtype: torch.dtype = torch.int64) -> Tensor:
    """A zero step counter for `params`: 0-d for one parameter vector ``(P,)``, one per vector
    ``(..., 1)`` for batched parameters ``(..., P)``, so that N games in lockstep that move at
    different turns (different k per game) keep their own counts (Adam's bias correction)."""
    shape = params.shape[:-1] + (1,) if params.dim() > 1 else ()
    return torch.zeros(shape, dtype=dtype, device=params.device)


_zero_count = step_count


def _one_minus_power(beta: Hyperparameter, count: Tensor, ref: Tensor) -> Tensor:
    """1 - beta**count in float64 (as torch.optim does on the host), except where the device lacks it."""
    wide = torch.float32 if ref.device.type == "mps" else torch.float64
    if isinstance(beta, Tensor):
        beta = beta.to(device=ref.device, dtype=wide)
    return 1 - torch.pow(beta, count.to(wide))


def identity() -> GradientTransformation:
    """Leaves updates unchanged."""

    def init(params: Tensor) -> EmptyState:
        return EmptyState()

    def update(updates: Tensor, state: EmptyState, params: Optional[Tensor] = None):
        return updates, state

    return GradientTransformation(init, update, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies `transforms` in order; the state is the tuple of their states."""

    def init(params: Tensor) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def run(method: str) -> Callable[[Tensor, tuple, Optional[Tensor]], tuple[Tensor, tuple]]:
        def update(updates: Tensor, state: tuple, params: Optional[Tensor] = None):
            new_state = []
            for t, s in zip(transforms, state):
                updates, s = getattr(t, method)(updates, s, params)
                new_state.append(s)
            return updates, tuple(new_state)

        return update

    in_place = all(t.update_ is not None for t in transforms)
    return GradientTransformation(init, run("update"), run("update_") if in_place else None)


def scale(factor: Hyperparameter) -> GradientTransformation:
    """Multiplies updates by `factor`."""

    def init(params: Tensor) -> EmptyState:
        return EmptyState()

    def update(updates: Tensor, state: EmptyState, params: Optional[Tensor] = None):
        return updates * _like(factor, updates), state

    def update_(updates: Tensor, state: EmptyState, params: Optional[Tensor] = None):
        return updates.mul_(_like(factor, updates)), state

    return GradientTransformation(init, update, update_)


def scale_by_learning_rate(lr: Hyperparameter) -> GradientTransformation:
    """Multiplies updates by -lr, turning a descent direction into the change to add to params."""
    return scale(-lr)


def add_decayed_weights(weight_decay: Hyperparameter) -> GradientTransformation:
    """Adds `weight_decay * params` (L2 penalty's gradient; decoupled when placed after a scaler)."""

    def init(params: Tensor) -> EmptyState:
        return EmptyState()

    def update(updates: Tensor, state: EmptyState, params: Optional[Tensor] = None):
        if params is None:
            raise ValueError("add_decayed_weights needs params, got None")
        return updates + _like(weight_decay, updates) * params, state

    def update_(updates: Tensor, state: EmptyState, params: Optional[Tensor] = None):
        if params is None:
            raise ValueError("add_decayed_weights needs params, got None")
        return updates.add_(_like(weight_decay, updates) * params), state

    return GradientTransformation(init, update, update_)


def trace(
    momentum: Hyperparameter, dampening: Hyperparameter = 0.0, nesterov: bool = False
) -> GradientTransformation:
    """Momentum buffer with torch.optim.SGD's semantics.

    First step: buf = g; afterwards buf = momentum * buf + (1 - dampening) * g.
    Output: buf, or g + momentum * buf with `nesterov`. Any momentum value is accepted,
    including negative ones.
    """

    def init(params: Tensor) -> TraceState:
        return TraceState(_zero_count(params), torch.zeros_like(params))

    def update(updates: Tensor, state: TraceState, params: Optional[Tensor] = None):
        mu = _like(momentum, updates)
        damped = (1 - _like(dampening, updates)) * updates
        buf = torch.where(state.count == 0, updates, mu * state.momentum_buffer + damped)
        out = updates + mu * buf if nesterov else buf
        return out, TraceState(state.count + 1, buf)

    def update_(updates: Tensor, state: TraceState, params: Optional[Tensor] = None):
        mu = _like(momentum, updates)
        buf = state.momentum_buffer
        if _is_zero(dampening):  # the first step's buffer, 0 * mu + g, is g itself: no `where` needed
            buf.mul_(mu).add_(updates)
        else:
            buf.copy_(torch.where(state.count == 0, updates, mu * buf + (1 - _like(dampening, updates)) * updates))
        if nesterov:
            updates.add_(mu * buf)
        else:
            updates.copy_(buf)  # the output must not alias the state
        return updates, TraceState(state.count + 1, buf)

    return GradientTransformation(init, update, update_)


def scale_by_adam(
    b1: Hyperparameter = 0.9,
    b2: Hyperparameter = 0.999,
    eps: Hyperparameter = 1e-8,
    amsgrad: bool = False,
) -> GradientTransformation:
    """Adam's direction with torch.optim.Adam's formulas.

    mu = lerp(mu, g, 1 - b1); nu = b2 * nu + (1 - b2) * g**2 (AMSGrad: running max of nu);
    output (mu / (1 - b1**t)) / (sqrt(nu) / sqrt(1 - b2**t) + eps). b1 may be negative.
    """

    def init(params: Tensor) -> AdamState:
        nu_max = torch.zeros_like(params) if amsgrad else None
        return AdamState(_zero_count(params), torch.zeros_like(params), torch.zeros_like(params), nu_max)

    def update(updates: Tensor, state: AdamState, params: Optional[Tensor] = None):
        beta1, beta2 = _like(b1, updates), _like(b2, updates)
        count = state.count + 1
        mu = torch.lerp(state.mu, updates, 1 - beta1)
        nu = beta2 * state.nu + (1 - beta2) * updates * updates
        nu_max = torch.maximum(state.nu_max, nu) if amsgrad else None
        correction1 = _one_minus_power(b1, count, updates).to(updates.dtype)
        correction2_sqrt = _one_minus_power(b2, count, updates).sqrt().to(updates.dtype)
        denom = (nu_max if amsgrad else nu).sqrt() / correction2_sqrt + _like(eps, updates)
        return mu / correction1 / denom, AdamState(count, mu, nu, nu_max)

    scratch: dict[tuple, Tensor] = {}  # update_'s work buffer, kept across calls (fresh memory is slow to write)

    def update_(updates: Tensor, state: AdamState, params: Optional[Tensor] = None):
        beta1, beta2 = _like(b1, updates), _like(b2, updates)
        count = state.count + 1
        mu, nu, nu_max = state.mu, state.nu, state.nu_max
        mu.lerp_(updates, 1 - beta1)
        key = (updates.shape, updates.dtype, updates.device)
        if key not in scratch:
            scratch[key] = torch.empty_like(updates)
        square = torch.mul(updates, 1 - beta2, out=scratch[key])
        nu.mul_(beta2).add_(square.mul_(updates))
        if amsgrad:
            torch.maximum(nu_max, nu, out=nu_max)
        correction1 = _one_minus_power(b1, count, updates).to(updates.dtype)
        correction2_sqrt = _one_minus_power(b2, count, updates).sqrt().to(updates.dtype)
        denom = torch.sqrt(nu_max if amsgrad else nu, out=square).div_(correction2_sqrt).add_(_like(eps, updates))
        torch.div(mu, correction1, out=updates)
        return updates.div_(denom), AdamState(count, mu, nu, nu_max)

    return GradientTransformation(init, update, update_)


class FusedAdamState(NamedTuple):
    """Adam's moments for the fused kernel; `count` is one float32 0-d step shared by every row."""

    count: Tensor
    mu: Tensor
    nu: Tensor
    nu_max: Optional[Tensor]


def _fused_scalar(owner: str, name: str, value: Hyperparameter) -> float:
    if isinstance(value, Tensor):
        raise TypeError(f"{owner}: fused=True takes numbers for its hyper-parameters, got a tensor for {name} "
                        "(per-game values need fused=False)")  # fmt: skip
    return float(value)


def fused_adam(
    lr: Hyperparameter,
    b1: Hyperparameter = 0.9,
    b2: Hyperparameter = 0.999,
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    decoupled: bool = False,
    amsgrad: bool = False,
) -> GradientTransformation:
    """Adam's whole step, learning rate included, in torch's fused kernel (``torch.optim.Adam(fused=True)``).

    One pass over the parameters instead of about ten. The kernel writes the step into a zeroed
    buffer, so ``params + change`` is bitwise torch's fused step without weight decay (the
    weight decay is applied next to the kernel: equal to round-off). Its arithmetic differs from
    :func:`scale_by_adam`'s (torch.optim's single-tensor Adam) by a few float32 ulps per step,
    which is why it is an option. Hyper-parameters must be numbers, and every row of the
    parameters moves at every step (the step count is shared). beta1 may be negative.
    """
    owner = "fused Adam"
    lr_, b1_, b2_, eps_, decay = (_fused_scalar(owner, n, v) for n, v in
                                  (("lr", lr), ("beta1", b1), ("beta2", b2), ("eps", eps), ("weight_decay", weight_decay)))  # fmt: skip
    kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_

    def init(params: Tensor) -> FusedAdamState:
        count = torch.zeros((), dtype=torch.float32, device=params.device)
        nu_max = torch.zeros_like(params) if amsgrad else None
        return FusedAdamState(count, torch.zeros_like(params), torch.zeros_like(params), nu_max)

    def step(updates: Tensor, state: FusedAdamState, params: Optional[Tensor]) -> tuple[Tensor, FusedAdamState]:
        """The change for the gradient ``updates``, in place on the state's tensors (and, with L2 weight decay, on
        ``updates``: the caller donates it)."""
        if decay and params is None:
            raise ValueError("fused Adam with weight decay needs params, got None")
        if decay and not decoupled:
            updates.add_(params, alpha=decay)  # L2: the kernel would take it from the (zeroed) parameters
        # The kernel moves "parameters" that start at zero: it writes the change itself, reading the gradient
        # where it lies (a zeroed buffer costs one write; a copy of the gradient would cost a read and a write)
        change = torch.zeros_like(updates)
        state.count.add_(1)
        kernel([change], [updates], [state.mu], [state.nu], [state.nu_max] if amsgrad else [], [state.count],
               lr=lr_, beta1=b1_, beta2=b2_, weight_decay=0.0, eps=eps_, amsgrad=amsgrad, maximize=False)  # fmt: skip
        if decay and decoupled:
            change.add_(params, alpha=-lr_ * decay)
        return change, state

    def update(updates: Tensor, state: FusedAdamState, params: Optional[Tensor] = None):
        fresh = FusedAdamState(*(None if t is None else t.clone() for t in state))
        return step(updates.clone() if decay and not decoupled else updates, fresh, params)  # only L2 writes to it

    def apply_(updates: Tensor, state: FusedAdamState, params: Tensor) -> FusedAdamState:
        """The kernel on the parameters themselves, as torch.optim.Adam(fused=True) runs it: bitwise
        ``params + step(...)[0]`` (the kernel subtracts the same step from zero or from the parameter)."""
        if decay:
            updates.add_(params, alpha=decay)  # L2, as in step
        state.count.add_(1)
        kernel([params], [updates], [state.mu], [state.nu], [state.nu_max] if amsgrad else [], [state.count],
               lr=lr_, beta1=b1_, beta2=b2_, weight_decay=0.0, eps=eps_, amsgrad=amsgrad, maximize=False)  # fmt: skip
        return state

    # decoupled decay scales the parameters beside the kernel (equal to round-off): no in-place move for it
    return GradientTransformation(init, update, step, None if decay and decoupled else apply_)


def scale_by_rms(
    alpha: Hyperparameter = 0.99,
    eps: Hyperparameter = 1e-8,
    centered: bool = False,
    momentum: Hyperparameter = 0.0,
) -> GradientTransformation:
    """RMSprop's direction with torch.optim.RMSprop's formulas.

    nu = alpha * nu + (1 - alpha) * g**2; centered: mu = lerp(mu, g, 1 - alpha) and nu - mu**2
    replaces nu; d = g / (sqrt(.) + eps). With momentum (a nonzero number or any tensor), a
    buffer buf = momentum * buf + d (starting from zeros) is returned instead of d.
    """
    use_momentum = not _is_zero(momentum)

    def init(params: Tensor) -> RmsState:
        return RmsState(
            torch.zeros_like(params),
            torch.zeros_like(params) if centered else None,
            torch.zeros_like(params) if use_momentum else None,
        )

    def update(updates: Tensor, state: RmsState, params: Optional[Tensor] = None):
        a = _like(alpha, updates)
        nu = a * state.nu + (1 - a) * updates * updates
        mu = torch.lerp(state.mu, updates, 1 - a) if centered else None
        avg = (nu - mu * mu).sqrt() if centered else nu.sqrt()
        out = updates / (avg + _like(eps, updates))
        buf = _like(momentum, updates) * state.momentum_buffer + out if use_momentum else None
        return (buf if use_momentum else out), RmsState(nu, mu, buf)

    return GradientTransformation(init, update)


def clip_by_global_norm(max_norm: Hyperparameter) -> GradientTransformation:
    """Rescales updates whose L2 norm over the last dim exceeds `max_norm` down to `max_norm`."""

    def init(params: Tensor) -> EmptyState:
        return EmptyState()

    def update(updates: Tensor, state: EmptyState, params: Optional[Tensor] = None):
        norm = torch.linalg.vector_norm(updates, dim=-1, keepdim=True)
        limit = _like(max_norm, updates)
        factor = torch.where(norm > limit, limit / norm, torch.ones_like(norm))
        return updates * factor, state

    return GradientTransformation(init, update)


class OptimismState(NamedTuple):
    """The previous input of `scale_by_optimism` and the number of steps taken (0-d int64 tensor)."""

    count: Tensor
    previous: Tensor


def scale_by_optimism() -> GradientTransformation:
    """Optimism (Daskalakis, Ilyas, Syrgkanis, Zeng 2018, "Training GANs with Optimism"):
    outputs ``2 u_t - u_{t-1}`` for inputs u_t (a gradient, or another rule's direction).

    First step: there is no u_{-1}; it is taken equal to u_0, so the first output is u_0
    itself (the first optimistic step is a plain step). Placed before `scale_by_learning_rate`
    on gradients this is optimistic gradient descent, ``theta <- theta - 2 lr g_t + lr g_{t-1}``;
    after `scale_by_adam` it is Optimistic Adam. Elementwise, so leading batch dims work.
    """

    def init(params: Tensor) -> OptimismState:
        return OptimismState(_zero_count(params), torch.zeros_like(params))

    def update(updates: Tensor, state: OptimismState, params: Optional[Tensor] = None):
        out = torch.where(state.count == 0, updates, 2 * updates - state.previous)
        return out, OptimismState(state.count + 1, updates.detach().clone())

    return GradientTransformation(init, update)
