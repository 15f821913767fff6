"""Bring your own networks and data: a task from a dataset and two modules, without writing a Task subclass.

:class:`DataTask` takes

* ``data``: a torch tensor or a numpy array (the first dimension indexes the samples; a 1-D array
  is N scalar samples, shape ``(N, 1)``), a list of samples, or a ``torch.utils.data.Dataset``. A
  dataset is read once, into memory, through ``len()`` and ``dataset[i]`` for ``i`` in
  ``range(len(dataset))`` (never by iterating until ``IndexError``: many datasets never raise
  it); an item that is a tuple or a list, ``(x, label)``, gives its first element. Samples may
  have any shape: numbers, points, images of any size and channels. They are used as given
  (integers become floats, nothing is rescaled: scale images to the range your generator
  outputs, e.g. [-1, 1] for a tanh).
* ``generator`` and ``discriminator``: an ``nn.Module``, or a zero-argument factory returning one
  (a class, a function). A module is a template: each game gets a copy, and with ``init="reset"``
  (the default) its parameters are drawn afresh by ``reset_parameters()`` on every submodule that
  has one, from the game's seed, as the built-in tasks' are (same seed, same weights);
  ``init="keep"`` starts every game from the module's own weights. A factory is called for each
  game under the game's seed, so its own initialisation is kept and seeded.

The generator maps noise ``(n, noise_dim)`` to samples ``(n, *data_shape)`` (a convolutional one
starts with ``nn.Unflatten(1, (noise_dim, 1, 1))``); the discriminator maps samples to one logit
per sample, ``(n,)``, or ``(n, 1)``, which is squeezed (by a :class:`~minimax.core.layers.Squeeze`
appended to it, a layer N games in lockstep run as a batched kernel). Both are checked on a probe
batch when the task is made. The noise prior is ``"normal"`` (N(0, I)) or ``"uniform"``
(U(-1, 1)^noise_dim, symmetric around 0 like the normal); ``noise_dim`` defaults to the
``in_features`` of the generator's first layer when that is an ``nn.Linear``.

Minibatches are drawn uniformly with replacement from the data, from the game's data stream (as
the image tasks draw theirs). To pickle a task (or an env holding it), its factories must be
picklable: a class or a module-level function, not a lambda.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from minimax.core.layers import Squeeze
from minimax.core.task import Task, draw_rows, symmetric_noise
from minimax.utils.checks import check_choice, check_int

NOISE_PRIORS = ("normal", "uniform")
INITS = ("reset", "keep")
#: How many samples the construction-time probe runs through the networks (2: BatchNorm needs more than 1).
PROBE = 2

NetworkSpec = nn.Module | Callable[[], nn.Module]


# ------------------------------------------------------------------------------------------ data


def _as_tensor(what: str, value: Any) -> torch.Tensor:
    """``value`` as a CPU tensor of floats (integers and bools converted; float16/bfloat16 widened to float32)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
    else:
        try:
            array = np.asarray(value)
        except Exception as error:  # ragged lists, objects numpy cannot read
            raise TypeError(f"{what} must be numbers (a tensor, an array), got {type(value).__name__}: "
                            f"{error}") from None
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise TypeError(f"{what} must be numbers (a tensor, an array), got {type(value).__name__} "
                            f"with dtype {array.dtype}")  # fmt: skip
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise TypeError(f"{what} must be real numbers, got dtype {tensor.dtype}")
    # one copy, always: the task never shares memory with the caller's tensor or array
    return tensor.to(dtype=torch.float64 if tensor.dtype == torch.float64 else torch.float32, copy=True)


