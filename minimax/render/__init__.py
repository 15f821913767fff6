"""Pictures of games: panels drawn on matplotlib axes, and the frames the envs render (``render_mode="rgb_array"``).

The layer sits just above ``core``: tasks may draw (their density, their field) and envs render. Its names load on
first use, so that ``import minimax`` does not import matplotlib.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KINDS", "KernelDensity", "Renderer", "picture_kind", "target_density"]


def __getattr__(name: str) -> Any:
    if name == "KernelDensity":
        from minimax.render.density import KernelDensity

        return KernelDensity
    if name in ("KINDS", "Renderer", "picture_kind", "target_density"):
        from minimax.render import renderer

        return getattr(renderer, name)
    raise AttributeError(f"module 'minimax.render' has no attribute {name!r}")
