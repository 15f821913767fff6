"""Update rules as agents: validated, named wrappers around a GradientTransformation.

Why: in a game each player is an agent that maps an observation (its gradient and parameters)
to an action (the change to its parameters). `UpdateRule.update` is the pure functional core
for batched or graph-captured loops; `UpdateRule.act` is the stateful agent interface.
The named rules reproduce torch.optim's formulas but also accept negative momentum and beta1.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor

from agents._checks import check_flag, check_number
from agents.transforms import (
    GradientTransformation,
    Hyperparameter,
    State,
    _is_zero,
    add_decayed_weights,
    chain,
    fused_adam,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_optimism,
    scale_by_rms,
    trace,
    tree_where,
)

Array = Union[Tensor, np.ndarray]


def _format(value: Any) -> str:
    """Short repr for hyper-parameters: tensors with several entries show only their shape."""
    if isinstance(value, Tensor):
        return repr(value.item()) if value.numel() == 1 else f"Tensor(shape={list(value.shape)})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_format(v) for v in value) + ")"
    return repr(value)


class UpdateRule:
    """An agent that turns gradients into parameter changes.

    `init(params)` and `update(grads, state, params) -> (delta, state)` are pure: delta is the
    change to ADD to params, and params may carry leading batch dims ``(..., P)``.
    `act(observation)` keeps its own state, so one instance drives exactly one player; use a
    separate instance (or the functional core) for each player.
    """

    #: What pickling keeps besides the construction call (the transformation itself is rebuilt by that call).
    PICKLED = ("name", "_hyperparameters", "_state", "_state_key", "shared_count")

    def __new__(cls, *args: Any, **kwargs: Any) -> "UpdateRule":
        rule = super().__new__(cls)
        rule._recipe = (cls, args, kwargs)  # how to build it again: pickling rebuilds instead of storing closures
        return rule

    def __reduce__(self) -> tuple:
        """Pickle as the call that built the rule plus its state (wrappers record their own call)."""
        return (_rebuild, (self._recipe, {k: self.__dict__[k] for k in self.PICKLED if k in self.__dict__}))

    def __deepcopy__(self, memo: dict) -> "UpdateRule":
        """Copy the state and settings; share the transformation (immutable: a pair of pure functions), so a copy
        hits the compiled ticks made for the original instead of compiling them again."""
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update({k: v if k == "transform" else copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        return new

    def __init__(
        self,
        transform: GradientTransformation,
        *,
        name: Optional[str] = None,
        hyperparameters: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.transform = transform
        self.name = name or type(self).__name__
        self._hyperparameters = dict(hyperparameters or {})
        self._state: Optional[State] = None
        self._state_key: Optional[tuple] = None
        self.shared_count = False  # one step count for every row: the rows must move together (fused kernels)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters the rule was built with (a copy)."""
        return dict(self._hyperparameters)

    @property
    def state(self) -> Optional[State]:
        """The state kept by `act`; None before the first call or after `reset`."""
        return self._state

    def init(self, params: Tensor) -> State:
        """Fresh state for `params` of shape (..., P)."""
        return self.transform.init(params)

    def update(self, grads: Tensor, state: State, params: Tensor) -> tuple[Tensor, State]:
        """Returns (delta, new_state); the step is `params + delta`."""
        return self.transform.update(grads, state, params)

    @property
    def in_place(self) -> bool:
        """Whether :meth:`update_` runs in place (every transformation of the rule has an in-place form)."""
        return self.transform.update_ is not None

    def update_(self, grads: Tensor, state: State, params: Tensor) -> tuple[Tensor, State]:
        """As :meth:`update`, bitwise, but may overwrite ``grads`` and the tensors of ``state``.

        Donate both (do not use them afterwards). Falls back to :meth:`update` for rules
        without an in-place form.
        """
        if self.transform.update_ is None:
            return self.update(grads, state, params)
        return self.transform.update_(grads, state, params)

    @property
    def moves_in_place(self) -> bool:
        """Whether :meth:`move_` runs a kernel that moves the parameters itself (the transformation has an
        ``apply_``, and the rule's class keeps :meth:`step` as it is here, so the two make the same move)."""
        return self.transform.apply_ is not None and type(self).step is UpdateRule.step

    def move_(self, grads: Tensor, params: Tensor) -> None:
        """Move ``params`` in place by the change :meth:`step` would return for ``grads`` (bitwise), updating the
        state kept by the rule; every row moves. The caller donates ``grads`` (it may be overwritten)."""
        if not self.moves_in_place:
            raise TypeError(f"{self.name} has no in-place move (moves_in_place is False): use step")
        key = (params.shape, params.dtype, params.device)
        with torch.no_grad():
            if self._state is None or key != self._state_key:
                self._state, self._state_key = self.init(params), key
            self._state = self.transform.apply_(grads, self._state, params)

    def step(self, grads: Tensor, params: Tensor, *, moving: Optional[Tensor] = None, in_place: bool = False) -> Tensor:
        """The change for ``grads`` at ``params``, updating the state kept by the rule (what `act` does on tensors).

        The state is created on the first call and re-created when the parameters' shape, dtype
        or device changes. ``moving`` ((N,) bool, for N games in lockstep) keeps the state of
        the games that do not move unchanged. ``in_place`` runs :meth:`update_` (the caller
        donates ``grads``: it may be overwritten); the result is bitwise the same.
        """
        key = (params.shape, params.dtype, params.device)
        with torch.no_grad():
            if self._state is None or key != self._state_key:
                self._state, self._state_key = self.init(params), key
            if moving is None:
                delta, self._state = (self.update_ if in_place else self.update)(grads, self._state, params)
            elif self.shared_count:
                raise ValueError(
                    f"{self.name}: a fused rule keeps one step count for every game, so every game must move at "
                    "every step; these games move at different ticks (their schedules differ): use fused=False"
                )
            else:
                delta, new_state = self.update(grads, self._state, params)
                self._state = tree_where(moving, new_state, self._state)
        return delta

    def state_for(self, params: Tensor) -> State:
        """The state kept by the rule for ``params`` (created as :meth:`step` creates it), for a caller that runs
        the functional core itself (a compiled tick) and hands the new state back with :meth:`commit_state`."""
        key = (params.shape, params.dtype, params.device)
        if self._state is None or key != self._state_key:
            self._state, self._state_key = self.init(params), key
        return self._state

    def commit_state(self, state: State) -> None:
        """Keep ``state`` (the result of :meth:`update` on the state from :meth:`state_for`)."""
        self._state = state

    def act(self, observation: Mapping[str, Array]) -> Array:
        """Delta for observation {"gradient", "parameters"} (and ``"moving"`` for N games), updating the internal state.

        NumPy observations are computed in float32 and answered with a new float32 array;
        torch observations are answered with a tensor.
        """
        grads, params = observation["gradient"], observation["parameters"]
        from_numpy = not isinstance(grads, Tensor)
        if from_numpy:
            grads = torch.as_tensor(grads, dtype=torch.float32)
            params = torch.as_tensor(params, dtype=torch.float32)
        moving = observation.get("moving") if isinstance(observation, Mapping) else None
        if moving is not None and not isinstance(moving, Tensor):
            moving = torch.as_tensor(np.asarray(moving, dtype=bool))
        delta = self.step(grads, params, moving=moving)
        return delta.cpu().numpy().astype(np.float32) if from_numpy else delta

    def set_state(self, state: State, params: Optional[Tensor] = None) -> None:
        """Use ``state`` (as `init(params)` builds it, e.g. from a checkpoint) from the next move on.

        ``params`` (the parameters it belongs to) fixes the shape, dtype and device the state is
        for; without them the rule keeps its current ones.
        """
        if params is None and self._state_key is None and state is not None:
            raise ValueError(f"{self.name}.set_state: give params the first time (the state is for parameters of "
                             "which shape, dtype and device?)")  # fmt: skip
        self._state = state
        if params is not None:
            self._state_key = (params.shape, params.dtype, params.device)

    def reset(self) -> None:
        """Forgets the state kept by `act`."""
        self._state, self._state_key = None, None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_format(v)}" for k, v in self._hyperparameters.items())
        return f"{self.name}({args})"


