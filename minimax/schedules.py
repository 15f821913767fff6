"""Who moves when: the turn order of the two players.

A schedule is one *cycle* of turns, repeated. Goodfellow's Algorithm 1 is
``Alternating(k=1)``: k discriminator turns, then one generator turn; a cycle is
one training iteration. ``Simultaneous()`` lets both players move on the same
state and minibatch (simultaneous gradient play). Schedules can also be written
as strings, e.g. ``"alternating:k=5,first=generator"`` or ``"simultaneous"``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from minimax.errors import check_choice, check_int

DISCRIMINATOR = "discriminator"
GENERATOR = "generator"
PLAYERS = (DISCRIMINATOR, GENERATOR)


@dataclass(frozen=True)
class Schedule:
    """A repeated cycle of turns.

    ``cycle`` lists the acting player of each turn in one iteration. When
    ``simultaneous`` is true, the turns of a cycle all see the same state and
    minibatch and their moves are applied together at the end of the cycle.
    """

    cycle: tuple[str, ...]
    simultaneous: bool = False

    def agent_at(self, turn: int) -> str:
        """The player who acts at turn number ``turn`` (0-based, counted from reset)."""
        return self.cycle[turn % len(self.cycle)]

    def ends_cycle(self, turn: int) -> bool:
        """Whether turn number ``turn`` is the last of its cycle."""
        return turn % len(self.cycle) == len(self.cycle) - 1

    @property
    def turns_per_iteration(self) -> int:
        return len(self.cycle)

    def turns_of(self, player: str) -> int:
        """How many turns ``player`` has in one cycle."""
        return self.cycle.count(player)


def Alternating(k: int = 1, m: int = 1, first: str = DISCRIMINATOR) -> Schedule:
    """k discriminator turns and m generator turns per iteration, ``first`` moving first.

    Each turn sees a fresh minibatch and the state left by the previous turn.
    """
    k = check_int("k (discriminator turns per iteration)", k, minimum=1)
    m = check_int("m (generator turns per iteration)", m, minimum=1)
    first = check_choice("first player", first, PLAYERS)
    d, g = (DISCRIMINATOR,) * k, (GENERATOR,) * m
    return Schedule(d + g if first == DISCRIMINATOR else g + d)


def Simultaneous() -> Schedule:
    """Both players move on the same state and minibatch (simultaneous gradient play)."""
    return Schedule((DISCRIMINATOR, GENERATOR), simultaneous=True)


_FACTORIES = {"alternating": Alternating, "simultaneous": Simultaneous}
_INT_OPTIONS = {"k", "m"}


def make_schedule(spec: str | Schedule = "alternating", **options: object) -> Schedule:
    """Build a schedule from a name, a ``"name:key=value,..."`` string, or pass one through."""
    if isinstance(spec, Schedule):
        if options:
            raise TypeError(f"options {sorted(options)} given with a ready-made schedule {spec}")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"schedule must be a name such as 'alternating:k=5' or a Schedule, got {spec!r}")
    name, _, rest = spec.partition(":")
    name = check_choice("schedule", name.strip().lower(), _FACTORIES)
    parsed: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"schedule option {item!r} in {spec!r} must look like key=value")
        key, value = key.strip().lower(), value.strip().lower()
        parsed[key] = int(value) if key in _INT_OPTIONS and value.lstrip("+-").isdigit() else value
    parsed.update(options)
    accepted = set(inspect.signature(_FACTORIES[name]).parameters)
    unknown = sorted(set(parsed) - accepted)
    if unknown:
        raise TypeError(f"schedule {name!r} does not take option(s) {unknown}; it takes {sorted(accepted) or 'none'}")
    return _FACTORIES[name](**parsed)  # type: ignore[operator]
