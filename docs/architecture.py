"""Draw docs/architecture.png: minimax's layers and the imports between them, read from the code.

    python docs/architecture.py

Each box is a layer (a folder, or a module of the run layer and above) with its modules; each
arrow says how many imports go from one layer to a lower one. The import graph is the one
``tests/test_layers.py`` checks (no circles, nothing goes back up), so the picture cannot
drift from the code.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_layers import LAYERS, import_graph, layer  # noqa: E402

ABOUT = {
    "agents": "update rules (Optax-style transformations), game-aware rules",
    "minimax.utils": "input checks, atomic files, version",
    "minimax.core": "players, flat buffers, losses, schedules, networks,\nthe Game of N games, the Match of ticks, the field",
    "minimax.render": "pictures of games: panels, env frames, KDE",
    "minimax.datasets": "IDX files, MNIST / Fashion-MNIST",
    "minimax.tasks": "what is learnt: 1D laws, images, mixtures, payoff games,\nyour own data and networks",
    "minimax.envs": "views of a match: AEC, Parallel, single-player,\nN games, numpy edge; registration",
    "minimax.training": "the one loop, history, checkpoints, run logs",
    "minimax.eval": "metrics, classifier, mode metrics, analysis",
    "minimax.runs": "run specs; train / resume / evaluate a run directory",
    "minimax.sweep": "grids of runs: process pool or Ray",
    "minimax.cli": "the minimax command: parses and prints",
}


def main() -> None:
    graph = import_graph()
    shown = list(LAYERS)
    modules: dict[str, list[str]] = {name: [] for name in shown}
    edges: Counter = Counter()
    for module, targets in graph.items():
        here = LAYERS[layer(module)] if layer(module) < len(LAYERS) else None  # None: the package's face
        if here in modules and module != here:
            modules[here].append(module.rsplit(".", 1)[-1])
        for target in targets:
            there = LAYERS[layer(target)] if layer(target) < len(LAYERS) else None
            if here in modules and there in modules and here != there:
                edges[(here, there)] += 1
    fig, ax = plt.subplots(figsize=(11, 11.5))
    height, gap = 0.9, 0.32
    y = {name: i * (height + gap) for i, name in enumerate(shown)}
    for i, name in enumerate(shown):
        box = FancyBboxPatch((0, y[name]), 10, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                             facecolor="#eef3fb" if name.startswith("minimax") else "#f6eefb", edgecolor="#335")
        ax.add_patch(box)
        title = name.replace("minimax.", "minimax/") + ("/" if (ROOT / name.replace(".", "/")).is_dir() else ".py")
        ax.text(0.15, y[name] + height - 0.2, title, fontsize=11, weight="bold", va="center")
        ax.text(3.1, y[name] + height - 0.2, ABOUT.get(name, "").replace("\n", " "), fontsize=8, va="center", color="#333")
        inside = sorted(set(modules[name]))
        if inside:
            ax.text(0.15, y[name] + 0.42, "modules: " + ", ".join(inside), fontsize=7, va="center", color="#556")
        uses = [(there, n) for (here, there), n in edges.items() if here == name]
        uses.sort(key=lambda item: -shown.index(item[0]))
        if uses:
            text = "imports from: " + ", ".join(f"{t.replace('minimax.', '')} ({n})" for t, n in uses)
            ax.text(0.15, y[name] + 0.16, text, fontsize=7, va="center", color="#1a5e1a")
        if i:
            ax.add_patch(FancyArrowPatch((5, y[name] - 0.02), (5, y[shown[i - 1]] + height + 0.02), arrowstyle="-|>",
                                         mutation_scale=10, lw=0.8, color="#1a5e1a"))  # fmt: skip
    ax.set_xlim(-0.2, 10.2)
    ax.set_ylim(-0.3, y[shown[-1]] + height + 0.3)
    ax.axis("off")
    ax.set_title("minimax's layers, bottom to top, read from the code: a layer imports only from layers below it\n"
                 "(the count of imports per lower layer in green); no import goes up or round in a circle "
                 "(tests/test_layers.py)", fontsize=9.5)  # fmt: skip
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "architecture.png", dpi=110)
    print(ROOT / "docs" / "architecture.png")


if __name__ == "__main__":
    main()
