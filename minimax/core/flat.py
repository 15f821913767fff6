"""One flat parameter buffer per player.

A player's parameters live in a single contiguous vector; the module's own ``nn.Parameter``
objects are re-pointed to views of it. Observations and actions are then views and in-place
adds on one vector, and an update rule touches a handful of flat tensors whatever the number
of layers. A game of N games keeps an ``(N, P)`` buffer; a module that runs one game's
networks directly views one row of it (and its buffers view rows of ``(N, ...)`` buffers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call


@dataclass(frozen=True)
class Slot:
    """Where one named parameter sits inside the flat buffer."""

    name: str
    shape: torch.Size
    offset: int
    numel: int


def slots_of(module: nn.Module) -> tuple[Slot, ...]:
    """The layout of ``module``'s parameters in a flat vector, in ``named_parameters`` order."""
    slots, offset = [], 0
    for name, p in module.named_parameters():
        slots.append(Slot(name, p.shape, offset, p.numel()))
        offset += p.numel()
    if not slots:
        raise ValueError(f"{type(module).__name__} has no parameters to flatten")
    return tuple(slots)


def bind_buffers(module: nn.Module, storage: dict[str, torch.Tensor]) -> None:
    """Re-point ``module``'s named buffers to the given tensors (views of a game's buffers), values copied in."""
    for name, view in storage.items():
        owner, _, leaf = name.rpartition(".")
        holder = module.get_submodule(owner) if owner else module
        with torch.no_grad():
            view.copy_(getattr(holder, leaf))
        setattr(holder, leaf, view)  # a Module's __setattr__ on a buffer's name replaces the buffer


class FlatModule:
    """A module whose parameters are views into one flat buffer ``self.flat``.

    ``forward(x)`` runs the module as it stands; ``forward_with(flat, x)`` runs
    it with any flat vector of the same size (for example one that requires
    grad, so the gradient arrives flat, with no copy). ``storage`` (a ``(P,)`` tensor,
    e.g. one row of a game's ``(N, P)`` buffer) is where the parameters will live; by
    default a new vector is allocated.
    """

    def __init__(self, module: nn.Module, storage: torch.Tensor | None = None) -> None:
        self.module = module
        params = list(module.named_parameters())
        self.slots: tuple[Slot, ...] = slots_of(module)
        self.parameter_list: tuple[nn.Parameter, ...] = tuple(p for _, p in params)
        first = params[0][1]
        size = self.slots[-1].offset + self.slots[-1].numel
        if storage is None:
            storage = torch.empty(size, dtype=first.dtype, device=first.device)
        elif storage.shape != (size,) or storage.dtype != first.dtype or storage.device != first.device:
            raise ValueError(f"storage must be a ({size},) {first.dtype} tensor on {first.device}, "
                             f"got {tuple(storage.shape)} {storage.dtype} on {storage.device}")  # fmt: skip
        self.flat = storage
        with torch.no_grad():
            for slot, (_, p) in zip(self.slots, params):
                self.flat[slot.offset : slot.offset + slot.numel].copy_(p.reshape(-1))
                p.data = self.view(self.flat, slot)

    @property
    def size(self) -> int:
        """Number of scalar parameters (the length of the flat buffer)."""
        return self.flat.numel()

    @staticmethod
    def view(flat: torch.Tensor, slot: Slot) -> torch.Tensor:
        """The view of ``flat`` holding one named parameter."""
        return flat[slot.offset : slot.offset + slot.numel].view(slot.shape)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Name -> view mapping of a flat vector, in the module's layout."""
        return {slot.name: self.view(flat, slot) for slot in self.slots}

    def forward_with(
        self, flat: torch.Tensor, *inputs: torch.Tensor, buffers: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Run the module with the parameters given as one flat vector (and, optionally, other buffers).

        Passing copies of the buffers keeps the module's own (BatchNorm statistics)
        untouched by a train-mode forward.
        """
        return functional_call(self.module, {**self.unflatten(flat), **(buffers or {})}, inputs)

    def buffer_copies(self) -> dict[str, torch.Tensor]:
        """Fresh copies of the module's buffers, for :meth:`forward_with`."""
        return {name: b.clone() for name, b in self.module.named_buffers()}

    def flat_gradient(self, loss: torch.Tensor, retain_graph: bool = False) -> torch.Tensor:
        """The gradient of ``loss`` w.r.t. this module's parameters, as one flat vector."""
        grads = torch.autograd.grad(loss, self.parameter_list, retain_graph=retain_graph, allow_unused=True)
        return torch.cat(
            [torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1) for g, p in zip(grads, self.parameter_list)]
        )

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.module(*inputs)
