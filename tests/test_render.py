"""Every env renders: frames of the right shape that change as the game moves, in every view and the tools that use them."""

from __future__ import annotations

import pickle

import gymnasium
import numpy as np
import pettingzoo
import pytest
import torch
from pettingzoo.test import render_test

import agents
import minimax
from minimax.render.density import KernelDensity
from minimax.render import Renderer, panels, picture_kind

TINY_IMAGES = np.random.default_rng(0).integers(0, 256, size=(32, 28, 28), dtype=np.uint8)
CASES = {  # env id, options, the picture it should draw
    "normal1d": ("minimax/Normal1D-v0", {"hidden": 8, "batch_size": 32}, "histogram"),
    "dirac": ("minimax/DiracGAN-v0", {}, "portrait"),
    "bilinear": ("minimax/Bilinear-v0", {"A": 1.0, "x0": 1.0, "y0": 0.5}, "portrait"),
    "ring8": ("minimax/Ring8-v0", {"hidden": 8, "depth": 1, "batch_size": 32}, "scatter"),
    "mnist": ("minimax/MNIST-v0", {"images": TINY_IMAGES, "batch_size": 8}, "grid"),
}


def _play(env: object, moves: int) -> None:
    """``moves`` gradient steps by hand on an AEC env (torch or numpy view)."""
    for _ in range(moves):
        observation, *_ = env.last()
        env.step(-0.5 * observation["gradient"] / (1 + abs(observation["gradient"]).max()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_env_renders_a_frame_that_changes_as_the_game_moves(case: str) -> None:
    env_id, options, kind = CASES[case]
    env = pettingzoo.make("aec", env_id, render_mode="rgb_array", **options)
    env.reset(seed=0)
    assert env.unwrapped.renderer.kind == kind
    first = env.render()
    assert isinstance(first, np.ndarray) and first.shape == (480, 640, 3) and first.dtype == np.uint8
    _play(env, 12)
    later = env.render()
    assert later.shape == first.shape
    assert (later != first).any(), f"{case}: the frame did not change after 12 moves"
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 10  # a picture, not a blank frame


def test_the_portrait_draws_the_trajectory_so_far() -> None:
    env = pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch", render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(7):
        env.step({p: -0.3 * env.observation(p)["gradient"] for p in env.agents})
    trajectory = env.renderer.trajectory
    assert len(trajectory) == 8  # the start and every joint step
    now = torch.cat([env.game.parameters("generator")[0], env.game.parameters("discriminator")[0]])
    assert torch.equal(trajectory[-1], now)
    env.reset(seed=1)
    assert len(env.renderer.trajectory) == 1  # a new game starts a new trajectory


def test_rendering_does_not_change_the_game() -> None:
    """Frames draw their samples from a stream of their own: a rendered run equals an unrendered one, bitwise."""
    finals = []
    for render_mode in (None, "rgb_array"):
        env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", render_mode=render_mode, hidden=8,
                              batch_size=32)  # fmt: skip
        env.reset(seed=3)
        for _ in range(6):
            _play(env, 1)
            if render_mode:
                env.render()
        finals.append(torch.cat([env.game.parameters(p)[0] for p in minimax.PLAYERS]).clone())
    assert torch.equal(*finals)


def test_without_a_render_mode_render_warns_and_returns_none() -> None:
    env = pettingzoo.make("aec", "minimax/DiracGAN-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="without a render mode"):
        assert env.render() is None


def test_bad_render_modes_are_refused_and_human_without_a_display_warns(monkeypatch) -> None:
    with pytest.raises(ValueError, match="render_mode must be None or one of"):
        pettingzoo.make("aec", "minimax/DiracGAN-v0", render_mode="ansi")
    with pytest.raises(ValueError, match="render_mode must be None or one of"):
        minimax.make_vector("minimax/DiracGAN-v0", 2, render_mode="human")
    with pytest.raises(ValueError, match="render_games must name games in"):
        minimax.make_vector("minimax/DiracGAN-v0", 2, render_mode="rgb_array", render_games=[2])
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    with pytest.warns(UserWarning, match="cannot open one"):
        env = pettingzoo.make("aec", "minimax/DiracGAN-v0", render_mode="human")
    env.reset(seed=0)
    _play(env, 2)
    assert env.render() is None


def test_human_mode_draws_in_a_window_at_every_step(monkeypatch) -> None:
    import matplotlib.pyplot as plt

    import minimax.envs.base as base

    monkeypatch.setattr(base, "interactive_backend", lambda: True)
    pauses = []
    monkeypatch.setattr(plt, "pause", lambda seconds: pauses.append(seconds))
    env = pettingzoo.make("aec", "minimax/DiracGAN-v0", render_mode="human")
    env.reset(seed=0)
    _play(env, 3)
    assert len(pauses) == 4  # the reset and every move
    figure, image = env.unwrapped.renderer.window
    assert image.get_array().shape == (480, 640, 3)
    plt.close(figure)


def test_pettingzoo_render_test_passes() -> None:
    render_test(lambda render_mode=None: pettingzoo.make("aec", "minimax/DiracGAN-v0", render_mode=render_mode,
                                                         max_steps=30))  # fmt: skip


def test_gymnasium_record_video_records_a_run(tmp_path) -> None:
    pytest.importorskip("moviepy", reason="gymnasium's RecordVideo writes through moviepy")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gymnasium.make("minimax/DiracGAN-v0", render_mode="rgb_array", max_episode_steps=20),
                      str(tmp_path), episode_trigger=lambda episode: True, disable_logger=True)  # fmt: skip
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(np.full(1, 0.01, dtype=np.float32))
        done = terminated or truncated
    env.close()
    assert list(tmp_path.glob("*.mp4"))


def test_the_gymnasium_view_renders_the_game_and_keeps_rgb_arrays_through_its_wrappers() -> None:
    env = gymnasium.make("minimax/Normal1D-v0", render_mode="rgb_array", hidden=8, batch_size=32)
    assert env.render_mode == "rgb_array" and "rgb_array" in env.metadata["render_modes"]
    observation, _ = env.reset(seed=0)
    first = env.render()
    for _ in range(5):
        observation, *_ = env.step(-0.1 * observation["gradient"])
    assert first.shape == (480, 640, 3) and (env.render() != first).any()


def test_the_vector_env_renders_one_frame_per_named_game() -> None:
    env = minimax.make_vector("minimax/DiracGAN-v0", 3, render_mode="rgb_array", render_games=[0, 2])
    env.reset(seed=[0, 1, 2])
    frames = env.render()
    assert len(frames) == 2 and all(f.shape == (480, 640, 3) for f in frames)
    minimax.train(env, {p: agents.make("sgd", lr=0.1) for p in minimax.PLAYERS}, 5, seed=[0, 1, 2], progress=False)
    assert all((a != b).any() for a, b in zip(frames, env.render()))


def test_a_rendering_env_pickles_and_renders_after() -> None:
    env = pettingzoo.make("aec", "minimax/DiracGAN-v0", view="torch", render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    copy = pickle.loads(pickle.dumps(env))
    assert np.array_equal(copy.render(), before)


def test_a_target_given_as_samples_is_drawn_as_its_own_density() -> None:
    """A two-mode target is drawn as its KDE, not as the normal with its mean and std."""
    rng = np.random.default_rng(0)
    samples = np.concatenate([rng.normal(-2, 0.5, 3000), rng.normal(2, 0.5, 3000)])
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", samples=samples)
    xs = np.linspace(-4, 4, 81)
    mixture = 0.5 * (np.exp(-2 * (xs + 2) ** 2) + np.exp(-2 * (xs - 2) ** 2)) / (0.5 * np.sqrt(2 * np.pi))
    assert np.abs(env.game.task.density(xs) - mixture).max() < 0.06  # the mixture's own density
    normal = np.exp(-0.5 * ((xs - samples.mean()) / samples.std()) ** 2) / (samples.std() * np.sqrt(2 * np.pi))
    assert np.abs(normal - mixture).max() > 0.2  # what it used to draw is far from it


def test_kernel_density_integrates_to_one_and_refuses_too_few_samples() -> None:
    kde = KernelDensity(np.random.default_rng(1).normal(size=50_000))
    xs = np.linspace(-6, 6, 2001)
    assert abs(kde(xs).sum() * (xs[1] - xs[0]) - 1) < 1e-3
    assert kde.samples.size == 20_000  # large sets are thinned evenly
    with pytest.raises(ValueError, match="at least 2 finite samples"):
        KernelDensity(np.array([1.0, np.nan]))


def test_renderer_checks_and_picture_kinds() -> None:
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=4)
    env.reset(seed=0)
    assert picture_kind(env.game) == "histogram"
    with pytest.raises(ValueError, match="index must be a game of this env"):
        Renderer(env.game, index=1)
    with pytest.raises(ValueError, match="at least 64 x 64"):
        Renderer(env.game, width=10)
    assert Renderer(env.game, width=320, height=240).frame().shape == (240, 320, 3)
    assert Renderer(env.game).samples(5).shape == (5, 1)


def test_mosaic_lays_out_grey_and_colour_images() -> None:
    grey = np.linspace(-1, 1, 5 * 4 * 4).reshape(5, 4, 4)
    picture = panels.mosaic(grey, columns=3)
    assert picture.shape == (2 * 6, 3 * 6) and picture.min() >= 0 and picture.max() <= 1
    assert picture[1, 1] == 0.0 and picture[6 + 4, 6 + 4] == 1.0  # first and last pixels of images 0 and 4
    colour = panels.mosaic(np.zeros((4, 3, 5, 5)))
    assert colour.shape == (14, 14, 3)
    with pytest.raises(ValueError, match="images must be"):
        panels.mosaic(np.zeros(5))


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "wasserstein"])
def test_the_dirac_portraits_field_is_the_field_the_players_follow(loss: str) -> None:
    """The drawn arrows at (theta, psi) equal minus each player's own gradient, as the game computes it."""
    theta, psi = 0.7, -1.3
    env = pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch", theta=theta, psi=psi, loss=loss,
                          dtype="float64")  # fmt: skip
    env.reset(seed=0)
    grid_theta, grid_psi, u, v = env.game.task.portrait_field(env.game.loss, extent=2.0)
    point = np.argmin((grid_theta - theta) ** 2 + (grid_psi - psi) ** 2)
    at = {"theta": grid_theta.flat[point], "psi": grid_psi.flat[point]}
    env = pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch", loss=loss, dtype="float64", **at)
    env.reset(seed=0)
    assert -env.observation("generator")["gradient"].item() == pytest.approx(u.flat[point], rel=1e-9, abs=1e-12)
    assert -env.observation("discriminator")["gradient"].item() == pytest.approx(v.flat[point], rel=1e-9, abs=1e-12)
    assert env.game.task.portrait_field(minimax.core.losses.make_loss("minimax:r1=1"), 2.0) is None
