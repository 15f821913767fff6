"""Environments: the turn-based (AEC), simultaneous (Parallel) and single-player views of a game."""
