"""How a game runs its networks: one game's module as it is, or N games as batched kernels.

A game of N games evaluates the same architecture with N parameter vectors. For one game the
module itself runs (:class:`ModuleNetwork`: its parameters and buffers are views of the game's
row 0, and nothing is faster than plain module code there). For N games: The generic
way, ``torch.func.vmap`` over ``functional_call``, works for any module but pays Python and
dispatch overhead per layer and call. For the layer stacks the tasks use (Linear, BatchNorm1d,
elementwise activations, flatten/reshape, the 1D tasks' affine scaling and linear skip) this module lowers the
network to a list of batched operations: a Linear becomes one ``baddbmm`` over the N games,
a BatchNorm1d one ``batch_norm`` kernel with N x F channels (see the layout note below). Anything else falls back to vmap.

Gradients: the batched parameters are leaf views of the ``(N, P)`` buffer, one per named
parameter, so autograd hands back one gradient per layer and a single ``cat`` assembles the
``(N, P)`` gradient (slicing a leaf instead would make every layer's backward write a full
``(N, P)`` tensor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from minimax.core.flat import FlatModule
from minimax.core.layers import Affine, Residual, Squeeze

Params = dict[str, torch.Tensor]
OpFn = Callable[[torch.Tensor, Params, Params, bool], torch.Tensor]

_ELEMENTWISE = (nn.Tanh, nn.Sigmoid, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Identity, nn.GELU, nn.SiLU, nn.Softplus)

# Layouts. A stack of Linear layers runs *feature-major*: activations (N, features, batch), each layer
# h' = W h + b as one baddbmm. Then the gradient of every weight, dL/dW = dL/dh' h^T, comes out
# contiguous in W's own (N, out, in) layout (sample-major, x W^T, would hand back transposed gradients
# that cost a strided copy each), and BatchNorm is one kernel on (1, N*F, batch) with no transpose.
# Shape layers (flatten, unflatten, squeeze) see the sample-major (N, batch, ...) layout.
LINEAR, NORM, ANY, SHAPE = "linear", "norm", "any", "shape"


def _shift_dim(dim: int) -> int:
    """A per-sample module's dim, in a tensor with one more leading (game) dim."""
    return dim + 1 if dim >= 0 else dim


# Each op is a small callable object rather than a closure, so that networks (and the envs that hold
# them) pickle: multiprocessing, AsyncVectorEnv and Ray carry them.


class _Linear:
    def __init__(self, prefix: str) -> None:
        self.weight, self.bias = f"{prefix}weight", f"{prefix}bias"

    def __call__(self, x: torch.Tensor, params: Params, buffers: Params, train: bool) -> torch.Tensor:
        w = params[self.weight]  # (N, out, in); x is feature-major (N, in, batch)
        if self.bias in params:
            return torch.baddbmm(params[self.bias].unsqueeze(-1), w, x)
        return torch.bmm(w, x)


class _BatchNorm:
    def __init__(self, prefix: str, module: nn.BatchNorm1d) -> None:
        self.names = {k: f"{prefix}{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
        self.momentum, self.eps = module.momentum, module.eps

    def __call__(self, x: torch.Tensor, params: Params, buffers: Params, train: bool) -> torch.Tensor:
        names = self.names
        n, f, b = x.shape  # feature-major: each game's features are channels of their own
        mean, var = buffers[names["running_mean"]], buffers[names["running_var"]]
        out = F.batch_norm(
            x.reshape(1, n * f, b), mean.view(n * f), var.view(n * f), params[names["weight"]].reshape(n * f),
            params[names["bias"]].reshape(n * f), train, self.momentum, self.eps,
        )  # fmt: skip
        if train:
            buffers[names["num_batches_tracked"]].add_(1)
        return out.view(n, f, b)


class _Affine:
    def __init__(self, prefix: str, inverse: bool) -> None:
        self.shift, self.scale, self.inverse = f"{prefix}shift", f"{prefix}scale", inverse

    def __call__(self, x: torch.Tensor, params: Params, buffers: Params, train: bool) -> torch.Tensor:
        view = (-1,) + (1,) * (x.dim() - 1)
        s, c = buffers[self.shift].view(view), buffers[self.scale].view(view)
        return (x - s) / c if self.inverse else s + c * x


class _Elementwise:
    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, x: torch.Tensor, params: Params, buffers: Params, train: bool) -> torch.Tensor:
        return self.module(x)


