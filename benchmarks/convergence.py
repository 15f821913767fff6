"""The convergence atlas: which update rules and schedules converge on games whose answer is known.

For every line of ../shared/ANCHORS.md on Dirac-GAN, bilinear games, the linear WGAN and
the toy saddle, and its newer claims (Adam's beta1 and beta2, alternating against simultaneous
updates, stochastic extragradient), and every rule/schedule it names: the *predicted* behaviour (the spectral
radius of the update operator, computed by linearising one schedule cycle including the
rules' buffers: minimax.eval.analysis.update_operator), the *observed* behaviour (a run from
the literature's start point: distance to the equilibrium, verdict converges / cycles /
diverges), the literature's verdict, and whether the three agree.

    python -m benchmarks.convergence            # the atlas and its figures (about 3 minutes on one core)
    python -m benchmarks.convergence --neural   # then the game-aware rules on Normal1D (short runs)
    python -m benchmarks.convergence --mnist 1000   # and on MNIST-v0 ($MINIMAX_MNIST_DIR; CGD takes most of an hour)

Writes results/convergence/ (or --out): results.md, results.json, dirac_portraits.png,
bilinear_trajectories.png, spectral_radius.png, newer_lines.png (and neural.md with --neural, mnist.md with
--mnist).
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pettingzoo  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import agents  # noqa: E402
from agents.game_aware import ConvergenceWarning  # noqa: E402
import minimax  # noqa: E402
from minimax.render import panels  # noqa: E402
from benchmarks.reporting import atomic_write, markdown_table, save_figure, save_json  # noqa: E402
from minimax.eval.analysis import (CONVERGED, CYCLES, DIVERGES, predicted_verdict, spectral_radius,  # noqa: E402
                              update_operator, verdict)  # fmt: skip

PLAYERS = minimax.PLAYERS


# ---- 1. Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=None, help="iterations per run (default: each anchor's own)")
    p.add_argument("--neural", action="store_true", help="also run the game-aware rules on Normal1D")
    p.add_argument("--neural-iterations", type=int, default=1500)
    p.add_argument("--seeds", type=int, default=3, help="seeds of the neural runs")
    p.add_argument("--mnist", type=int, default=0, metavar="ITERATIONS",
                   help="also run each game-aware rule on MNIST-v0 for ITERATIONS (data: $MINIMAX_MNIST_DIR)")
    p.add_argument("--no-download", action="store_true", help="never try to download MNIST files")
    p.add_argument("--out", type=Path, default=Path("results/convergence"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for name in ("steps", "neural_iterations", "seeds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


# ---- 2. The atlas: games, rules, and what the literature says ------------------------------------


def pair(name: str, **options: Any) -> Callable[[], dict]:
    """The same single-player rule (fresh instances) for both players."""
    return lambda: {p: agents.make(name, **options) for p in PLAYERS}


def two(d: Callable[[], Any], g: Callable[[], Any]) -> Callable[[], dict]:
    return lambda: {"discriminator": d(), "generator": g()}


def joint(name: str, **options: Any) -> Callable[[], Any]:
    return lambda: agents.make(name, **options)


@dataclass
class Case:
    """One line of the atlas: a game started where the literature starts it, played by some rules."""

    anchor: str  # the ANCHORS.md section
    game: str  # short name of the game
    label: str  # rule and schedule
    env_id: str
    env_options: dict[str, Any]
    rules: Callable[[], Any]
    literature: str  # converges / cycles / diverges / "does not converge"
    steps: int = 500
    equilibrium_options: dict[str, Any] | None = None  # the same game started at its equilibrium (to linearise)
    equilibrium: dict[str, list[float]] = field(default_factory=lambda: {"discriminator": [0.0], "generator": [0.0]})
    linear: bool = True  # linear game and rules: the spectral radius is a prediction
    average: bool = False  # judge the uniform average of the iterates instead of the last one
    radius_of: Callable[[], float] | None = None  # a closed-form rate instead of the update operator's radius
    faster_than: str | None = None  # the claim is a comparison: this line's observed rate beats that line's (same game)

    @property
    def kind(self) -> str:
        return "aec" if "schedule" in self.env_options else "parallel"

    def make_env(self, at_equilibrium: bool = False) -> Any:
        options = {**self.env_options, **((self.equilibrium_options or {}) if at_equilibrium else {})}
        return pettingzoo.make(self.kind, self.env_id, view="torch", dtype="float64", **options)


DIRAC = "Dirac-GAN (Mescheder et al. 2018)"
XY = "min_x max_y xy (Gidel et al. 2019, negative momentum)"
THETA_PHI = "theta phi from (2, 0.5) (Gidel et al. 2019, VI view)"
ALPHA = "alpha x y, step 0.2 (Schaefer & Anandkumar 2019)"
WGAN = "linear WGAN, v = (3, 4) (Daskalakis et al. 2018)"
ADAM_ROLES = "Adam's beta1 and beta2 in zero-sum games (Feng, Ou & Wang 2026)"
ALTERNATING = "alternating against simultaneous GDA (Lee, Cho & Yun 2024)"
SEG = "stochastic extragradient (Chavdarova et al. 2019; Mishchenko et al. 2020)"

#: The strongly monotone game of the newer lines: f = x y + (mu/2) x^2 - (mu/2) y^2, mu = 0.1, from (1, 1).
STRONGLY_MONOTONE = {"A": 1.0, "x0": 1.0, "y0": 1.0, "a": 0.1, "b": 0.1}
#: The stochastic bilinear game: f = (1/d) sum_i d x_i y_i, one term per turn, d = 10, from all ones.
SEG_DIM, SEG_STEP = 10, 0.05


def seg_rate(samples: str, h: float = SEG_STEP, d: int = SEG_DIM) -> float:
    """Root-mean-square growth per iteration of the stochastic bilinear game's distance to (0, 0), in closed form.

    Each iteration one coordinate pair (x_j, y_j) moves, with step h d. Its squared norm grows by 1 + (hd)^2
    under a plain simultaneous step and by 1 - (hd)^2 + (hd)^4 under an extragradient step whose extrapolation
    saw the same term. Independent terms at the two steps (mirror-prox) coincide with probability 1/d only:
    E|z'|^2 = (1 + h^2 (d - 2) + h^4 d^2) E|z|^2, above 1 for every h once d >= 2. One term for both steps:
    1 - h^2 d + h^4 d^3, below 1 for h d < 1. Plain simultaneous steps: 1 + h^2 d.
    """
    growth = {"independent": 1 + h**2 * (d - 2) + h**4 * d**2, "same": 1 - h**2 * d + h**4 * d**3,
              "simultaneous": 1 + h**2 * d}[samples]  # fmt: skip
    return math.sqrt(growth)


def atlas() -> list[Case]:
    h = 0.2
    d_start, d_eq = {"theta": 1.0, "psi": 1.0}, {"theta": 0.0, "psi": 0.0}
    dirac = lambda loss="minimax", **o: {**d_start, "loss": loss, **o}  # noqa: E731
    alt = {"schedule": "alternating"}
    cases = [
        Case(DIRAC, "Dirac-GAN", "simultaneous GD", "minimax/DiracGAN-v0", dirac(), pair("sgd", lr=h), DIVERGES,
             equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "alternating GD 1:1", "minimax/DiracGAN-v0", dirac(**alt), pair("sgd", lr=h), CYCLES,
             equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "alternating GD, 5 D steps", "minimax/DiracGAN-v0",
             dirac(schedule="alternating:k=5"), pair("sgd", lr=h), CYCLES, equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "simultaneous GD, non-saturating", "minimax/DiracGAN-v0", dirac("non-saturating"),
             pair("sgd", lr=h), "does not converge", equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "simultaneous GD + R1 (gamma 1)", "minimax/DiracGAN-v0", dirac("minimax:r1=1"),
             pair("sgd", lr=h), CONVERGED, equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "simultaneous GD + R2 (gamma 1)", "minimax/DiracGAN-v0", dirac("minimax:r2=1"),
             pair("sgd", lr=h), CONVERGED, equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "consensus (gamma 1)", "minimax/DiracGAN-v0", dirac(), joint("consensus", lr=h, gamma=1.0),
             CONVERGED, equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "simultaneous GD + instance noise (sigma 1)", "minimax/DiracGAN-v0",
             dirac("minimax:noise=1", batch_size=256), pair("sgd", lr=h), CONVERGED, steps=1500, linear=False),
        Case(DIRAC, "Dirac-GAN", "WGAN, weight clipping 1", "minimax/DiracGAN-v0", dirac("wasserstein"),
             two(lambda: agents.clipped(agents.make("sgd", lr=h), 1.0), lambda: agents.make("sgd", lr=h)),
             "does not converge", linear=False),
        Case(DIRAC, "Dirac-GAN", "WGAN-GP (lambda 1)", "minimax/DiracGAN-v0", dirac("wasserstein:gp=1", batch_size=64),
             pair("sgd", lr=h), "does not converge", linear=False),
        Case(DIRAC, "Dirac-GAN", "extragradient", "minimax/DiracGAN-v0", dirac(), joint("extragradient", lr=h),
             "—", steps=3000, equilibrium_options=d_eq, linear=False),
        Case(DIRAC, "Dirac-GAN", "optimistic GD", "minimax/DiracGAN-v0", dirac(), pair("optimistic", lr=h),
             "—", steps=3000, equilibrium_options=d_eq, linear=False),
    ]
    xy = {"A": 1.0, "x0": 1.0, "y0": 1.0}
    cases += [
        Case(XY, "xy", "simultaneous GD", "minimax/Bilinear-v0", xy, pair("sgd", lr=0.1), DIVERGES, steps=1000),
        Case(XY, "xy", "simultaneous heavy ball (+0.5)", "minimax/Bilinear-v0", xy,
             pair("momentum", lr=0.1, momentum=0.5), DIVERGES, steps=1000),
        Case(XY, "xy", "simultaneous negative momentum (-0.5)", "minimax/Bilinear-v0", xy,
             pair("momentum", lr=0.1, momentum=-0.5), DIVERGES, steps=1000),
        Case(XY, "xy", "alternating GD", "minimax/Bilinear-v0", {**xy, **alt}, pair("sgd", lr=0.1), CYCLES, steps=1000),
        Case(XY, "xy", "alternating heavy ball (+0.5)", "minimax/Bilinear-v0", {**xy, **alt},
             pair("momentum", lr=0.1, momentum=0.5), DIVERGES, steps=1000),
        Case(XY, "xy", "alternating negative momentum (-0.5)", "minimax/Bilinear-v0", {**xy, **alt},
             pair("momentum", lr=0.1, momentum=-0.5), CONVERGED, steps=5000),
    ]
    tp = {"A": 1.0, "x0": 2.0, "y0": 0.5}
    cases += [
        Case(THETA_PHI, "theta phi", "extragradient", "minimax/Bilinear-v0", tp, joint("extragradient", lr=0.3),
             CONVERGED, steps=1000),
        Case(THETA_PHI, "theta phi", "extrapolation from the past", "minimax/Bilinear-v0", tp,
             joint("past-extragradient", lr=0.3), CONVERGED, steps=1000),
        Case(THETA_PHI, "theta phi", "simultaneous GD", "minimax/Bilinear-v0", tp, pair("sgd", lr=0.3), DIVERGES, steps=1000),
        Case(THETA_PHI, "theta phi", "alternating GD", "minimax/Bilinear-v0", {**tp, **alt}, pair("sgd", lr=0.3), CYCLES,
             steps=1000),
        Case(THETA_PHI, "theta phi", "alternating GD, uniform average", "minimax/Bilinear-v0", {**tp, **alt},
             pair("sgd", lr=0.3), CONVERGED, steps=1000, average=True, linear=False),
    ]
    for alpha in (1.0, 3.0, 6.0):
        game = {"A": alpha, "x0": 1.0, "y0": 1.0}
        cases += [
            Case(ALPHA, f"alpha = {alpha:g}", "CGD", "minimax/Bilinear-v0", game, joint("cgd", lr=0.2), CONVERGED),
            Case(ALPHA, f"alpha = {alpha:g}", "simultaneous GDA", "minimax/Bilinear-v0", game, pair("sgd", lr=0.2), DIVERGES),
            Case(ALPHA, f"alpha = {alpha:g}", "optimistic GDA", "minimax/Bilinear-v0", game, pair("optimistic", lr=0.2),
                 CONVERGED if alpha == 1 else "loses convergence as alpha grows"),
            Case(ALPHA, f"alpha = {alpha:g}", "consensus (gamma 1)", "minimax/Bilinear-v0", game,
                 joint("consensus", lr=0.2, gamma=1.0), CONVERGED if alpha == 1 else "loses convergence as alpha grows"),
            Case(ALPHA, f"alpha = {alpha:g}", "SGA (lambda 1)", "minimax/Bilinear-v0", game, joint("sga", lr=0.2),
                 CONVERGED if alpha == 1 else "loses convergence as alpha grows"),
        ]
    wgan = {"v": (3.0, 4.0), "theta": (0.0, 0.0), "w": (1.0, 1.0), "batch_size": 4096, "loss": "wasserstein"}
    wgan_eq = {"discriminator": [0.0, 0.0], "generator": [3.0, 4.0]}
    cases += [  # linear in the parameters on each minibatch: the radius is that of the mean game
        Case(WGAN, "linear WGAN", "simultaneous GD", "minimax/LinearWGAN-v0", wgan, pair("sgd", lr=0.1), CYCLES,
             steps=1000, equilibrium=wgan_eq),
        Case(WGAN, "linear WGAN", "optimistic GD (mirror descent)", "minimax/LinearWGAN-v0", wgan,
             pair("optimistic", lr=0.1), CONVERGED, steps=1000, equilibrium=wgan_eq),
    ]
    cases += newer_lines()
    return cases


def newer_lines() -> list[Case]:
    """ANCHORS' newer claims. Adam's lines are observed only (its step divides by a running RMS: no linear
    prediction); the comparison lines (``faster_than``) are judged by the observed rate per iteration."""
    xy, sm = {"A": 1.0, "x0": 1.0, "y0": 1.0}, STRONGLY_MONOTONE
    adam = lambda lr, b1, b2=0.999: pair("adam", lr=lr, betas=(b1, b2))  # noqa: E731
    smooth = "μ = 0.1 (x y + μ/2 (x² − y²))"
    cases = [Case(ADAM_ROLES, "xy", f"simultaneous Adam (lr 0.1, β₁ {b1:g})", "minimax/Bilinear-v0", xy, adam(0.1, b1),
                  DIVERGES, steps=2000, linear=False) for b1 in (0.9, 0.5, 0.0)]  # fmt: skip
    cases.append(Case(ADAM_ROLES, "xy", "simultaneous Adam (lr 0.01, β₁ 0)", "minimax/Bilinear-v0", xy, adam(0.01, 0.0),
                      DIVERGES, steps=20000, linear=False))  # fmt: skip
    for lr in (0.01, 0.1):
        for b1, than in ((0.9, None), (0.5, 0.9), (0.0, 0.5)):
            cases.append(Case(ADAM_ROLES, smooth, f"Adam (lr {lr:g}, β₁ {b1:g})", "minimax/Bilinear-v0", sm, adam(lr, b1),
                              "faster as β₁ falls" if than is not None else "—", steps=3000, linear=False,
                              faster_than=None if than is None else f"Adam (lr {lr:g}, β₁ {than:g})"))  # fmt: skip
    cases += [
        Case(ADAM_ROLES, smooth, "Adam (lr 0.05, β₁ 0.5, β₂ 0.999)", "minimax/Bilinear-v0", sm, adam(0.05, 0.5, 0.999),
             "—", steps=3000, linear=False),
        Case(ADAM_ROLES, smooth, "Adam (lr 0.05, β₁ 0.5, β₂ 0.9)", "minimax/Bilinear-v0", sm, adam(0.05, 0.5, 0.9),
             "faster with the smaller β₂", steps=3000, linear=False, faster_than="Adam (lr 0.05, β₁ 0.5, β₂ 0.999)"),
    ]
    for h, steps in ((0.1, 2000), (0.5, 500)):
        sim = f"simultaneous GDA (h {h:g})"
        cases += [
            Case(ALTERNATING, smooth, sim, "minimax/Bilinear-v0", sm, pair("sgd", lr=h), "—", steps=steps),
            Case(ALTERNATING, smooth, f"alternating GDA (h {h:g})", "minimax/Bilinear-v0", {**sm, "schedule": "alternating"},
                 pair("sgd", lr=h), "faster than simultaneous", steps=steps, faster_than=sim),
        ]  # fmt: skip
    d = SEG_DIM
    ones = {"A": np.eye(d).tolist(), "x0": [1.0] * d, "y0": [1.0] * d}
    zeros = {"discriminator": [0.0] * d, "generator": [0.0] * d}
    game = f"stochastic xy, d = {d}"
    cases += [
        Case(SEG, game, "extragradient on the mean game (no sampling)", "minimax/Bilinear-v0", ones,
             joint("extragradient", lr=SEG_STEP), CONVERGED, steps=5000, equilibrium=zeros),
        Case(SEG, game, "stochastic extragradient, a fresh term at each step (mirror-prox)", "minimax/Bilinear-v0",
             {**ones, "sampled": True}, joint("extragradient", lr=SEG_STEP, samples="independent"), DIVERGES, steps=1000,
             equilibrium=zeros, radius_of=lambda: seg_rate("independent")),
        Case(SEG, game, "stochastic extragradient, one term for both steps", "minimax/Bilinear-v0", {**ones, "sampled": True},
             joint("extragradient", lr=SEG_STEP), CONVERGED, steps=1000, equilibrium=zeros, radius_of=lambda: seg_rate("same")),
        Case(SEG, game, "stochastic simultaneous GD", "minimax/Bilinear-v0", {**ones, "sampled": True},
             pair("sgd", lr=SEG_STEP), DIVERGES, steps=1000, equilibrium=zeros, radius_of=lambda: seg_rate("simultaneous")),
    ]  # fmt: skip
    return cases


# ---- 3. One case: predict, run, judge ------------------------------------------------------------


def run_case(case: Case, steps: int | None) -> dict[str, Any]:
    steps = steps or case.steps
    radius = None
    if case.radius_of is not None:
        radius = case.radius_of()
    elif case.linear or case.equilibrium_options is not None:
        make = (lambda: case.make_env(at_equilibrium=True)) if case.equilibrium_options is not None else case.make_env
        radius = spectral_radius(update_operator(make, case.rules()))
    env = case.make_env()
    points: list[list[float]] = []

    def record(iteration: int, env: Any, history: Any) -> None:
        points.append(torch.cat([env.game.parameters(p)[0].double() for p in PLAYERS]).tolist())

    env.reset(seed=0)
    record(0, env, None)
    history = minimax.train(env, case.rules(), steps, seed=0, progress=False, callbacks=[record], callback_every=1)
    trajectory = np.array(points)
    eq = np.concatenate([case.equilibrium[p] for p in PLAYERS])
    judged = np.cumsum(trajectory, 0) / np.arange(1, len(trajectory) + 1)[:, None] if case.average else trajectory
    distances = np.linalg.norm(judged - eq, axis=1)
    if history.terminated.any():
        distances = np.append(distances, np.inf)
    observed = verdict(distances)
    predicted = predicted_verdict(radius) if radius is not None else None
    literature = case.literature
    agrees_literature = (literature == "—" or observed == literature or case.faster_than is not None
                         or (literature == "does not converge" and observed != CONVERGED)
                         or (literature.startswith("loses") and observed != CONVERGED))  # fmt: skip
    final = float(distances[-1])
    rate = (final / float(distances[0])) ** (1 / steps) if np.isfinite(final) else math.inf
    return {
        "anchor": case.anchor, "game": case.game, "rule": case.label, "steps": steps, "radius": radius,
        "predicted": predicted, "observed": observed, "literature": literature, "rate": rate,
        "faster_than": case.faster_than, "final_distance": final, "start_distance": float(distances[0]),
        "agrees": agrees_literature and (predicted is None or not case.linear or predicted == observed),
        "trajectory": trajectory, "distances": distances, "reason": history.reason,
    }


def judge_comparisons(results: list[dict]) -> None:
    """Lines whose claim is a comparison (``faster_than``): their observed rate per iteration must beat the other
    line's, and so must their predicted rate where both have one."""
    by_line = {(r["game"], r["rule"]): r for r in results}
    for r in results:
        if r["faster_than"] is None:
            continue
        other = by_line.get((r["game"], r["faster_than"]))
        if other is None:
            raise KeyError(f"{r['game']}: {r['rule']!r} is compared with {r['faster_than']!r}, which is not a line")
        predicted_faster = r["radius"] is None or other["radius"] is None or r["radius"] < other["radius"]
        r["agrees"] = r["agrees"] and r["rate"] < other["rate"] and predicted_faster


