"""A game as a picture: the frame an env renders, TensorBoard shows and ``minimax plot`` saves.

The kind of picture follows the game (see :mod:`minimax.render.panels`): a two-parameter game
(Dirac-GAN, a scalar payoff game) is a phase portrait with the trajectory so far; 1D data a
histogram of generated samples over the target's density, with D(x); 2D points a scatter over
D's heat map; images a grid of samples. Samples always come from the same fixed noise (a
stream of their own), so frames of one run differ only because the game moved, and drawing
never touches the game's random streams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minimax.core.players import DISCRIMINATOR, GENERATOR
from minimax.render.density import KernelDensity
from minimax.render import panels

KINDS = ("portrait", "histogram", "scatter", "grid")


def picture_kind(game: Any) -> str:
    """Which picture shows ``game``: a portrait when each player has one parameter, else by the data's shape."""
    task = getattr(game, "task", None)
    if task is None or (game.size(GENERATOR) == 1 and game.size(DISCRIMINATOR) == 1):
        return "portrait"
    shape = tuple(task.data_shape)
    if shape == (1,):
        return "histogram"
    if shape == (2,):
        return "scatter"
    if len(shape) in (2, 3):
        return "grid"
    return "histogram"  # other shapes: the first coordinate


def target_density(task: Any, samples: int = 20_000) -> panels.Density:
    """The target's density: the task's own (closed form, or a KDE of the samples it was given), else a KDE of
    target samples drawn once from a stream of their own."""
    own = getattr(task, "density", None)
    if callable(own):
        return own
    rng = torch.Generator().manual_seed(0)
    return KernelDensity(task.sample_data(samples, rng, torch.device("cpu"), torch.float64).reshape(samples, -1)[:, 0].numpy())


