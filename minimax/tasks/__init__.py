"""Tasks: what is being learnt (target data, noise prior, the two networks)."""

from minimax.tasks.base import Task
from minimax.tasks.normal1d import Normal1D

__all__ = ["Normal1D", "Task"]