# ---- 4. Figures ------------------------------------------------------------------------------------


def plot_dirac_portraits(path: Path, results: list[dict]) -> None:
    """Dirac-GAN: the vector field -xi (GAN loss) and the trajectories of several rules."""
    chosen = [r for r in results if r["game"] == "Dirac-GAN" and not r["rule"].startswith(("WGAN", "simultaneous GD +"))]
    chosen += [r for r in results if r["game"] == "Dirac-GAN" and "R1" in r["rule"]]
    cols = 4
    rows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.9 * rows), squeeze=False)
    field = panels.dirac_field(2.0, 17)  # -xi: the generator descends L_G, the discriminator ascends V (GAN loss)
    for ax, r in zip(axes.flat, chosen):
        traj = r["trajectory"]  # columns: discriminator (psi), generator (theta)
        panels.draw_portrait(ax, traj[:, ::-1], field=field, extent=2.0)
        ax.set_title(f"{r['rule']}\n{r['observed']} (literature: {r['literature']})", fontsize=9)
    for ax in list(axes.flat)[len(chosen):]:
        ax.axis("off")
    fig.suptitle("Dirac-GAN, h = 0.2, start (1, 1)")
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_bilinear(path: Path, results: list[dict]) -> None:
    """Trajectories on x y and theta phi, and the distance to the equilibrium over iterations."""
    chosen = [r for r in results if r["anchor"] in (XY, THETA_PHI)]
    fig, (ax_t, ax_d) = plt.subplots(1, 2, figsize=(13, 5.2))
    for i, r in enumerate(chosen):
        color = plt.cm.tab20(i % 20)
        traj = r["trajectory"]
        finite = traj[np.isfinite(traj).all(1) & (np.abs(traj) < 5).all(1)]
        ax_t.plot(finite[:, 1], finite[:, 0], color=color, lw=0.8, label=f"{r['game']}: {r['rule']}")
        d = r["distances"]
        ax_d.plot(np.arange(len(d)), d, color=color, lw=1)
    ax_t.set(xlabel="x (generator)", ylabel="y (discriminator)", xlim=(-5, 5), ylim=(-5, 5), title="trajectories")
    ax_d.set(yscale="log", xlabel="iteration", ylabel="distance to (0, 0)", title="distance to the equilibrium")
    ax_t.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_newer_lines(path: Path, results: list[dict]) -> None:
    """The newer lines' distances to the equilibrium: Adam's beta1 and beta2, alternating against simultaneous
    GDA, and stochastic extragradient with one or two terms per iteration."""
    panels_of = {ADAM_ROLES: "Adam on μ = 0.1 (β₁, β₂)", ALTERNATING: "GDA on μ = 0.1: alternating vs simultaneous",
                 SEG: f"stochastic xy, d = {SEG_DIM}, h = {SEG_STEP:g}"}  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, (anchor, title) in zip(axes, panels_of.items()):
        lines = [r for r in results if r["anchor"] == anchor and not (anchor == ADAM_ROLES and r["game"] == "xy")]
        for i, r in enumerate(lines):
            d = np.asarray(r["distances"], dtype=float)
            d = d[np.isfinite(d)]
            ax.plot(np.arange(len(d)), d, lw=1, color=plt.cm.tab10(i % 10), label=r["rule"])
        ax.set(yscale="log", xlabel="iteration", ylabel="distance to the equilibrium", title=title)
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def plot_spectral_radius(path: Path) -> None:
    """Predicted spectral radius against the step size on x y, for each rule: below 1 converges."""
    steps = np.linspace(0.02, 1.5, 40)
    rules = {
        "simultaneous GD": ("parallel", lambda h: pair("sgd", lr=h)()),
        "alternating GD": ("aec", lambda h: pair("sgd", lr=h)()),
        "alternating momentum -0.5": ("aec", lambda h: pair("momentum", lr=h, momentum=-0.5)()),
        "extragradient": ("parallel", lambda h: agents.make("extragradient", lr=h)),
        "optimistic GD": ("parallel", lambda h: pair("optimistic", lr=h)()),
        "consensus (gamma 1)": ("parallel", lambda h: agents.make("consensus", lr=h, gamma=1.0)),
        "CGD": ("parallel", lambda h: agents.make("cgd", lr=h)),
    }
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for name, (kind, make_rules) in rules.items():
        options = {"schedule": "alternating"} if kind == "aec" else {}
        radii = [spectral_radius(update_operator(
            lambda: pettingzoo.make(kind, "minimax/Bilinear-v0", view="torch", A=1.0, dtype="float64", **options), make_rules(h)))
            for h in steps]  # fmt: skip
        ax.plot(steps, radii, label=name)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set(xlabel="step size h", ylabel="spectral radius of the update", ylim=(0.4, 1.6),
           title="min_x max_y x y: predicted spectral radius (< 1 converges)")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