class Renderer:
    """Frames ``(height, width, 3)`` uint8 of game ``index`` of ``game`` (a :class:`minimax.Game` or payoff game).

    ``record()`` appends the current point to the trajectory a portrait draws (a device copy of two numbers, no
    host sync); the envs call it after every step when they render. ``samples(n)`` are the generated samples a
    frame shows (None for payoff games), for histograms elsewhere (TensorBoard).
    """

    def __init__(self, game: Any, index: int = 0, width: int = 640, height: int = 480, samples: int = 2000,
                 seed: int = 0) -> None:  # fmt: skip
        if not 0 <= index < game.num_games:
            raise ValueError(f"index must be a game of this env, in [0, {game.num_games - 1}], got {index}")
        if width < 64 or height < 64:
            raise ValueError(f"a frame must be at least 64 x 64 pixels, got {width} x {height}")
        self.game, self.index, self.seed = game, index, seed
        self.kind = picture_kind(game)
        self.n_samples = samples if self.kind in ("histogram", "scatter") else 16
        self.trajectory: list[torch.Tensor] = []
        self._density: panels.Density | None = None
        self.width, self.height = width, height
        self._draw_on()

    def _draw_on(self) -> None:
        self.figure = Figure(figsize=(self.width / 100, self.height / 100), dpi=100)
        self.canvas = FigureCanvasAgg(self.figure)
        self.window: Any = None  # the human render mode's (pyplot figure, image)

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the figure, its canvas and any window (made anew on unpickling)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("figure", "canvas", "window")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._draw_on()

    # ------------------------------------------------------------------ state

    def clear(self) -> None:
        """Forget the trajectory (a new game)."""
        self.trajectory = []

    def record(self) -> None:
        """Append the current (generator, discriminator) point (portraits only; first coordinates of each)."""
        if self.kind == "portrait":
            g = self.game.parameters(GENERATOR)[self.index, :1]
            d = self.game.parameters(DISCRIMINATOR)[self.index, :1]
            self.trajectory.append(torch.cat([g, d]).detach().clone())

    def samples(self, n: int | None = None) -> np.ndarray | None:
        """Generated samples from the fixed noise, ``(n, *data_shape)`` float64 (None for a payoff game)."""
        if getattr(self.game, "task", None) is None:
            return None
        rng = torch.Generator(self.game.device).manual_seed(self.seed)
        out = self.game.generate(n or self.n_samples, rng, games=[self.index])[0]
        return out.detach().to("cpu", torch.float64).numpy()

    # ------------------------------------------------------------------ drawing

    def frame(self, caption: str = "") -> np.ndarray:
        """The picture now, as an RGB array."""
        fig = self.figure
        fig.clear()
        ax = fig.add_axes(self._box())
        getattr(self, f"_draw_{self.kind}")(ax)
        name = getattr(getattr(self.game, "task", None), "name", None) or getattr(self.game, "name", "game")
        ax.set_title(f"{name}{' · ' + caption if caption else ''}", fontsize=10)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def _box(self) -> tuple[float, float, float, float]:
        """The axes' place in the figure (fixed margins: ``tight_layout`` costs as much as the drawing)."""
        left, bottom, top = 62 / self.width, 48 / self.height, 28 / self.height
        right = (62 if self.kind == "histogram" else 16) / self.width  # the histogram's D(x) axis on the right
        return left, bottom, 1 - left - right, 1 - bottom - top

    def _draw_portrait(self, ax: Any) -> None:
        if not self.trajectory:
            self.record()
        points = torch.stack(self.trajectory).to("cpu", torch.float64).numpy()
        extent = max(2.0, 1.1 * float(np.nanmax(np.abs(points)))) if np.isfinite(points).any() else 2.0
        own = getattr(getattr(self.game, "task", None), "portrait_field", None)  # a task that knows its field
        field = own(self.game.losses[self.index], extent) if callable(own) else None
        panels.draw_portrait(ax, points, field=field, extent=extent)

    def _draw_histogram(self, ax: Any) -> None:
        task = self.game.task
        x = self.samples().reshape(self.n_samples, -1)[:, 0]
        if self._density is None:
            self._density = target_density(task)
        reference = getattr(task, "samples", None)
        span = panels.histogram_range(x, *(() if reference is None else (np.asarray(reference),)), quantile=0.5)
        if reference is None and hasattr(task, "mean"):
            span = (min(span[0], task.mean - 3 * task.std), max(span[1], task.mean + 3 * task.std))
        density = self._density if task.data_shape == (1,) else None
        panels.draw_histogram(ax, x, density, span=span)
        if density is not None:  # a collapsed generator's spike would flatten the target otherwise
            ax.set_ylim(0, 3 * float(density(np.linspace(span[0], span[1], 400)).max()))
        ax.set_xlabel("x")
        ax.legend(fontsize=8, loc="upper left")
        if task.data_shape == (1,):
            xs = np.linspace(span[0], span[1], 200)
            d = self.game.discriminate(torch.as_tensor(xs).reshape(-1, 1), games=[self.index])[0]
            panels.draw_discriminator(ax, xs, d.to("cpu", torch.float64).numpy())

    def _draw_scatter(self, ax: Any) -> None:
        task = self.game.task
        x = self.samples()
        centers = getattr(task, "centers", None)
        centers = None if centers is None else centers.to("cpu", torch.float64).numpy()
        target = None
        if centers is None:
            rng = torch.Generator().manual_seed(self.seed + 1)
            target = task.sample_data(1000, rng, torch.device("cpu"), torch.float64).numpy()
        reference = [a for a in (centers, target) if a is not None]
        span = 1.15 * float(np.abs(np.concatenate(reference)).max()) + (0.5 if centers is not None else 0.0)
        finite = np.abs(x[np.isfinite(x).all(1)])
        if finite.size:  # show where the generator is too (up to 4 times the target's extent)
            span = max(span, min(4 * span, 1.1 * float(np.percentile(finite, 99.5))))
        grid = np.linspace(-span, span, 60)
        xx, yy = np.meshgrid(grid, grid)
        points = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1))
        d = self.game.discriminate(points, games=[self.index])[0].to("cpu", torch.float64).numpy().reshape(xx.shape)
        panels.draw_scatter(ax, x, centers=centers, span=span, heat=(xx, yy, d), target=target)

    def _draw_grid(self, ax: Any) -> None:
        panels.draw_grid(ax, self.samples())
