"""The MNIST/Fashion-MNIST tasks: the report's networks, Keras conventions, and its split discriminator update."""

from __future__ import annotations

import math

import numpy as np
import pettingzoo
import pytest
import torch
from pettingzoo.test import api_test

import minimax
from minimax.core.losses import LossFamily, log_sigmoid
from minimax.tasks.images import PRESETS, FashionMNIST

TINY = {"noise_dim": 4, "g_hidden": (8,), "d_hidden": (8,), "batch_size": 8}


def pixels(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_networks_match_the_reports_keras_summaries() -> None:
    """Keras-GAN's summaries: G 1,489,936 trainable weights (+3,584 BatchNorm moving statistics), D 533,505."""
    task = minimax.MNIST(images=pixels())
    g, d = task.build_generator(), task.build_discriminator()
    assert sum(p.numel() for p in g.parameters()) == 1_489_936
    assert sum(b.numel() for name, b in g.named_buffers() if "running" in name) == 3_584
    assert sum(p.numel() for p in d.parameters()) == 533_505
    widths = [m.out_features for m in g if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 512, 1024, 784]
    assert [m.out_features for m in d if isinstance(m, torch.nn.Linear)] == [512, 256, 1]
    assert all(m.negative_slope == 0.2 for m in g if isinstance(m, torch.nn.LeakyReLU))
    x = g(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert d(x).shape == (5,)


def test_keras_batchnorm_momentum_and_initialisation() -> None:
    """Keras momentum 0.8: running = 0.8 running + 0.2 batch; Glorot-uniform kernels, zero biases."""
    task = minimax.MNIST(images=pixels())
    g = task.build_generator()
    bn = next(m for m in g if isinstance(m, torch.nn.BatchNorm1d))
    assert bn.eps == 1e-3
    linear = g[0]
    limit = math.sqrt(6 / (100 + 256))
    largest = float(linear.weight.detach().abs().max())
    assert 0.9 * limit < largest <= limit
    assert float(linear.bias.detach().abs().max()) == 0
    z = torch.randn(32, 100)
    batch_mean = g[1](g[0](z)).mean(0)
    g(z)
    torch.testing.assert_close(bn.running_mean, 0.2 * batch_mean.detach())


def test_images_are_scaled_to_minus_one_one_and_sampled_with_replacement() -> None:
    raw = pixels(10)
    raw[0] = 0
    raw[1] = 255
    task = minimax.MNIST(images=raw, **TINY)
    data = task.scaled()
    assert data.shape == (10, 1, 28, 28)
    assert float(data[0].max()) == -1.0 and float(data[1].min()) == 1.0
    batch = task.sample_data(500, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert batch.shape == (500, 1, 28, 28)
    rows = {tuple(b.reshape(-1)[:20].tolist()) for b in batch}
    assert len(rows) == 10  # every image drawn, with repeats


def test_report_preset_and_split_schedule() -> None:
    schedule = minimax.make_schedule(PRESETS["report"]["training"]["schedule"])
    assert schedule.cycle == ("discriminator", "discriminator", "generator")
    assert schedule.parts == ("real", "fake", "both")
    assert minimax.make_schedule("alternating:k=2,split=true").parts == ("real", "fake", "real", "fake", "both")
    assert minimax.make_schedule("alternating:k=2,first=generator,split=yes").parts[0] == "both"


def test_split_turns_see_half_batches_and_their_own_loss_terms() -> None:
    """Turn 1: -mean log D(x) on 4 real images; turn 2: -mean log(1 - D(G(z))) on 4 fakes made in eval mode."""
    env = pettingzoo.make("aec", "minimax/MNIST-v0", view="torch", images=pixels(), schedule="alternating:k=1,split=true",
                          loss="non-saturating", fake_mode="eval", **TINY)
    env.reset(seed=3)
    game = env.game
    d = game.networks["discriminator"].template.module  # one game: the modules run it
    g = game.networks["generator"].template.module
    (batch,) = env.match.batches.values()
    assert batch.part == "real" and batch.real.shape == (1, 4, 1, 28, 28) and batch.noise.shape == (1, 4, 4)
    obs = env.observe("discriminator")
    torch.testing.assert_close(obs["loss"], -log_sigmoid(d(batch.real[0])).mean().detach())
    env.step(torch.zeros_like(obs["gradient"]))
    (batch,) = env.match.batches.values()
    assert batch.part == "fake" and batch.noise.shape == (1, 4, 4)
    g.eval()
    expected = -log_sigmoid(-d(g(batch.noise[0]))).mean().detach()
    g.train()
    obs = env.observe("discriminator")
    torch.testing.assert_close(obs["loss"], expected)
    assert env.match.evaluation("discriminator").d_real is None  # the fake turn never looked at real data
    env.step(torch.zeros_like(obs["gradient"]))
    assert "value" not in env.infos["discriminator"] and "d_fake" in env.infos["discriminator"]
    (batch,) = env.match.batches.values()
    assert env.agent_selection == "generator" and batch.part == "both" and batch.real.shape[1] == 8


@pytest.mark.parametrize("mode, changes", [("eval", False), ("train", True)])
def test_fake_mode_decides_whether_discriminator_turns_touch_batchnorm(mode: str, changes: bool) -> None:
    env = pettingzoo.make("aec", "minimax/MNIST-v0", view="torch", images=pixels(), fake_mode=mode, **TINY)
    env.reset(seed=0)
    generator = env.game.networks["generator"].template.module
    bn = next(m for m in generator if isinstance(m, torch.nn.BatchNorm1d))
    before = bn.running_mean.clone()
    env.observe("discriminator")
    assert (not torch.equal(before, bn.running_mean)) == changes
    assert generator.training


def test_observing_a_player_who_is_not_moving_changes_nothing() -> None:
    """Looking at the generator on a discriminator turn leaves BatchNorm statistics, hence the run, as they were."""
    def trajectory(peek: bool) -> torch.Tensor:
        env = pettingzoo.make("aec", "minimax/MNIST-v0", view="torch", images=pixels(), fake_mode="eval",
                              schedule="alternating:k=1,split=true", **TINY)
        env.reset(seed=1)
        for _ in range(9):
            if peek:
                env.observe("generator")
            agent = env.agent_selection
            env.step(-0.01 * env.observe(agent)["gradient"])
        return torch.cat([env.game.parameters(p)[0] for p in minimax.PLAYERS])

    assert torch.equal(trajectory(False), trajectory(True))


def test_report_training_loop_runs_and_records() -> None:
    env = minimax.make_aec(minimax.MNIST, view="torch", images=pixels(), schedule="alternating:k=1,split=true",
                           loss="non-saturating", fake_mode="eval", **TINY)
    import agents

    rules = {p: agents.make("adam", lr=2e-4, betas=(0.5, 0.999)) for p in minimax.PLAYERS}
    history = minimax.train(env, rules, 20, seed=0, progress=False)
    assert history.iterations == 20 and history.moves.tolist() == [60]
    assert np.isfinite(history["discriminator_loss"]).all() and np.isfinite(history["value"]).all()


def test_pettingzoo_api_test_on_tiny_mnist() -> None:
    env = minimax.to_numpy(pettingzoo.make("aec", "minimax/MNIST-v0", view="torch", images=pixels(), max_steps=60,
                                           schedule="alternating:k=1,split=true", **TINY))
    api_test(env, num_cycles=50)


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="uint8"):
        minimax.MNIST(images=pixels().astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        minimax.MNIST(images=np.zeros((3, 27, 27), np.uint8))
    with pytest.raises(ValueError, match="bn_momentum"):
        minimax.MNIST(images=pixels(), bn_momentum=1.0)
    with pytest.raises(ValueError, match="init"):
        minimax.MNIST(images=pixels(), init="he")
    with pytest.raises(ValueError, match="fake_mode"):
        pettingzoo.make("aec", "minimax/MNIST-v0", view="torch", images=pixels(), fake_mode="predict", **TINY)
    with pytest.raises(ValueError, match="split"):
        minimax.make_schedule("alternating:split=maybe")
    with pytest.raises(ValueError, match="half batch"):
        minimax.Schedule(("discriminator", "generator"), simultaneous=True, parts=("real", "both"))
    env = pettingzoo.make("aec", "minimax/MNIST-v0", view="torch", images=pixels(), **TINY)
    env.reset(seed=0)

    class Unsplittable(LossFamily):
        name = "unsplittable"

        def generator_loss(self, outcome):  # pragma: no cover - never reached
            return outcome.fake_logits.mean()

    game = minimax.Game(minimax.MNIST(images=pixels(), **TINY), loss=Unsplittable())
    game.reset([0])
    with pytest.raises(NotImplementedError, match="unsplittable"):
        game.evaluate(game.sample(part="fake"), ("discriminator",))


def test_loader_path_with_tiny_idx_files(tmp_path, monkeypatch) -> None:
    """Only the test split present: the task trains on it and says so."""
    from minimax.datasets import write_idx

    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", pixels(12))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(12, dtype=np.uint8) % 10)
    with pytest.warns(UserWarning):
        task = FashionMNIST(root=tmp_path, download=False, **TINY)
    assert len(task) == 12 and "test" in task.note
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        minimax.MNIST(root=missing, download=False)