# ---- 5. The same rules on a neural task ------------------------------------------------------------


@dataclass
class NeuralRule:
    """A row of the neural tables: how both players move, and whether the generator is judged by its average."""

    name: str
    make: Callable[[], Any]  # fresh rules: a {player: rule} dict or one joint rule
    schedule: str | None = None  # None: simultaneous moves (Parallel env); else an AEC schedule


def averaged_pair(name: str, decay: float | None, **options: Any) -> Callable[[], dict]:
    """``name`` for both players, the generator's iterates averaged (uniform: decay None) for evaluation."""
    return lambda: {"discriminator": agents.make(name, **options),
                    "generator": agents.averaged(agents.make(name, **options), decay)}  # fmt: skip


def play(rule: NeuralRule, task_id: str, iterations: int, seed: int, progress: bool,
         **task_options: Any) -> tuple[Any, Any, torch.Tensor | None]:
    """Train one game with ``rule``: (env, history, the averaged generator or None)."""
    if rule.schedule is None:
        env = pettingzoo.make("parallel", task_id, view="torch", **task_options)
    else:
        env = pettingzoo.make("aec", task_id, view="torch", schedule=rule.schedule, **task_options)
    rules = rule.make()
    with warnings.catch_warnings(record=True) as caught:  # CGD warns at each unconverged solve: count them instead
        warnings.simplefilter("always", ConvergenceWarning)
        history = minimax.train(env, rules, iterations, seed=seed, progress=progress, description=rule.name)
    unsolved = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if unsolved:
        history.settings["unconverged_solves"] = unsolved
    state = rules["generator"].state if isinstance(rules, dict) else None
    return env, history, getattr(state, "average", None)