def _rebuild(recipe: tuple[Callable[..., "UpdateRule"], tuple, dict], attributes: dict[str, Any]) -> "UpdateRule":
    """Unpickle a rule: call its recipe again, then put its state back."""
    factory, args, kwargs = recipe
    rule = factory(*args, **kwargs)
    rule.__dict__.update(attributes)
    return rule


def remember(rule: "UpdateRule", factory: Callable[..., "UpdateRule"], *args: Any, **kwargs: Any) -> "UpdateRule":
    """Record ``factory(*args, **kwargs)`` as how ``rule`` is built (for wrappers that build an UpdateRule of closures)."""
    rule._recipe = (factory, args, kwargs)
    return rule


def _decay(weight_decay: Hyperparameter) -> list[GradientTransformation]:
    """Adds weight_decay * params: before a scaler it is torch's L2 decay, after it AdamW's
    decoupled decay. Omitted when it is a literal zero, as in torch."""
    return [] if _is_zero(weight_decay) else [add_decayed_weights(weight_decay)]


def _check_lr_and_decay(owner: str, lr: Any, weight_decay: Any) -> None:
    check_number(owner, "lr", lr, low=0.0)
    check_number(owner, "weight_decay", weight_decay, low=0.0)


class SGD(UpdateRule):
    """Gradient descent: delta = -lr * (g + weight_decay * p), as torch.optim.SGD."""

    def __init__(self, lr: Hyperparameter, weight_decay: Hyperparameter = 0.0) -> None:
        _check_lr_and_decay(type(self).__name__, lr, weight_decay)
        super().__init__(
            chain(*_decay(weight_decay), scale_by_learning_rate(lr)),
            hyperparameters={"lr": lr, "weight_decay": weight_decay},
        )


