"""Any ``torch.optim`` optimizer as an update rule: ``agents.from_torch(torch.optim.Adam, lr=1e-3)``.

Why: a user who has tuned a torch optimizer (or written one) should be able to drop it into a game
without re-expressing it as transformations. The optimizer is run as torch runs it, on a copy of
the parameters: each update builds it over that copy, loads the per-parameter state it left last
time, sets the gradient and calls ``step()``. The change returned is ``new - params``, so the game's
``params + delta`` equals torch's own iterate to one rounding of the subtraction (exactly, for
steps smaller than the parameters: Sterbenz). The state (the optimizer's per-parameter tensors and
a step count) is checkpointed with the rule.

Optimizers that act elementwise (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam, ...)
work on N games' ``(N, P)`` parameters as on one game's; ones that take norms over a whole tensor
mix the games' rows. Optimizers that need a closure (LBFGS) are refused.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple, Optional

import torch
from torch import Tensor

from agents.rules import UpdateRule
from agents.transforms import GradientTransformation


class TorchOptimizerState(NamedTuple):
    """Steps taken (0-d int64) and the optimizer's per-parameter state, in the order of the rule's ``keys``."""

    count: Tensor
    tensors: tuple[Tensor, ...]


class _TorchStep:
    """The transformation: pure (every tensor it returns is new), picklable (no closures)."""

    def __init__(self, optimizer: type, options: dict[str, Any]) -> None:
        self.optimizer = optimizer
        self.options = options
        self.keys = self._probe_keys()  # the names of the optimizer's per-parameter state, fixed for its options

    def _probe_keys(self) -> tuple[str, ...]:
        """One step on a scratch tensor tells which per-parameter state this optimizer keeps with these options."""
        scratch = torch.zeros(1, requires_grad=True)
        optimizer = self.optimizer([scratch], **self.options)
        scratch.grad = torch.ones(1)
        optimizer.step()
        return tuple(sorted(k for k, v in optimizer.state[scratch].items() if v is not None))

    def init(self, params: Tensor) -> TorchOptimizerState:
        return TorchOptimizerState(torch.zeros((), dtype=torch.int64, device=params.device), ())

    def update(self, grads: Tensor, state: TorchOptimizerState, params: Optional[Tensor]) -> tuple[Tensor, TorchOptimizerState]:
        if params is None:
            raise ValueError(f"from_torch({self.optimizer.__name__}): update needs params (torch optimizers step on them)")
        shadow = params.detach().clone().requires_grad_(True)
        optimizer = self.optimizer([shadow], **self.options)
        if state.tensors:
            optimizer.state[shadow] = {k: t.clone() for k, t in zip(self.keys, state.tensors)}
        shadow.grad = grads.detach().to(params.dtype).clone()
        optimizer.step()
        saved = optimizer.state[shadow]
        keys = tuple(sorted(k for k, v in saved.items() if v is not None))
        if keys != self.keys:
            raise RuntimeError(f"from_torch({self.optimizer.__name__}): its state changed from {self.keys} to {keys}")
        tensors = tuple(v.detach().clone() if torch.is_tensor(v) else torch.tensor(v) for v in (saved[k] for k in keys))
        return shadow.detach() - params, TorchOptimizerState(state.count + 1, tensors)


class TorchOptimizerRule(UpdateRule):
    """An :class:`UpdateRule` running a ``torch.optim`` optimizer (see :func:`from_torch`)."""

    def __init__(self, optimizer: type, options: dict[str, Any], name: Optional[str] = None) -> None:
        self._step = _TorchStep(optimizer, options)
        super().__init__(GradientTransformation(self._step.init, self._step.update), name=name or f"torch.{optimizer.__name__}",
                         hyperparameters={"optimizer": f"{optimizer.__module__}.{optimizer.__qualname__}", **options})
        self.shared_count = True  # torch keeps one step count per tensor: the N games' rows move together

    def __reduce__(self) -> tuple:
        """Pickle as the optimizer, its options and :meth:`state_dict` (no closures)."""
        return (_unpickle, (self._step.optimizer, self._step.options, self.name, self.state_dict()))

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the state, its names and the parameters' shape and dtype."""
        if self._state is None:
            return {}
        shape, dtype, _ = self._state_key
        return {"count": self._state.count, "keys": list(self._step.keys), "tensors": list(self._state.tensors),
                "shape": list(shape), "dtype": str(dtype).removeprefix("torch.")}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (a checkpoint's)."""
        if not data:
            self.reset()
            return
        count = data["count"]
        if tuple(data["keys"]) != self._step.keys:
            raise ValueError(f"{self.name}: the saved state holds {data['keys']}, this optimizer keeps {list(self._step.keys)}")
        self._state = TorchOptimizerState(count, tuple(data["tensors"]))
        self._state_key = (torch.Size(data["shape"]), getattr(torch, data["dtype"]), count.device)


def _unpickle(optimizer: type, options: dict[str, Any], name: str, state: dict[str, Any]) -> TorchOptimizerRule:
    rule = TorchOptimizerRule(optimizer, options, name)
    rule.load_state_dict(state)
    return rule


def from_torch(optimizer: type, name: Optional[str] = None, **options: Any) -> TorchOptimizerRule:
    """``optimizer`` (a ``torch.optim.Optimizer`` subclass) with ``options`` as an update rule.

    ``agents.from_torch(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))`` is accepted wherever a rule
    is (``minimax.train``, ``env.step`` through ``rule.act``, checkpoints). The options are checked
    now, by building the optimizer once, so a bad one fails here with torch's message.
    """
    if not (inspect.isclass(optimizer) and issubclass(optimizer, torch.optim.Optimizer)):
        raise TypeError(f"from_torch takes a torch.optim.Optimizer subclass (e.g. torch.optim.Adam), got {optimizer!r}")
    if optimizer is torch.optim.LBFGS:
        raise ValueError("from_torch: LBFGS needs a closure that re-evaluates the loss; a game's move has one gradient")
    try:
        return TorchOptimizerRule(optimizer, dict(options), name)
    except (TypeError, ValueError) as error:
        raise type(error)(f"from_torch({optimizer.__name__}): {error}") from None