class _Shape:
    """A reshaping of the sample-major layout: ``squeeze(-1)``, ``flatten(a, b)`` or ``unflatten(dim, sizes)``."""

    def __init__(self, kind: str, *args: Any) -> None:
        self.kind, self.args = kind, args

    def __call__(self, x: torch.Tensor, params: Params, buffers: Params, train: bool) -> torch.Tensor:
        if self.kind == "squeeze":
            return x.squeeze(-1)
        return getattr(x, self.kind)(*self.args)


class _Residual:
    """``body(x) + skip(x)`` with both branches lowered; both run feature-major (Linear and elementwise ops only)."""

    def __init__(self, body: list[tuple[str, OpFn]], skip: list[tuple[str, OpFn]]) -> None:
        self.body, self.skip = [op for _, op in body], [op for _, op in skip]

    def __call__(self, x: torch.Tensor, params: Params, buffers: Params, train: bool) -> torch.Tensor:
        out, side = x, x
        for op in self.body:
            out = op(out, params, buffers, train)
        for op in self.skip:
            side = op(side, params, buffers, train)
        return out + side


def _lower(module: nn.Module, prefix: str) -> list[tuple[str, OpFn]] | None:
    """The module as (layout, op) pairs, or None when some part of it is not supported."""
    if isinstance(module, nn.Sequential):
        ops: list[tuple[str, OpFn]] = []
        for name, child in module.named_children():
            lowered = _lower(child, f"{prefix}{name}.")
            if lowered is None:
                return None
            ops += lowered
        return ops
    if type(module) is nn.Linear:
        return [(LINEAR, _Linear(prefix))]
    if type(module) is nn.BatchNorm1d:
        if not (module.affine and module.track_running_stats) or module.momentum is None:
            return None
        return [(NORM, _BatchNorm(prefix, module))]
    if type(module) in _ELEMENTWISE:
        return [(ANY, _Elementwise(module))]
    if type(module) is Affine:
        return [(ANY, _Affine(prefix, module.inverse))]
    if type(module) is Squeeze:
        return [(SHAPE, _Shape("squeeze"))]
    if type(module) is Residual:
        body, skip = _lower(module.body, f"{prefix}body."), _lower(module.skip, f"{prefix}skip.")
        if body is None or skip is None or any(layout in (NORM, SHAPE) for layout, _ in body + skip):
            return None  # feature-major branches of Linear and elementwise ops only
        return [(LINEAR, _Residual(body, skip))]
    if type(module) is nn.Flatten:
        start, end = _shift_dim(module.start_dim), _shift_dim(module.end_dim)
        return [(SHAPE, _Shape("flatten", start, end))]
    if type(module) is nn.Unflatten and isinstance(module.dim, int):
        dim, sizes = _shift_dim(module.dim), tuple(module.unflattened_size)
        return [(SHAPE, _Shape("unflatten", dim, sizes))]
    return None


@dataclass(frozen=True)
class Bound:
    """A network bound to the parameters and buffers of some games, for one evaluation.

    ``params`` and ``buffers`` map names to tensors with a leading game dimension. For a
    :class:`ModuleNetwork` they are None when the module runs on its own parameters (the live
    game), or one game's unbatched tensors when it runs functionally (the joint field).
    """

    params: Params | None
    buffers: Params | None


class ModuleNetwork:
    """One game's network: the module itself, its parameters views of the game's ``(1, P)`` row.

    Inputs and outputs carry the leading game dimension of size 1, like :class:`BatchedNetwork`'s,
    so the game's turn logic is the same for every N (the module itself runs on the game's own
    batch, ``x[0]``).
    """

    lowered = False

    def __init__(self, flat: FlatModule) -> None:
        self.template = flat
        self.slots = flat.slots
        self.size = flat.size

    def bind(self, theta: torch.Tensor, buffers: Params, requires_grad: bool) -> Bound:
        """The live module (its parameters are views of the game's parameters; autograd decides what is differentiated)."""
        return Bound(None, None)

    def functional(self, theta: torch.Tensor, buffers: Params) -> Bound:
        """The module run with parameters ``theta`` (1, P) (differentiable) and buffers (copies, (1, ...))."""
        return Bound(self.template.unflatten(theta[0]), {k: v[0] for k, v in buffers.items()})

    def __call__(self, bound: Bound, x: torch.Tensor, train: bool) -> torch.Tensor:
        """The network on ``x`` (1, batch, ...), in train mode or (``train=False``) in eval mode for this call."""
        module = self.template.module

        def run() -> torch.Tensor:
            if bound.params is None:
                return module(x[0]).unsqueeze(0)
            return functional_call(module, {**bound.params, **bound.buffers}, (x[0],)).unsqueeze(0)

        if train or not module.training:
            return run()
        module.eval()
        try:
            return run()
        finally:
            module.train()

    def gradient(self, loss: torch.Tensor, bound: Bound, retain_graph: bool = False) -> torch.Tensor:
        """d loss / d parameters as a fresh ``(1, P)`` tensor (the caller may keep it)."""
        return self.template.flat_gradient(loss, retain_graph=retain_graph).unsqueeze(0)