def _read_dataset(dataset: Any) -> torch.Tensor:
    """Every item of a map-style dataset, ``dataset[i]`` for i < len(dataset), stacked: ``(N, *sample_shape)``."""
    name = type(dataset).__name__
    try:
        size = len(dataset)
    except TypeError:
        raise TypeError(f"data: the dataset {name} has no __len__; a Dataset is read through len(dataset) and "
                        f"dataset[i] for i < len(dataset) (a map-style dataset); give it __len__, or pass the "
                        f"samples as a tensor or an array") from None  # fmt: skip
    if not hasattr(dataset, "__getitem__"):
        raise TypeError(f"data: the dataset {name} has no __getitem__; a Dataset is read through dataset[i] "
                        f"for i < len(dataset) (a map-style dataset)")  # fmt: skip
    items: list[torch.Tensor] = []
    for i in range(size):
        item = dataset[i]
        if isinstance(item, (tuple, list)):  # (x, label): the sample is the first element
            if not item:
                raise ValueError(f"data: item {i} of the dataset {name} is an empty {type(item).__name__}")
            item = item[0]
        tensor = _as_tensor(f"data: item {i} of the dataset {name}", item)
        if items and tensor.shape != items[0].shape:
            raise ValueError(f"data: the samples must all have one shape; item 0 of the dataset {name} has shape "
                             f"{tuple(items[0].shape)}, item {i} has {tuple(tensor.shape)}")  # fmt: skip
        items.append(tensor)
    if not items:
        return torch.empty(0)
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in items) else torch.float32
    return torch.stack([t.to(dtype) for t in items])


def check_data(data: Any) -> torch.Tensor:
    """The samples as a contiguous CPU float tensor ``(N, *sample_shape)``, or a clear error.

    A tensor or array (or a list of samples) has the samples along its first dimension (1-D: N
    numbers, made ``(N, 1)``); a ``torch.utils.data.Dataset`` is read item by item through ``len()``.
    """
    if isinstance(data, Dataset) and not isinstance(data, torch.Tensor):
        samples = _read_dataset(data)
    elif isinstance(data, (torch.Tensor, np.ndarray, list, tuple)):
        samples = _as_tensor("data", data)
    else:
        raise TypeError(f"data must be a torch tensor, a numpy array or a torch.utils.data.Dataset, "
                        f"got {type(data).__name__}")  # fmt: skip
    if samples.dim() == 0:
        raise ValueError(f"data must hold samples along its first dimension, got a single number ({samples.item()})")
    if samples.dim() == 1:
        samples = samples.unsqueeze(-1)
    if len(samples) < 2:
        raise ValueError(f"data must hold at least 2 samples, got {len(samples)}")
    if 0 in samples.shape[1:]:
        raise ValueError(f"data: each sample must hold at least one number, got sample shape "
                         f"{tuple(samples.shape[1:])}")
    finite = torch.isfinite(samples).reshape(len(samples), -1).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().reshape(-1)
        raise ValueError(f"data must be finite; {len(bad)} of {len(samples)} samples are not (first: sample "
                         f"{int(bad[0])})")  # fmt: skip
    return samples.contiguous()


# ------------------------------------------------------------------------------------------ networks


def reset_parameters(module: nn.Module) -> nn.Module:
    """Draw ``module``'s parameters afresh: ``reset_parameters()`` on every submodule that has it (in module order)."""
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
    return module


def _unreset(module: nn.Module) -> list[str]:
    """The names of the parameters that ``reset_parameters`` leaves as they are (no owning submodule resets them)."""
    covered = set()
    for sub in module.modules():
        if callable(getattr(sub, "reset_parameters", None)):
            covered |= {id(p) for p in sub.parameters()}
    return [name for name, p in module.named_parameters() if id(p) not in covered]


def _check_module(role: str, module: Any, origin: str) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"{role} {origin} must be an nn.Module, got {type(module).__name__}")
    params = list(module.named_parameters())
    if not params:
        raise ValueError(f"{role} ({type(module).__name__}) has no parameters: a player moves its parameters")
    for name, p in params:
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise ValueError(f"{role} ({type(module).__name__}) has an uninitialised (lazy) parameter {name!r}; "
                             f"run it once on a batch first, or give its layers their sizes")  # fmt: skip
        if not p.dtype.is_floating_point:
            raise TypeError(f"{role} parameter {name!r} must be floating point, got {p.dtype}")
    return module


