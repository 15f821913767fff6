"""Shared fixtures: small, fast games on the CPU."""

from __future__ import annotations

import pettingzoo
import pytest
import torch

import minimax  # noqa: F401  (registers the environments)

# The test networks are tiny: intra-op threads only add synchronisation, and on a busy
# 2-core machine OpenMP spin-waits made some tests 20x slower. One thread is also faster.
torch.set_num_threads(1)

ENV_ID = "minimax/Normal1D-v0"
SMALL = {"hidden": 8, "batch_size": 32}


@pytest.fixture
def make_aec():
    def make(**kwargs):
        return pettingzoo.make("aec", ENV_ID, view="torch", **{**SMALL, **kwargs})

    return make


@pytest.fixture
def make_parallel():
    def make(**kwargs):
        return pettingzoo.make("parallel", ENV_ID, view="torch", **{**SMALL, **kwargs})

    return make


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """No test may touch the network: any attempt to fetch a data file fails the test."""
    import minimax.datasets.mnist as loader

    def refuse(url, destination, timeout):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(loader, "_fetch", refuse)
