"""What a task provides: the target data, the noise prior and the two networks."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class Task(ABC):
    """A generative task: sample target data and noise, build the two players' networks.

    The discriminator returns *logits*, one per sample (shape ``(batch,)``);
    ``D(x) = sigmoid(logit)``. Samplers take an explicit ``torch.Generator`` so
    the environment owns every random stream.
    """

    name: str
    batch_size: int
    noise_dim: int
    data_shape: tuple[int, ...]

    def reset(self, rng: torch.Generator) -> None:
        """Start a new game: draw any fixed data (a training set) from the game's data stream."""

    @abstractmethod
    def build_generator(self) -> nn.Module:
        """A freshly initialised generator (draws from torch's global RNG, which the env seeds)."""

    @abstractmethod
    def build_discriminator(self) -> nn.Module:
        """A freshly initialised discriminator returning one logit per sample."""

    @abstractmethod
    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """``n`` target samples, shape ``(n, *data_shape)``."""

    @abstractmethod
    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """``n`` noise vectors, shape ``(n, noise_dim)``."""

    def sample_data_games(
        self, tasks: list["Task"], n: int, rngs: list[torch.Generator], device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:  # fmt: skip
        """``n`` target samples for each of several games, shape ``(games, n, *data_shape)``.

        ``tasks[i]`` is game i's copy of this task (its own training set) and ``rngs[i]`` its
        data stream; each row must equal ``tasks[i].sample_data(n, rngs[i], ...)`` exactly.
        Tasks may override this to save Python calls.
        """
        return torch.stack([t.sample_data(n, g, device, dtype) for t, g in zip(tasks, rngs)])

    def sample_noise_games(
        self, n: int, rngs: list[torch.Generator], device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """``n`` noise vectors for each game, ``(games, n, noise_dim)``; row i equals ``sample_noise(n, rngs[i])``."""
        return torch.stack([self.sample_noise(n, g, device, dtype) for g in rngs])

    def describe(self) -> dict[str, object]:
        """The task's settings, for tables and logs."""
        return {"name": self.name, "batch_size": self.batch_size, "noise_dim": self.noise_dim}