def _noise_dim(generator: nn.Module) -> int | None:
    """The ``in_features`` of the generator's first torch.nn layer with parameters when it is an ``nn.Linear``.

    None when another layer (a convolution, a normalisation) comes first. Parameters that a custom
    module holds itself (a learnt offset) are not a layer, and are passed over.
    """
    for sub in generator.modules():
        if type(sub).__module__.startswith("torch.nn.") and any(True for _ in sub.parameters(recurse=False)):
            return sub.in_features if isinstance(sub, nn.Linear) else None
    return None


def _dtype_of(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


class DataTask(Task):
    """A task from your data and your two networks (see the module docstring).

    ``data``: tensor, array or Dataset of samples; ``generator``, ``discriminator``: modules or
    zero-argument factories; ``noise_dim``: the noise size (default: the generator's first Linear's
    input size); ``noise``: ``"normal"`` or ``"uniform"`` (U(-1, 1)); ``init``: ``"reset"`` (a
    module's weights re-drawn from each game's seed) or ``"keep"`` (every game starts from the
    module's weights); ``batch_size``: samples per minibatch; ``name``: for tables and logs.
    """

    name = "DataTask"

    def __init__(
        self,
        data: Any,
        generator: NetworkSpec,
        discriminator: NetworkSpec,
        noise_dim: int | None = None,
        noise: str = "normal",
        batch_size: int = 64,
        init: str = "reset",
        name: str = "DataTask",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.noise = check_choice("noise prior", noise, NOISE_PRIORS)
        self.init = check_choice("init", init, INITS)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.data = check_data(data)
        self.data_shape: tuple[int, ...] = tuple(self.data.shape[1:])
        self._on_device: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}
        self._generator, g_probe = self._network("generator", generator)
        self._discriminator, d_probe = self._network("discriminator", discriminator)
        inferred = _noise_dim(g_probe)
        self._inferred = noise_dim is None  # for the probe's message
        if noise_dim is None:
            if inferred is None:
                raise ValueError(f"noise_dim is needed: the generator's ({type(g_probe).__name__}) first layer with "
                                 f"parameters is not an nn.Linear, whose in_features would give it")  # fmt: skip
            noise_dim = inferred
        self.noise_dim = check_int("noise_dim", noise_dim, minimum=1)
        self._squeeze = False
        self._probe(g_probe, d_probe)

    # ------------------------------------------------------------------ construction

    def _network(self, role: str, spec: Any) -> tuple[nn.Module | Callable[[], nn.Module], nn.Module]:
        """What to build ``role`` from (a CPU template copy, or the factory) and one module to probe."""
        if isinstance(spec, nn.Module):
            template = copy.deepcopy(_check_module(role, spec, "module")).cpu()
            if self.init == "reset":
                kept = _unreset(template)
                if kept:
                    warnings.warn(f"{role}: no submodule's reset_parameters() covers {kept}; with init='reset' "
                                  f"these keep the given values in every game", UserWarning, stacklevel=3)  # fmt: skip
            return template, copy.deepcopy(template)
        if callable(spec):
            with torch.random.fork_rng(devices=[]):  # building the probe leaves the caller's RNG as it was
                torch.manual_seed(0)
                built = spec()
            return spec, _check_module(role, built, f"factory {getattr(spec, '__name__', spec)!r}() result").cpu()
        raise TypeError(f"{role} must be an nn.Module or a zero-argument factory returning one, "
                        f"got {type(spec).__name__}")  # fmt: skip

    def _probe(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Run both networks on a probe batch: the generator must give ``(n, *data_shape)``, the discriminator
        ``(n,)`` (or ``(n, 1)``, squeezed from then on)."""
        n = PROBE
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            noise = torch.randn(n, self.noise_dim, dtype=_dtype_of(generator))
            try:
                fake = generator(noise)
            except Exception as error:
                origin = ", from its first nn.Linear; give noise_dim= if it is not the input" if self._inferred else ""
                raise ValueError(f"the generator ({type(generator).__name__}) failed on noise of shape "
                                 f"{tuple(noise.shape)} (noise_dim={self.noise_dim}{origin}): {type(error).__name__}: "
                                 f"{error}") from error  # fmt: skip
            want = (n, *self.data_shape)
            if not isinstance(fake, torch.Tensor) or tuple(fake.shape) != want:
                raise ValueError(f"the generator ({type(generator).__name__}) must map noise {tuple(noise.shape)} to "
                                 f"samples of the data's shape {want}, got {_shape(fake)}"
                                 + (" (end it with nn.Unflatten(1, data_shape))" if isinstance(fake, torch.Tensor)
                                    and fake.numel() == n * int(np.prod(self.data_shape)) else ""))  # fmt: skip
            real = self.data[:n].to(_dtype_of(discriminator))
            try:
                logits = discriminator(real)
            except Exception as error:
                raise ValueError(f"the discriminator ({type(discriminator).__name__}) failed on data of shape "
                                 f"{tuple(real.shape)}: {type(error).__name__}: {error}") from error  # fmt: skip
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) not in ((n,), (n, 1)):
            raise ValueError(f"the discriminator ({type(discriminator).__name__}) must return one logit per sample, "
                             f"shape ({n},) (or ({n}, 1)) for {n} samples {tuple(real.shape)}, got {_shape(logits)}")
        self._squeeze = logits.dim() == 2
        if self._squeeze and isinstance(self._discriminator, nn.Module):
            self._discriminator = self._squeezed(self._discriminator)

    @staticmethod
    def _squeezed(module: nn.Module) -> nn.Sequential:
        """``module`` followed by a Squeeze: (n, 1) -> (n,); a plain Sequential is extended, keeping its names."""
        layers = list(module) if type(module) is nn.Sequential else [module]
        return nn.Sequential(*layers, Squeeze())

    # ------------------------------------------------------------------ Task

    def _build(self, spec: nn.Module | Callable[[], nn.Module]) -> nn.Module:
        if isinstance(spec, nn.Module):
            module = copy.deepcopy(spec)
            return reset_parameters(module) if self.init == "reset" else module
        return spec()

    def build_generator(self) -> nn.Module:
        return self._build(self._generator)

    def build_discriminator(self) -> nn.Module:
        module = self._build(self._discriminator)
        if self._squeeze and not isinstance(self._discriminator, nn.Module):
            module = self._squeezed(module)
        return module

    def samples(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """All the data on ``device`` in ``dtype``, kept once per device and dtype (shared by a game's copies)."""
        key = (torch.empty(0, device=device).device, dtype)
        if key not in self._on_device:
            self._on_device[key] = self.data.to(device=key[0], dtype=dtype)
        return self._on_device[key]

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return draw_rows(self.samples(device, dtype), n, rng)

    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return symmetric_noise(self.noise, n, self.noise_dim, rng, device, dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __copy__(self) -> "DataTask":
        """A shallow copy (a game's copy for game i) sharing the data and its device copies."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the device copies of the data (rebuilt on first use)."""
        return {**self.__dict__, "_on_device": {}}

    def describe(self) -> dict[str, object]:
        def what(spec: Any) -> str:
            return type(spec).__name__ if isinstance(spec, nn.Module) else getattr(spec, "__name__", repr(spec))

        return {
            **super().describe(), "samples": len(self), "data_shape": self.data_shape, "noise": self.noise,
            "init": self.init, "generator": what(self._generator), "discriminator": what(self._discriminator),
        }  # fmt: skip
