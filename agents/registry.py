"""Update rules by name, so experiments can be configured with strings.

Why: configs and command lines name rules ("adam", "momentum"); `register` lets later
game-aware rules (extragradient, optimism, ...) join without touching this package.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Union

from agents.game_aware import CGD, SGA, Consensus, Extragradient, PastExtragradient
from agents.joint import JointRule
from agents.rules import SGD, Adam, AdamW, Momentum, Nesterov, OptimisticAdam, OptimisticSGD, RMSprop, UpdateRule

# A factory builds a per-player UpdateRule or a JointRule that moves both players
# (extragradient, consensus, SGA, CGD: pass it whole to minimax.train with a Parallel env).
Factory = Callable[..., Union[UpdateRule, JointRule]]

_FACTORIES: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Makes `factory(**hyperparameters)` available as `make(name, ...)` (name case-insensitive)."""
    key = name.lower()
    if key in _FACTORIES:
        raise ValueError(f"update rule {name!r} is already registered")
    _FACTORIES[key] = factory


def available() -> list[str]:
    """Registered rule names, sorted."""
    return sorted(_FACTORIES)


def _check_hyperparameters(key: str, factory: Factory, hyperparameters: dict[str, Any]) -> None:
    """Rejects unknown or missing keyword arguments with a message listing the accepted ones."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    keywords = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    accepted = ", ".join(p.name for p in keywords)
    unknown = [k for k in hyperparameters if k not in {p.name for p in keywords}]
    if unknown:
        raise TypeError(f"{key}: unknown hyper-parameter(s) {', '.join(unknown)}; accepted: {accepted}")
    missing = [p.name for p in keywords if p.default is p.empty and p.name not in hyperparameters]
    if missing:
        raise TypeError(f"{key}: missing required hyper-parameter(s) {', '.join(missing)}; accepted: {accepted}")


def make(name: str, **hyperparameters: Any) -> Union[UpdateRule, JointRule]:
    """Builds the rule registered as `name` (case-insensitive) with the given hyper-parameters."""
    if not isinstance(name, str):
        raise TypeError(f"update rule name must be a str, got {name!r} ({type(name).__name__})")
    key = name.lower()
    if key not in _FACTORIES:
        raise ValueError(f"unknown update rule {name!r}; known: {', '.join(available())}")
    factory = _FACTORIES[key]
    _check_hyperparameters(key, factory, hyperparameters)
    return factory(**hyperparameters)


for _name, _factory in {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "optimistic": OptimisticSGD,
    "optimistic-adam": OptimisticAdam,
    "extragradient": Extragradient,
    "past-extragradient": PastExtragradient,
    "consensus": Consensus,
    "sga": SGA,
    "cgd": CGD,
}.items():
    register(_name, _factory)