class BatchedNetwork:
    """``template``'s architecture evaluated for N parameter vectors ``theta`` of shape ``(N, P)``."""

    def __init__(self, template: FlatModule) -> None:
        self.template = template
        self.slots = template.slots
        self.size = template.size
        self.ops = _lower(template.module, "")
        self._buffers: dict[tuple, torch.Tensor] = {}

    def bind(self, theta: torch.Tensor, buffers: Params, requires_grad: bool) -> Bound:
        """Leaves (or plain views) of ``theta`` (n, P), and the buffers (n, ...) the run updates in place."""
        return Bound(self.leaves(theta.detach(), requires_grad), buffers)

    def functional(self, theta: torch.Tensor, buffers: Params) -> Bound:
        """Views of a differentiable ``theta`` (n, P) (the gradient flows back to it), and buffer copies."""
        n = theta.shape[0]
        return Bound({s.name: theta[:, s.offset : s.offset + s.numel].view(n, *s.shape) for s in self.slots}, buffers)

    @property
    def lowered(self) -> bool:
        """Whether the network runs as batched kernels (True) or through vmap (False)."""
        return self.ops is not None

    def leaves(self, theta: torch.Tensor, requires_grad: bool) -> Params:
        """One batched tensor ``(N, *shape)`` per named parameter: views of ``theta`` (leaves when differentiated)."""
        n = theta.shape[0]
        out = {}
        for slot in self.template.slots:
            view = theta[:, slot.offset : slot.offset + slot.numel].view(n, *slot.shape)
            out[slot.name] = view.detach().requires_grad_(True) if requires_grad else view
        return out

    def gradient(self, loss: torch.Tensor, bound: Bound, retain_graph: bool = False) -> torch.Tensor:
        """d loss / d theta as one ``(N, P)`` tensor, from the leaves made by :meth:`bind`.

        Each layer's gradient is copied once, straight into its slice. The buffer is reused
        from call to call (writing into fresh memory costs a CPU more than the copy itself):
        the result is valid until the next call for the same number of games.
        """
        tensors = list(bound.params.values())
        grads = torch.autograd.grad(loss, tensors, retain_graph=retain_graph, allow_unused=True)
        n = tensors[0].shape[0]
        out = self._gradient_buffer(n, tensors[0])
        for slot, g in zip(self.template.slots, grads):
            target = out[:, slot.offset : slot.offset + slot.numel].view(n, *slot.shape)
            if g is None:
                target.zero_()
            else:
                target.copy_(g)
        return out

    def _gradient_buffer(self, n: int, like: torch.Tensor) -> torch.Tensor:
        key = (n, like.dtype, like.device)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = like.new_empty(n, self.template.size)
        return buffer

    def __call__(self, bound: Bound, x: torch.Tensor, train: bool) -> torch.Tensor:
        """The network on input ``x`` of shape ``(N, batch, ...)`` with the bound batched parameters and buffers.

        Buffers (BatchNorm running statistics) are updated in place in train mode.
        """
        return self.run(bound.params, bound.buffers, x, train)

    def run(self, params: Params, buffers: Params, x: torch.Tensor, train: bool) -> torch.Tensor:
        """The network on ``x`` (N, batch, ...) with batched ``params`` and ``buffers`` (updated in place in train mode)."""
        if self.ops is not None:
            feature_major = False
            for layout, op in self.ops:
                if layout in (LINEAR, NORM) and not feature_major:
                    if x.dim() != 3:
                        raise ValueError(f"a batched {layout} layer needs (games, batch, features), got {tuple(x.shape)}")
                    x, feature_major = x.transpose(1, 2), True
                elif layout == SHAPE and feature_major:
                    x, feature_major = x.transpose(1, 2), False
                x = op(x, params, buffers, train)
            return x.transpose(1, 2) if feature_major else x
        module = self.template.module

        def one(params_i: Params, buffers_i: Params, x_i: torch.Tensor) -> torch.Tensor:
            return functional_call(module, {**params_i, **buffers_i}, (x_i,))

        module.train(train)
        try:
            return vmap(one)(params, buffers, x)
        finally:
            module.train(True)


__all__ = ["BatchedNetwork", "Bound", "ModuleNetwork"]

