"""What a task provides: the target data, the noise prior and the two networks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

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
    #: The attributes that change as a game goes (drawn at reset, advanced by sampling): what a
    #: checkpoint saves and restores, and nothing else (a task's settings are never read back).
    state_fields: ClassVar[tuple[str, ...]] = ()

    def reset(self, rng: torch.Generator) -> None:
        """Start a new game: draw any fixed data (a training set) from the game's data stream."""

    def state_dict(self) -> dict[str, Any]:
        """The values of :attr:`state_fields` (tensors copied)."""
        return {name: _copy(getattr(self, name)) for name in self.state_fields}

    def check_state(self, state: Any) -> None:
        """Raise ValueError, naming the field and what was expected, unless ``state`` is a valid state of this task."""
        if not isinstance(state, dict) or set(state) != set(self.state_fields):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{type(self).__name__} state: expected the fields {list(self.state_fields)}, got {got}")
        for name in self.state_fields:
            self.check_field(name, state[name])

    def check_field(self, name: str, value: Any) -> None:
        """Check one saved field (tasks with state override this)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the fields of :meth:`state_dict` after checking them."""
        self.check_state(state)
        for name in self.state_fields:
            setattr(self, name, _copy(state[name]))

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


def symmetric_noise(prior: str, n: int, dim: int, rng: torch.Generator, device: torch.device,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:  # fmt: skip
    """``n`` noise vectors ``(n, dim)`` from ``prior``: ``"normal"`` N(0, I) or ``"uniform"`` U(-1, 1)^dim."""
    if prior == "uniform":
        return 2 * torch.rand(n, dim, generator=rng, device=device, dtype=dtype) - 1
    return torch.randn(n, dim, generator=rng, device=device, dtype=dtype)


def draw_rows(data: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    """``n`` rows of ``data`` drawn uniformly with replacement from ``rng`` (on the generator's device)."""
    index = torch.randint(0, len(data), (n,), generator=rng, device=rng.device)
    return data[index.to(data.device)]


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value