def neural_rules() -> list[NeuralRule]:
    """Every game-aware rule of agents/ on Normal1D, next to the plain rules at the same step size."""
    return [
        NeuralRule("simultaneous Adam (1e-3, β₁ 0.5)", pair("adam", lr=1e-3, betas=(0.5, 0.999))),
        NeuralRule("optimistic Adam (1e-3)", pair("optimistic-adam", lr=1e-3, betas=(0.5, 0.999))),
        NeuralRule("simultaneous SGD (0.05)", pair("sgd", lr=0.05)),
        NeuralRule("optimistic GD (0.05)", pair("optimistic", lr=0.05)),
        NeuralRule("extragradient (0.05)", joint("extragradient", lr=0.05)),
        NeuralRule("extrapolation from the past (0.05)", joint("past-extragradient", lr=0.05)),
        NeuralRule("consensus (0.05, γ 1)", joint("consensus", lr=0.05, gamma=1.0)),
        NeuralRule("SGA (0.05)", joint("sga", lr=0.05)),
        NeuralRule("CGD (0.05, conjugate gradient)", joint("cgd", lr=0.05)),
        NeuralRule("two time-scales (SGD: D 0.05, G 0.01)",
                   two(lambda: agents.make("sgd", lr=0.05), lambda: agents.make("sgd", lr=0.01))),
        NeuralRule("SGD (0.05), G judged by its EMA 0.999", averaged_pair("sgd", 0.999, lr=0.05)),
        NeuralRule("SGD (0.05), G judged by its uniform average", averaged_pair("sgd", None, lr=0.05)),
        NeuralRule("alternating SGD (0.05)", pair("sgd", lr=0.05), "alternating:k=1"),
        NeuralRule("alternating negative momentum (0.05, β −0.5)", pair("momentum", lr=0.05, momentum=-0.5),
                   "alternating:k=1"),
    ]


