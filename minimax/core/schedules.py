"""Who moves when: the turn order of the two players.

A schedule is one *cycle* of turns, repeated. Goodfellow's Algorithm 1 is
``Alternating(k=1)``: k discriminator turns, then one generator turn; a cycle is
one training iteration. ``Simultaneous()`` lets both players move on the same
state and minibatch (simultaneous gradient play). Schedules can also be written
as strings, e.g. ``"alternating:k=5,first=generator"`` or ``"simultaneous"``.

Each turn also says which part of a minibatch its player sees: ``"both"`` (real
data and generated samples, the default) or, for the discriminator,
``"real"`` or ``"fake"`` alone. ``"alternating:k=1,split=true"`` makes each
discriminator step two turns, a half batch of real data then a half batch of
generated samples: the update of the report's Keras code (two
``train_on_batch`` calls per step).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from minimax.core.players import BOTH, DISCRIMINATOR, FAKE, GENERATOR, PARTS, PLAYERS, REAL
from minimax.utils.checks import check_choice, check_int

# The longest schedule cycle (k + m turns): every turn of a cycle is planned ahead, so the cycle must fit in memory.
MAX_TURNS = 100_000

__all__ = ["BOTH", "DISCRIMINATOR", "FAKE", "GENERATOR", "PARTS", "PLAYERS", "REAL", "Alternating", "Schedule",
           "Simultaneous", "make_schedule"]


@dataclass(frozen=True)
class Schedule:
    """A repeated cycle of turns.

    ``cycle`` lists the acting player of each turn in one iteration. When
    ``simultaneous`` is true, the turns of a cycle all see the same state and
    minibatch and their moves are applied together at the end of the cycle.
    """

    cycle: tuple[str, ...]
    simultaneous: bool = False
    parts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for player in self.cycle:
            check_choice("player", player, PLAYERS)
        if self.parts is None:
            object.__setattr__(self, "parts", (BOTH,) * len(self.cycle))
        if len(self.parts) != len(self.cycle):
            raise ValueError(f"parts {self.parts} must give one part per turn of the cycle {self.cycle}")
        for player, part in zip(self.cycle, self.parts):
            check_choice("minibatch part", part, PARTS)
            if part != BOTH and (player != DISCRIMINATOR or self.simultaneous):
                raise ValueError(
                    f"only the discriminator's alternating turns can see a {part!r}-only half batch, "
                    f"got {part!r} for a {player} turn{' in a simultaneous schedule' if self.simultaneous else ''}"
                )

    def part_at(self, turn: int) -> str:
        """Which part of a minibatch turn number ``turn`` sees: "both", "real" or "fake"."""
        return self.parts[turn % len(self.cycle)]

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


def Alternating(k: int = 1, m: int = 1, first: str = DISCRIMINATOR, split: bool | str = False) -> Schedule:
    """k discriminator steps and m generator turns per iteration, ``first`` moving first.

    Each turn sees a fresh minibatch and the state left by the previous turn. With
    ``split`` each discriminator step is two turns: a half batch of real data, then
    a half batch of generated samples (the report's Keras update).
    """
    k = check_int("k (discriminator steps per iteration)", k, minimum=1)
    m = check_int("m (generator turns per iteration)", m, minimum=1)
    if k + m > MAX_TURNS:
        raise ValueError(f"k={k}, m={m}: a cycle of {k + m} turns is longer than the {MAX_TURNS} this engine plans "
                         "ahead (each turn of a cycle is planned once); for more discriminator steps per generator "
                         "step, use a larger k below that, or play the turns from a script")  # fmt: skip
    first = check_choice("first player", first, PLAYERS)
    split = _boolean("split", split)
    d_parts = (REAL, FAKE) * k if split else (BOTH,) * k
    d, g = (DISCRIMINATOR,) * len(d_parts), (GENERATOR,) * m
    if first == DISCRIMINATOR:
        return Schedule(d + g, parts=d_parts + (BOTH,) * m)
    return Schedule(g + d, parts=(BOTH,) * m + d_parts)


def _boolean(name: str, value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    table = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if not isinstance(value, str) or value.strip().lower() not in table:
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return table[value.strip().lower()]


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
