"""Training: the one loop over any env of N >= 1 games, its history, checkpoints and run logs.

``minimax.training.train`` and ``minimax.training.History`` are the names minimax 0.1 had in its
``minimax.training`` module; they are re-exported here (also as ``minimax.train``/``minimax.History``).
"""

from minimax.training.history import METRICS, History
from minimax.training.loop import Callback, train

__all__ = ["METRICS", "Callback", "History", "train"]