def play_seeds(rule: NeuralRule, task_id: str, iterations: int, seeds: list[int], **task_options: Any) -> tuple[Any, Any, Any]:
    """``rule`` on one game per seed, in lockstep (a vector env): (env, history, the averaged generators or None)."""
    simultaneous = rule.schedule is None
    env = minimax.make_vector(task_id, len(seeds), schedule="simultaneous" if simultaneous else rule.schedule,
                              joint=simultaneous, **task_options)  # fmt: skip
    rules = rule.make()
    with warnings.catch_warnings(record=True) as caught:  # CGD warns at each unconverged solve: count them instead
        warnings.simplefilter("always", ConvergenceWarning)
        history = minimax.train(env, rules, iterations, seed=seeds, progress=False, description=rule.name)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    unsolved = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    if unsolved:
        history.settings["unconverged_solves"] = unsolved
    state = rules["generator"].state if isinstance(rules, dict) else None
    return env, history, getattr(state, "average", None)


def neural(args: argparse.Namespace) -> tuple[str, list[dict]]:
    """Game-aware rules against the usual ones on Normal1D (per-sample D, Gaussian noise); each rule's seeds
    are games in lockstep (each equal to the lone game with its seed, to round-off)."""
    from benchmarks.normal1d import generator_parameters
    from minimax.eval.metrics import distances as distribution_distances

    rows, results = [], []
    seeds = list(range(args.seeds))
    for rule in tqdm(neural_rules(), desc="neural", disable=args.no_progress):
        env, history, average = play_seeds(rule, "minimax/Normal1D-v0", args.neural_iterations, seeds,
                                           noise="normal", hidden=16, batch_size=256)  # fmt: skip
        task = env.game.task
        with generator_parameters(env, average):
            drawn = env.game.generate(10_000)
        scores = []
        for i in range(len(seeds)):
            samples = drawn[i].reshape(-1).double().numpy()
            w1 = distribution_distances(samples, task.mean, task.std)["w1"] if np.isfinite(samples).all() else math.nan
            scores.append({"w1": w1, "diverged": bool(history.terminated[i]), "wall": history.wall_time / len(seeds)})
        w1s = [s["w1"] for s in scores]
        results.append({"rule": rule.name, "w1": w1s, "diverged": sum(s["diverged"] for s in scores)})
        finite = [w for w in w1s if np.isfinite(w)]
        rows.append([rule.name, f"{np.mean(finite):.3g} ± {np.std(finite):.2g}" if finite else "n/a",
                     f"{sum(s['diverged'] for s in scores)}/{len(scores)}", f"{np.mean([s['wall'] for s in scores]):.1f}"])
    table = markdown_table(["rule (simultaneous unless said)", "W1 to N(4, 1.25²)", "diverged",
                            "wall s (each seed's share: the seeds run as games in lockstep)"], rows)  # fmt: skip
    return table, results


