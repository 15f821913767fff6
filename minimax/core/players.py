"""The two players, and the parts of a minibatch that a turn can show."""

from __future__ import annotations

DISCRIMINATOR = "discriminator"
GENERATOR = "generator"
PLAYERS = (DISCRIMINATOR, GENERATOR)

#: A turn sees a whole minibatch, or (a discriminator's split turn) only its real or its generated half.
BOTH, REAL, FAKE = "both", "real", "fake"
PARTS = (BOTH, REAL, FAKE)


def other(player: str) -> str:
    """The opponent of ``player``."""
    return GENERATOR if player == DISCRIMINATOR else DISCRIMINATOR
