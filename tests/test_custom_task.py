"""Bring your own networks and data: DataTask (tensor, numpy, Dataset; 1D, points, images) and register_task."""

from __future__ import annotations

import pickle
import warnings

import gymnasium
import numpy as np
import pettingzoo
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import agents
import minimax
from minimax.core.game import Game
from minimax.envs.vector import VectorGameEnv
from minimax.tasks.custom import DataTask

F64 = torch.float64
IMAGE = (3, 8, 8)


# ------------------------------------------------------------------------------- fixtures (module level: they pickle)


class CountingDataset(Dataset):
    """``n`` samples ``(x, label)`` whose ``__getitem__`` never raises IndexError (it wraps around), counting reads."""

    def __init__(self, n: int, shape: tuple[int, ...] = (2,)) -> None:
        self.n, self.shape, self.reads = n, shape, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        self.reads += 1
        return torch.full(self.shape, float(i % self.n)), i % 3


class NoLength(Dataset):
    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.zeros(2)


class Ragged(Dataset):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.zeros(2 if i < 2 else 3)


class TinyGenerator(nn.Sequential):
    """A factory (its class) for a 4 -> 2 generator, initialised N(0, 0.02^2) like DCGAN's."""

    def __init__(self) -> None:
        super().__init__(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        for p in self.parameters():
            nn.init.normal_(p, std=0.02)


def mlp(n_in: int, n_out: int, hidden: int = 8) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


def image_generator(noise_dim: int = 6) -> nn.Sequential:
    return nn.Sequential(nn.Linear(noise_dim, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, IMAGE))


def conv_discriminator() -> nn.Sequential:
    """3x8x8 -> one logit, (n, 1): DataTask squeezes it."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64, 1))


def points(n: int = 64) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(0))


def images(n: int = 32) -> torch.Tensor:
    return torch.rand(n, *IMAGE, generator=torch.Generator().manual_seed(1)) * 2 - 1


def deconv_task(**kw) -> DataTask:
    """1x8x8 images from a transposed-convolution generator, BatchNorm2d in both networks (run through vmap)."""
    generator = nn.Sequential(nn.Unflatten(1, (4, 1, 1)), nn.ConvTranspose2d(4, 4, 4), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.ConvTranspose2d(4, 1, 2, stride=2), nn.Tanh())  # fmt: skip
    discriminator = nn.Sequential(nn.Conv2d(1, 2, 4, stride=2, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
                                  nn.Flatten(), nn.Linear(32, 1))  # fmt: skip
    return DataTask(images()[:, :1], generator, discriminator, noise_dim=4, batch_size=8, **kw)


def point_task(**kw) -> DataTask:
    return DataTask(points(), mlp(4, 2), mlp(2, 1), batch_size=16, **kw)


def image_task(**kw) -> DataTask:
    return DataTask(images(), image_generator(), conv_discriminator(), batch_size=8, **kw)


def adam_pair() -> dict:
    return {p: agents.make("adam", lr=1e-3) for p in minimax.PLAYERS}


def initial_weights(task: DataTask, seed: int) -> torch.Tensor:
    game = Game(task)
    game.reset([seed])
    return torch.cat([game.parameters(p)[0].clone() for p in minimax.PLAYERS])


# ------------------------------------------------------------------------------------ data


def test_a_tensor_of_points_gives_their_shape_and_minibatches_drawn_from_them() -> None:
    data = points()
    task = point_task()
    assert task.data_shape == (2,) and task.noise_dim == 4 and len(task) == 64
    assert task.data is not data and task.data.dtype == torch.float32  # a copy: later edits of the caller's do not leak
    batch = task.sample_data(100, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert batch.shape == (100, 2)
    members = (batch[:, None, :] == data[None]).all(-1).any(-1)
    assert members.all()  # every draw is one of the samples
    again = task.sample_data(100, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(batch, again)  # the game's stream decides the draws


def test_numpy_and_one_dimensional_data_are_accepted_and_ints_become_floats() -> None:
    values = np.random.default_rng(0).normal(4.0, 1.25, 500)
    task = DataTask(values, mlp(1, 1), mlp(1, 1))
    assert task.data_shape == (1,) and task.data.dtype == torch.float64  # float64 kept, (N,) read as N numbers
    counts = DataTask(np.arange(10), mlp(1, 1), mlp(1, 1))
    assert counts.data.dtype == torch.float32 and counts.data[3, 0] == 3.0
    assert DataTask([[0.0, 1.0], [2.0, 3.0]], mlp(3, 2), mlp(2, 1)).data_shape == (2,)


def test_a_dataset_that_never_raises_index_error_is_read_exactly_len_times() -> None:
    dataset = CountingDataset(20)
    task = DataTask(dataset, mlp(3, 2), mlp(2, 1))
    assert dataset.reads == 20  # len() decides, not an IndexError that never comes
    assert task.data_shape == (2,) and torch.equal(task.data[:, 0], torch.arange(20.0))  # (x, label): x is kept
    labelled = DataTask(TensorDataset(points(), torch.arange(64)), mlp(4, 2), mlp(2, 1))
    assert torch.equal(labelled.data, points())


def test_a_dataset_of_images_gives_the_image_shape() -> None:
    task = DataTask(CountingDataset(12, IMAGE), image_generator(), conv_discriminator())
    assert task.data_shape == IMAGE and task.sample_data(5, torch.Generator(), torch.device("cpu")).shape == (5, *IMAGE)


@pytest.mark.parametrize("data, error, match", [
    (NoLength(), TypeError, "NoLength has no __len__"),
    (Ragged(), ValueError, r"item 0 .* shape \(2,\), item 2 has \(3,\)"),
    (torch.zeros(1, 2), ValueError, "at least 2 samples, got 1"),
    (torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, 1.0]]), ValueError, "finite; 1 of 3 samples .* sample 1"),
    (np.array(["a", "b"]), TypeError, "must be numbers"),
    (torch.zeros(3, 2, dtype=torch.complex64), TypeError, "real numbers"),
    ({"x": [1.0, 2.0]}, TypeError, "tensor, a numpy array or a torch.utils.data.Dataset, got dict"),
])  # fmt: skip
def test_bad_data_is_refused_naming_what_was_expected(data, error, match) -> None:
    with pytest.raises(error, match=match):
        DataTask(data, mlp(3, 2), mlp(2, 1))


# ------------------------------------------------------------------------------------ networks


def test_seeds_decide_the_initial_weights_of_a_module_template() -> None:
    generator, discriminator = mlp(4, 2), mlp(2, 1)
    task = DataTask(points(), generator, discriminator)
    a, b, c = initial_weights(task, 0), initial_weights(task, 0), initial_weights(task, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    given = torch.cat([p.detach().reshape(-1) for m in (discriminator, generator) for p in m.parameters()])
    assert a.shape == given.shape and not torch.equal(a, given)  # re-drawn, not the template's own weights
    assert torch.equal(initial_weights(point_task(), 0), a)  # another template of the same architecture: same draw


def test_init_keep_starts_every_game_from_the_given_weights() -> None:
    generator, discriminator = mlp(4, 2), mlp(2, 1)
    task = DataTask(points(), generator, discriminator, init="keep")
    want = torch.cat([p.detach().reshape(-1) for m in (discriminator, generator) for p in m.parameters()])
    assert torch.equal(initial_weights(task, 0), want) and torch.equal(initial_weights(task, 5), want)


def test_a_factory_is_called_per_game_under_its_seed_keeping_its_own_initialisation() -> None:
    task = DataTask(points(), TinyGenerator, lambda: mlp(2, 1), batch_size=16)
    a, b, c = initial_weights(task, 3), initial_weights(task, 3), initial_weights(task, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    generator = Game(task).module("generator")
    assert float(generator[0].weight.detach().std()) < 0.05  # TinyGenerator's N(0, 0.02^2), not PyTorch's default
    assert isinstance(Game(task).module("discriminator")[-1], minimax.core.layers.Squeeze)  # (n, 1) squeezed


def test_the_global_rng_is_left_alone() -> None:
    discriminator = mlp(2, 1)
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    task = DataTask(points(), TinyGenerator, discriminator)  # probes and builds draw from their own seeded RNG
    initial_weights(task, 0)
    assert torch.equal(torch.rand(3), want)


def test_a_discriminator_returning_one_logit_per_sample_is_used_as_it_is() -> None:
    class Logits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)[:, 0]

    task = DataTask(points(), mlp(4, 2), Logits())
    assert isinstance(task.build_discriminator(), Logits)


def test_parameters_no_reset_parameters_covers_are_named_in_a_warning() -> None:
    class Shifted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.shift = mlp(4, 2), nn.Parameter(torch.zeros(2))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.net(z) + self.shift

    with pytest.warns(UserWarning, match=r"\['shift'\]"):
        DataTask(points(), Shifted(), mlp(2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataTask(points(), Shifted(), mlp(2, 1), init="keep")  # kept anyway: nothing to warn about


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(generator=mlp(4, 3)), ValueError, r"noise \(2, 4\) to samples of the data's shape \(2, 2\), got \(2, 3\)"),
    (dict(generator=mlp(4, 2), noise_dim=5), ValueError, r"failed on noise of shape \(2, 5\) \(noise_dim=5\)"),
    (dict(discriminator=mlp(2, 2)), ValueError, r"one logit per sample, shape \(2,\) .* got \(2, 2\)"),
    (dict(discriminator=mlp(3, 1)), ValueError, r"discriminator \(Sequential\) failed on data of shape \(2, 2\)"),
    (dict(generator=nn.Sequential(nn.Unflatten(1, (4, 1)), nn.Conv1d(4, 2, 1), nn.Flatten())), ValueError,
     "noise_dim is needed"),
    (dict(generator=lambda: "not a module"), TypeError, r"factory .* result must be an nn.Module, got str"),
    (dict(generator=3), TypeError, "generator must be an nn.Module or a zero-argument factory returning one, got int"),
    (dict(discriminator=nn.Sequential(nn.Flatten())), ValueError, "has no parameters"),
    (dict(noise="gumbel"), ValueError, "unknown noise prior 'gumbel'"),
    (dict(init="xavier"), ValueError, "unknown init 'xavier'"),
    (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
])  # fmt: skip
def test_bad_networks_and_options_are_refused_naming_what_was_expected(kwargs, error, match) -> None:
    arguments = dict(data=points(), generator=mlp(4, 2), discriminator=mlp(2, 1)) | kwargs
    with pytest.raises(error, match=match):
        DataTask(**arguments)


def test_a_generator_with_the_right_numbers_in_the_wrong_shape_is_told_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match=r"got \(2, 192\) \(end it with nn.Unflatten\(1, data_shape\)\)"):
        DataTask(images(), mlp(6, 192), conv_discriminator())


@pytest.mark.parametrize("noise, low", [("normal", None), ("uniform", -1.0)])
def test_noise_priors(noise: str, low: float | None) -> None:
    task = point_task(noise=noise)
    z = task.sample_noise(4000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert z.shape == (4000, 4) and abs(float(z.mean())) < 0.05
    if low is None:
        assert abs(float(z.std()) - 1) < 0.05
    else:
        assert float(z.min()) >= -1 and float(z.max()) <= 1 and float(z.min()) < -0.99 and float(z.max()) > 0.99


# ------------------------------------------------------------------------------------ games


def test_a_short_training_run_on_points() -> None:
    env = minimax.GameAECEnv(Game(point_task()))
    history = minimax.train(env, {"discriminator": agents.make("adam", lr=1e-3),
                                  "generator": agents.make("adam", lr=1e-3)}, 20, seed=0, progress=False)  # fmt: skip
    assert history["generator_loss"].shape == (20, 1) and np.isfinite(history["generator_loss"]).all()
    assert not np.array_equal(history["discriminator_loss"][0], history["discriminator_loss"][-1])


@pytest.mark.parametrize("make_task", [point_task, image_task, deconv_task],
                         ids=["points-lowered", "images-conv-vmap", "images-deconv-batchnorm-vmap"])
def test_a_lone_game_and_game_i_of_three_agree_to_round_off(make_task) -> None:
    seeds = [4, 9, 4]
    vector = Game(make_task(), 3, dtype=F64)
    assert vector.networks["discriminator"].lowered == (make_task is point_task)
    assert vector.tasks[1].samples() is vector.tasks[0].samples()  # the games share one copy of the data
    vhist = minimax.train(VectorGameEnv(vector, "alternating:k=2"), agents.make("adam", lr=1e-3), 6, seed=seeds,
                          progress=False)  # fmt: skip
    for i in (0, 1):
        game = Game(make_task(), dtype=F64)
        hist = minimax.train(minimax.GameAECEnv(game, "alternating:k=2"), adam_pair(), 6, seed=seeds[i], progress=False)
        for p in minimax.PLAYERS:
            torch.testing.assert_close(vector.params[p][i], game.parameters(p)[0], rtol=1e-10, atol=1e-10)
            for name, buffer in game.buffers[p].items():
                torch.testing.assert_close(vector.buffers[p][name][i], buffer[0], rtol=1e-10, atol=1e-10)
        for name, values in hist.metrics.items():
            np.testing.assert_allclose(vhist[name][:, i], values[:, 0], rtol=1e-6, atol=1e-6, err_msg=name)
    torch.testing.assert_close(vector.params["generator"][0], vector.params["generator"][2], rtol=0, atol=0)
    assert not torch.equal(vector.params["generator"][0], vector.params["generator"][1])


def test_a_game_mid_run_pickles_and_plays_on_identically() -> None:
    env = minimax.GameAECEnv(Game(image_task()))
    env.reset(seed=2)

    def play(e, steps: int = 4) -> list[float]:
        out = []
        for _ in range(steps):
            observation = e.observe(e.agent_selection)
            e.step(-0.01 * observation["gradient"])
            out.append(float(observation["loss"]))
        return out

    play(env)
    blob = pickle.dumps(env)
    clone = pickle.loads(blob)
    assert play(env) == play(clone)
    task = pickle.loads(pickle.dumps(env.game.task))
    assert task._on_device == {} and torch.equal(task.data, env.game.task.data)  # no device copies in the pickle
    assert pickle.loads(pickle.dumps(DataTask(points(), TinyGenerator, mlp(2, 1)))).build_generator()


def test_describe_names_the_settings() -> None:
    info = DataTask(points(), TinyGenerator, mlp(2, 1), name="swiss").describe()
    assert info == {"name": "swiss", "batch_size": 64, "noise_dim": 4, "samples": 64, "data_shape": (2,),
                    "noise": "normal", "init": "reset", "generator": "TinyGenerator", "discriminator": "Sequential"}


# ------------------------------------------------------------------------------------ registration


def test_a_registered_id_makes_every_kind_of_env() -> None:
    minimax.register_task("test/Swiss-v0", data=points(), generator=mlp(4, 2), discriminator=mlp(2, 1), batch_size=16,
                          overwrite=True)  # fmt: skip
    env = pettingzoo.make("aec", "test/Swiss-v0", max_steps=60)
    assert isinstance(env.unwrapped, minimax.GameAECEnv) and env.unwrapped.game.task.name == "test/Swiss-v0"
    api_test(env, num_cycles=30)
    parallel_api_test(pettingzoo.make("parallel", "test/Swiss-v0", max_steps=60), num_cycles=30)
    check_env(gymnasium.make("test/Swiss-v0", max_steps=50), skip_render_check=True)
    single = gymnasium.make("test/Swiss-v0", view="torch", batch_size=8)
    assert single.unwrapped.game_env.game.task.batch_size == 8 and single.spec.max_episode_steps == 1000
    vector = minimax.make_vector("test/Swiss-v0", 4, loss=["minimax", "hinge", "non-saturating", "minimax"])
    history = minimax.train(vector, agents.make("adam", lr=1e-3), 5, seed=[0, 1, 2, 3], progress=False)
    assert history["generator_loss"].shape == (5, 4) and np.isfinite(history["generator_loss"]).all()
    numpy_env = pettingzoo.make("aec", "test/Swiss-v0")
    assert minimax.train(numpy_env, adam_pair(), 5, seed=0, progress=False)["value"].shape == (5, 1)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['hiden'\] for test/Swiss-v0"):
        minimax.make_vector("test/Swiss-v0", 2, hiden=3)


def test_a_registered_dataset_is_read_once_and_the_lone_and_vector_games_agree() -> None:
    dataset = CountingDataset(40)
    minimax.register_task("test/Counted-v0", data=dataset, generator=mlp(3, 2), discriminator=mlp(2, 1),
                          batch_size=8, overwrite=True)  # fmt: skip
    lone = pettingzoo.make("aec", "test/Counted-v0", view="torch", dtype="float64")
    hist = minimax.train(lone, adam_pair(), 4, seed=7, progress=False)
    vector = minimax.make_vector("test/Counted-v0", 3, dtype="float64", batch_size=8)  # an override: a new task
    vhist = minimax.train(vector, agents.make("adam", lr=1e-3), 4, seed=[7, 8, 9], progress=False)
    assert dataset.reads == 40  # the registration read it; the makes reuse what it read
    np.testing.assert_allclose(vhist["value"][:, 0], hist["value"][:, 0], rtol=1e-9, atol=1e-9)
    for p in minimax.PLAYERS:
        torch.testing.assert_close(vector.game.params[p][0], lone.game.parameters(p)[0], rtol=1e-10, atol=1e-10)


def test_register_task_takes_any_task_factory() -> None:
    minimax.register_task("test/SmallRing-v0", minimax.tasks.Ring8, hidden=8, depth=1, batch_size=16, overwrite=True)
    env = minimax.make_vector("test/SmallRing-v0", 2)
    assert env.game.task.hidden == 8 and env.game.task.batch_size == 16


def test_registration_errors_are_clear() -> None:
    spec = dict(data=points(), generator=mlp(4, 2), discriminator=mlp(2, 1))
    minimax.register_task("test/Taken-v0", **spec, overwrite=True)
    with pytest.raises(ValueError, match=r"'test/Taken-v0' is already registered .* overwrite=True"):
        minimax.register_task("test/Taken-v0", **spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overriding environment" warnings from the registries
        minimax.register_task("test/Taken-v0", **spec, batch_size=4, overwrite=True)
    assert minimax.make_vector("test/Taken-v0", 1).game.task.batch_size == 4
    with pytest.raises(ValueError, match="'minimax/Normal1D-v0' is a built-in minimax id"):
        minimax.register_task("minimax/Normal1D-v0", **spec, overwrite=True)
    with pytest.raises(ValueError, match=r"form \[namespace/\]Name-vN"):
        minimax.register_task("not an id", **spec)
    with pytest.raises(TypeError, match="must return a minimax Task, got dict"):
        minimax.register_task("test/NotATask-v0", dict, a=1)
    with pytest.raises(TypeError, match="factory must be a Task class"):
        minimax.register_task("test/Payoff-v0", minimax.Bilinear)
    with pytest.raises(ValueError, match="at least 2 samples"):  # the task's own checks run at registration
        minimax.register_task("test/Bad-v0", data=torch.zeros(1, 2), generator=mlp(4, 2), discriminator=mlp(2, 1))
    assert "test/Bad-v0" not in pettingzoo.aec_registry and "test/Bad-v0" not in gymnasium.registry
    with pytest.raises(ValueError, match="unknown env id 'test/Nope-v0'.*test/Taken-v0"):
        minimax.make_vector("test/Nope-v0", 2)