def ttur(steps: int = 4000, seeds: int = 5) -> tuple[str, dict]:
    """Heusel et al.'s toy saddle under gradient noise: one time-scale against a slower generator (x).

    ANCHORS: the slower x time-scale settles closer to the saddle than a single time-scale.
    Reported: the mean |x| and |y| over the last half of each run, averaged over seeds.
    """
    setups = {"one time-scale (lr 1e-3 both)": (1e-3, 1e-3), "two time-scales (lr_D 1e-3, lr_G 1e-4)": (1e-3, 1e-4)}
    means: dict[str, dict[str, list[float]]] = {}
    for name, (lr_d, lr_g) in setups.items():
        means[name] = {"x": [], "y": []}
        for seed in range(seeds):
            env = pettingzoo.make("parallel", "minimax/Saddle-v0", view="torch", x0=0.5, y0=0.5, gradient_noise=10.0, dtype="float64")
            rules = {"discriminator": agents.make("sgd", lr=lr_d), "generator": agents.make("sgd", lr=lr_g)}
            trace: list[tuple[float, float]] = []
            minimax.train(env, rules, steps, seed=seed, progress=False, callback_every=1, callbacks=[
                lambda i, e, h: trace.append((abs(float(e.game.parameters("generator"))),
                                              abs(float(e.game.parameters("discriminator")))))])  # fmt: skip
            tail = np.array(trace[len(trace) // 2 :])
            means[name]["x"].append(float(tail[:, 0].mean()))
            means[name]["y"].append(float(tail[:, 1].mean()))
    rows = [[name, f"{np.mean(v['x']):.4g} ± {np.std(v['x']):.2g}", f"{np.mean(v['y']):.4g} ± {np.std(v['y']):.2g}"]
            for name, v in means.items()]  # fmt: skip
    table = markdown_table(["toy saddle (1 + x²)(100 − y²), gradient noise σ = 10, last half of 4,000 steps",
                            "mean |x| (generator)", "mean |y| (discriminator)"], rows)  # fmt: skip
    return table, means


def mnist_rule_set() -> list[NeuralRule]:
    """The same rules on MNIST-v0, in three families that share a step size each.

    Adam (2e-4, β₁ 0.5, the report's); RMSProp (2e-4) for the game-aware rules that take
    plain steps, rescaled as The Numerics of GANs ran consensus (``benchmarks.modes``'s
    RMSScaled and ExtraRMSprop); plain SGD (0.01) for the rules defined on plain steps.
    """
    from benchmarks.modes import ExtraRMSprop, RMSScaled

    adam = {"lr": 2e-4, "betas": (0.5, 0.999)}
    return [
        NeuralRule("simultaneous Adam", pair("adam", **adam)),
        NeuralRule("optimistic Adam", pair("optimistic-adam", **adam)),
        NeuralRule("two time-scales Adam (D 4e-4, G 1e-4)",
                   two(lambda: agents.make("adam", lr=4e-4, betas=(0.5, 0.999)),
                       lambda: agents.make("adam", lr=1e-4, betas=(0.5, 0.999)))),
        NeuralRule("Adam, G judged by its EMA 0.999", averaged_pair("adam", 0.999, **adam)),
        NeuralRule("Adam, G judged by its uniform average", averaged_pair("adam", None, **adam)),
        NeuralRule("alternating Adam", pair("adam", **adam), "alternating:k=1"),
        NeuralRule("alternating negative momentum (Adam β₁ −0.5)", pair("adam", lr=2e-4, betas=(-0.5, 0.999)),
                   "alternating:k=1"),
        NeuralRule("simultaneous RMSProp", pair("rmsprop", lr=2e-4)),
        NeuralRule("extragradient + RMSProp", lambda: ExtraRMSprop(lr=2e-4)),
        NeuralRule("consensus (γ 10) + RMSProp", lambda: RMSScaled(agents.make("consensus", lr=1.0, gamma=10.0), 2e-4)),
        NeuralRule("SGA + RMSProp", lambda: RMSScaled(agents.make("sga", lr=1.0), 2e-4)),
        NeuralRule("simultaneous SGD (0.01)", pair("sgd", lr=0.01)),
        NeuralRule("optimistic GD (0.01)", pair("optimistic", lr=0.01)),
        NeuralRule("extrapolation from the past (0.01)", joint("past-extragradient", lr=0.01)),
        NeuralRule("CGD (0.01, ≤ 10 conjugate-gradient iterations)", joint("cgd", lr=0.01, cg_max_iter=10)),
    ]


def mnist_rules(args: argparse.Namespace) -> tuple[str, list[dict]]:
    """Each game-aware rule on MNIST-v0 (report networks, non-saturating loss) for a short run: does it help there?

    Scored like benchmarks.mnist, on 5,000 generated images against 5,000 real ones; the
    floor row compares those with the other real images (the test split's 10,000 here).
    """
    from benchmarks.mnist import METRICS, scores
    from benchmarks.normal1d import generator_parameters
    from minimax.eval.classifier import load_or_train
    from minimax.eval.image_metrics import real_floor

    classifier = load_or_train("mnist", progress=not args.no_progress)
    reference_task = minimax.MNIST(download=not args.no_download)
    order = torch.randperm(len(reference_task), generator=torch.Generator().manual_seed(0))
    n = min(5000, len(reference_task) // 2)
    probs, features = classifier.evaluate(reference_task.scaled()[order[: 2 * n]])
    reference = (probs[:n], features[:n])
    floor = real_floor(probs, features)
    rows, results = [], []
    for rule in tqdm(mnist_rule_set(), desc="mnist", disable=args.no_progress):
        env, history, average = play(rule, "minimax/MNIST-v0", args.mnist, 0, not args.no_progress,
                                     loss="non-saturating", download=not args.no_download)  # fmt: skip
        with generator_parameters(env, average):
            metrics = scores(classifier, env.game.generate(n)[0], reference)
        results.append({"rule": rule.name, "schedule": rule.schedule or "simultaneous", "metrics": metrics,
                        "wall": history.wall_time, "iterations": history.iterations, "diverged": bool(history.terminated.any()),
                        "unconverged_solves": history.settings.get("unconverged_solves", 0)})
        rows.append([rule.name, *[f"{metrics[m]:.3g}" for m in METRICS], f"{history.wall_time:.0f}",
                     f"at {history.iterations}" if history.terminated.any() else "no"])
    rows.append([f"floor: real vs real, {len(probs) // 2:,} vs {len(probs) // 2:,}",
                 *[f"{floor[m]:.3g}" for m in METRICS], "", ""])
    header = ["rule (simultaneous unless said)", "classifier score ↑", "Fréchet dist. ↓", "classes ↑", "KL ↓",
              "precision ↑", "recall ↑", "wall s", "diverged"]  # fmt: skip
    return markdown_table(header, rows), results + [{"rule": "floor", "metrics": floor}]


# ---- 6. Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cases = atlas()
    results = [run_case(c, args.steps) for c in tqdm(cases, desc="atlas", disable=args.no_progress)]
    judge_comparisons(results)
    header = ["anchor", "game", "rule / schedule", "steps", "spectral radius", "predicted", "observed",
              "final / start distance", "rate per iteration", "literature", "agree"]  # fmt: skip
    rows = [[r["anchor"], r["game"], r["rule"], str(r["steps"]),
             f"{r['radius']:.6f}" if r["radius"] is not None else "—", r["predicted"] or "—", r["observed"],
             f"{r['final_distance']:.3g} / {r['start_distance']:.3g}", f"{r['rate']:.6f}",
             r["literature"] + (f" (than {r['faster_than']})" if r["faster_than"] else ""),
             "yes" if r["agrees"] else "**no**"]
            for r in results]  # fmt: skip
    table = markdown_table(header, rows)
    agree = sum(r["agrees"] for r in results)
    report = (f"Convergence atlas: {agree}/{len(results)} lines agree with the literature (and with the predicted "
              f"spectral radius where the game and rules are linear). Radii for Dirac-GAN are of the update "
              f"linearised at the equilibrium.\n\n{table}\n")
    print(report)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    plot_dirac_portraits(out / "dirac_portraits.png", results)
    plot_bilinear(out / "bilinear_trajectories.png", results)
    plot_spectral_radius(out / "spectral_radius.png")
    plot_newer_lines(out / "newer_lines.png", results)
    payload = {"settings": vars(args), "atlas": [{k: v for k, v in r.items() if k not in ("trajectory", "distances")}
                                                 for r in results]}  # fmt: skip
    ttur_table, ttur_means = ttur(steps=args.steps or 4000, seeds=5 if args.steps is None else 2)
    print(ttur_table)
    report += f"\n{ttur_table}\n"
    payload["ttur"] = ttur_means
    if args.mnist:
        mnist_table, mnist_results = mnist_rules(args)
        print(mnist_table)
        atomic_write(out / "mnist.md", (mnist_table + "\n").encode())
        payload["mnist"] = mnist_results
    if args.neural:
        neural_table, neural_results = neural(args)
        print(neural_table)
        atomic_write(out / "neural.md", (neural_table + "\n").encode())
        payload["neural"] = neural_results
    atomic_write(out / "results.md", report.encode())
    save_json(out / "results.json", payload)
    print(f"wrote {out}/results.md, results.json, dirac_portraits.png, bilinear_trajectories.png, spectral_radius.png, "
          "newer_lines.png")
    return {"results": results, "agree": agree}


if __name__ == "__main__":
    main()