class Momentum(UpdateRule):
    """Heavy ball with torch.optim.SGD's buffer semantics; momentum may be negative.

    As in torch, a literal momentum of 0 disables the buffer (and so dampening).
    """

    def __init__(
        self,
        lr: Hyperparameter,
        momentum: Hyperparameter = 0.9,
        dampening: Hyperparameter = 0.0,
        weight_decay: Hyperparameter = 0.0,
    ) -> None:
        owner = type(self).__name__
        _check_lr_and_decay(owner, lr, weight_decay)
        check_number(owner, "momentum", momentum, low=-1.0, high=1.0, low_open=True)
        check_number(owner, "dampening", dampening, low=0.0, high=1.0, high_open=False)
        buffer = [] if _is_zero(momentum) else [trace(momentum, dampening)]
        super().__init__(
            chain(*_decay(weight_decay), *buffer, scale_by_learning_rate(lr)),
            hyperparameters={"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay},
        )


class Nesterov(UpdateRule):
    """Nesterov momentum as torch.optim.SGD(nesterov=True); momentum may be negative."""

    def __init__(
        self, lr: Hyperparameter, momentum: Hyperparameter = 0.9, weight_decay: Hyperparameter = 0.0
    ) -> None:
        owner = type(self).__name__
        _check_lr_and_decay(owner, lr, weight_decay)
        check_number(owner, "momentum", momentum, low=-1.0, high=1.0, low_open=True)
        super().__init__(
            chain(*_decay(weight_decay), trace(momentum, nesterov=True), scale_by_learning_rate(lr)),
            hyperparameters={"lr": lr, "momentum": momentum, "weight_decay": weight_decay},
        )


class Adam(UpdateRule):
    """Adam as torch.optim.Adam; beta1 may be negative. `decoupled_weight_decay=True` is AdamW.

    ``fused=True`` runs torch's fused Adam kernel (one pass over the parameters; the arithmetic of
    ``torch.optim.Adam(fused=True)``, a few ulps from the default's per step): numbers only as
    hyper-parameters, and every game moves at every step.
    """

    def __init__(
        self,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
        fused: bool = False,
    ) -> None:
        owner = type(self).__name__
        _check_lr_and_decay(owner, lr, weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        beta1, beta2 = betas
        check_number(owner, "betas[0] (beta1)", beta1, low=-1.0, high=1.0, low_open=True)
        check_number(owner, "betas[1] (beta2)", beta2, low=0.0, high=1.0)
        check_number(owner, "eps", eps, low=0.0)
        check_flag(owner, "amsgrad", amsgrad)
        check_flag(owner, "decoupled_weight_decay", decoupled_weight_decay)
        check_flag(owner, "fused", fused)
        adam = scale_by_adam(beta1, beta2, eps, amsgrad)
        if fused:
            transform = fused_adam(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad)
        elif decoupled_weight_decay:
            transform = chain(adam, *_decay(weight_decay), scale_by_learning_rate(lr))
        else:
            transform = chain(*_decay(weight_decay), adam, scale_by_learning_rate(lr))
        super().__init__(
            transform,
            hyperparameters={
                "lr": lr,
                "betas": (beta1, beta2),
                "eps": eps,
                "weight_decay": weight_decay,
                "amsgrad": amsgrad,
                "decoupled_weight_decay": decoupled_weight_decay,
                **({"fused": True} if fused else {}),
            },
        )
        self.shared_count = fused


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch.optim.AdamW (default weight_decay 1e-2)."""

    def __init__(
        self,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 1e-2,
        amsgrad: bool = False,
        fused: bool = False,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True, fused=fused)
        del self._hyperparameters["decoupled_weight_decay"]


class RMSprop(UpdateRule):
    """RMSprop as torch.optim.RMSprop; momentum may be negative."""

    def __init__(
        self,
        lr: Hyperparameter = 1e-2,
        alpha: Hyperparameter = 0.99,
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0.0,
        momentum: Hyperparameter = 0.0,
        centered: bool = False,
    ) -> None:
        owner = type(self).__name__
        _check_lr_and_decay(owner, lr, weight_decay)
        check_number(owner, "alpha", alpha, low=0.0, high=1.0)
        check_number(owner, "eps", eps, low=0.0)
        check_number(owner, "momentum", momentum, low=-1.0, high=1.0, low_open=True)
        check_flag(owner, "centered", centered)
        super().__init__(
            chain(
                *_decay(weight_decay),
                scale_by_rms(alpha, eps, centered, momentum),
                scale_by_learning_rate(lr),
            ),
            hyperparameters={
                "lr": lr,
                "alpha": alpha,
                "eps": eps,
                "weight_decay": weight_decay,
                "momentum": momentum,
                "centered": centered,
            },
        )


class OptimisticSGD(UpdateRule):
    """Optimistic gradient descent (Daskalakis et al. 2018; Popov 1980 in its extragradient form).

    delta_t = -lr * (2 g_t - g_{t-1}), i.e. theta <- theta - 2 lr g_t + lr g_{t-1}. At the
    first step g_{-1} = g_0, so the first move is the plain -lr * g_0. Each player's own
    gradient is all it needs, so it acts in the AEC env as well as the Parallel env; played
    simultaneously by both players it is optimistic gradient descent-ascent (OGDA).
    """

    def __init__(self, lr: Hyperparameter) -> None:
        check_number(type(self).__name__, "lr", lr, low=0.0)
        super().__init__(chain(scale_by_optimism(), scale_by_learning_rate(lr)), hyperparameters={"lr": lr})


class OptimisticAdam(UpdateRule):
    """Optimistic Adam (Daskalakis et al. 2018, Algorithm 1): optimism applied to Adam's step.

    With a_t = m_t / (sqrt(v_t) + eps) Adam's direction (torch.optim.Adam's bias-corrected
    formulas, see `scale_by_adam`): theta <- theta - 2 lr a_t + lr a_{t-1}. At the first step
    a_{-1} = a_0, so the first move equals Adam's. beta1 may be negative, as in `Adam`.
    """

    def __init__(
        self,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
    ) -> None:
        owner = type(self).__name__
        check_number(owner, "lr", lr, low=0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        beta1, beta2 = betas
        check_number(owner, "betas[0] (beta1)", beta1, low=-1.0, high=1.0, low_open=True)
        check_number(owner, "betas[1] (beta2)", beta2, low=0.0, high=1.0)
        check_number(owner, "eps", eps, low=0.0)
        super().__init__(
            chain(scale_by_adam(beta1, beta2, eps), scale_by_optimism(), scale_by_learning_rate(lr)),
            hyperparameters={"lr": lr, "betas": (beta1, beta2), "eps": eps},
        )
