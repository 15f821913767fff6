"""The reference baselines of the speed benchmark: plain eager PyTorch loops, written as a user would.

No minimax machinery: ``nn.Sequential`` networks, ``torch.optim.Adam`` (``fused=True``: torch's
fused kernel, the fastest Adam a user gets from torch), ``F.binary_cross_entropy_with_logits``,
one game at a time; ``compiled=True`` runs each iteration through ``torch.compile`` (optimizer
steps included, as torch's tutorials show), compiled on the first call. Each does the work of one
iteration of the minimax run it is compared with (same networks, batch, schedule and loss),
so iterations per second compare like with like. ``make_*`` builds a game and returns
``run(iterations)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def mlp_1d(hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def make_normal1d(hidden: int, batch: int, seed: int = 0, device: str = "cpu", fused: bool = False,
                  compiled: bool = False) -> Callable[[int], None]:  # fmt: skip
    """Algorithm 1 with k = 1 on N(4, 1.25^2) from uniform noise: G and D 1-h-h-1 tanh, Adam(1e-3, 0.5), non-saturating."""
    torch.manual_seed(seed)
    g, d = mlp_1d(hidden).to(device), mlp_1d(hidden).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=fused or None)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=fused or None)
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def d_step() -> None:
        real = 4.0 + 1.25 * torch.randn(batch, 1, device=device)
        fake = g(torch.rand(batch, 1, device=device)).detach()
        loss_d = F.binary_cross_entropy_with_logits(d(real), ones) + F.binary_cross_entropy_with_logits(d(fake), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

    def g_step() -> None:
        fake = g(torch.rand(batch, 1, device=device))
        loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return _loop((d_step, g_step), compiled)


def _loop(steps: tuple[Callable[[], None], ...], compiled: bool) -> Callable[[int], None]:
    """``run(iterations)``: each iteration calls ``steps`` in order (each through ``torch.compile`` when asked)."""
    if compiled:
        steps = tuple(torch.compile(step) for step in steps)

    def run(iterations: int) -> None:
        for _ in range(iterations):
            for step in steps:
                step()

    return run


def mnist_networks() -> tuple[nn.Module, nn.Module]:
    """The report's MLPs: G 100-256-512-1024-784 (LeakyReLU 0.2, BatchNorm, tanh), D 784-512-256-1."""
    layers: list[nn.Module] = []
    width = 100
    for h in (256, 512, 1024):
        layers += [nn.Linear(width, h), nn.LeakyReLU(0.2), nn.BatchNorm1d(h, momentum=0.2, eps=1e-3)]
        width = h
    g = nn.Sequential(*layers, nn.Linear(width, 784), nn.Tanh())
    d = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return g, d


def make_mnist(images: torch.Tensor, batch: int, seed: int = 0, device: str = "cpu", fused: bool = False,
               compiled: bool = False) -> Callable[[int], None]:  # fmt: skip
    """The report's Keras update in eager PyTorch: D on a real half batch, D on a generated half
    batch (made in inference mode), then G on a full batch; Adam(2e-4, 0.5) for both."""
    torch.manual_seed(seed)
    g, d = (net.to(device) for net in mnist_networks())
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused or None)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=fused or None)
    half = batch // 2
    images = images.to(device).reshape(len(images), -1)
    ones_half, zeros_half = torch.ones(half, 1, device=device), torch.zeros(half, 1, device=device)
    ones = torch.ones(batch, 1, device=device)

    def d_real_step() -> None:
        real = images[torch.randint(0, len(images), (half,), device=device)]
        loss = F.binary_cross_entropy_with_logits(d(real), ones_half)
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    def d_fake_step() -> None:
        g.eval()
        with torch.no_grad():
            fake = g(torch.randn(half, 100, device=device))
        g.train()
        loss = F.binary_cross_entropy_with_logits(d(fake), zeros_half)
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    def g_step() -> None:
        fake = g(torch.randn(batch, 100, device=device))
        loss = F.binary_cross_entropy_with_logits(d(fake), ones)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    return _loop((d_real_step, d_fake_step, g_step), compiled)
