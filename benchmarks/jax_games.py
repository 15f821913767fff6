"""The JAX + Optax peers of the speed benchmark: the same games, written plainly as a JAX user would.

Optional: needs ``jax`` and ``optax`` (``pip install -e .[speed]``); nothing else imports this module.
Each game does the work of one iteration of the minimax run it is compared with, as
:mod:`benchmarks.eager` does in PyTorch: the same networks (PyTorch's default initialisation),
batch, schedule, non-saturating loss and Adam. One iteration is one ``jax.jit``-compiled step
(its own random draws included); N games are ``jax.jit(jax.vmap(step))`` over stacked states.
``make_*`` returns ``run(iterations)``, which blocks until the work is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax


def _linear(key: jax.Array, fan_in: int, fan_out: int) -> dict[str, jax.Array]:
    """PyTorch's nn.Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    bound = 1.0 / fan_in**0.5
    kw, kb = jax.random.split(key)
    return {"w": jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
            "b": jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)}  # fmt: skip


def _mlp_1d(key: jax.Array, hidden: int) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, 3)
    return [_linear(keys[0], 1, hidden), _linear(keys[1], hidden, hidden), _linear(keys[2], hidden, 1)]


def _tanh_mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _normal1d_step(hidden: int, batch: int) -> tuple[Callable, Callable]:
    """(init(seed) -> state, step(state) -> state) of Algorithm 1 with k = 1 on N(4, 1.25^2) from uniform noise."""
    tx = optax.adam(1e-3, b1=0.5, b2=0.999)

    def init(seed: jax.Array) -> dict[str, Any]:
        kg, kd, key = jax.random.split(jax.random.PRNGKey(seed), 3)
        g, d = _mlp_1d(kg, hidden), _mlp_1d(kd, hidden)
        return {"g": g, "d": d, "opt_g": tx.init(g), "opt_d": tx.init(d), "key": key}

    def d_loss(d, g, real, z):
        fake = jax.lax.stop_gradient(_tanh_mlp(g, z))
        return jnp.mean(jax.nn.softplus(-_tanh_mlp(d, real))) + jnp.mean(jax.nn.softplus(_tanh_mlp(d, fake)))

    def g_loss(g, d, z):
        return jnp.mean(jax.nn.softplus(-_tanh_mlp(d, _tanh_mlp(g, z))))

    def step(state: dict[str, Any]) -> dict[str, Any]:
        key, k_real, k_z, k_z2 = jax.random.split(state["key"], 4)
        real = 4.0 + 1.25 * jax.random.normal(k_real, (batch, 1))
        grads = jax.grad(d_loss)(state["d"], state["g"], real, jax.random.uniform(k_z, (batch, 1)))
        updates, opt_d = tx.update(grads, state["opt_d"], state["d"])
        d = optax.apply_updates(state["d"], updates)
        grads = jax.grad(g_loss)(state["g"], d, jax.random.uniform(k_z2, (batch, 1)))
        updates, opt_g = tx.update(grads, state["opt_g"], state["g"])
        return {"g": optax.apply_updates(state["g"], updates), "d": d, "opt_g": opt_g, "opt_d": opt_d, "key": key}

    return init, step


# ------------------------------------------------------------------------------------------- MNIST


def _mnist_networks(key: jax.Array) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's MLPs: G 100-256-512-1024-784 (LeakyReLU 0.2, BatchNorm, tanh), D 784-512-256-1."""
    keys = iter(jax.random.split(key, 8))
    g_layers, width = [], 100
    for h in (256, 512, 1024):
        g_layers.append({**_linear(next(keys), width, h), "gamma": jnp.ones(h), "beta": jnp.zeros(h)})
        width = h
    g = {"hidden": g_layers, "out": _linear(next(keys), width, 784)}
    g_stats = [{"mean": jnp.zeros(h), "var": jnp.ones(h)} for h in (256, 512, 1024)]
    d = [_linear(next(keys), 784, 512), _linear(next(keys), 512, 256), _linear(next(keys), 256, 1)]
    return {"g": g, "d": d}, {"g_stats": g_stats}


def _generator(g, stats, z, train: bool, momentum: float = 0.2, eps: float = 1e-3):
    """G on noise ``z``; in train mode BatchNorm uses the batch's statistics and updates the running ones."""
    x, new_stats = z, []
    for layer, s in zip(g["hidden"], stats):
        x = jax.nn.leaky_relu(x @ layer["w"] + layer["b"], 0.2)
        if train:
            mean, var = x.mean(0), x.var(0)
            n = x.shape[0]
            s = {"mean": (1 - momentum) * s["mean"] + momentum * mean,
                 "var": (1 - momentum) * s["var"] + momentum * var * n / (n - 1)}  # fmt: skip
        else:
            mean, var = s["mean"], s["var"]
        new_stats.append(s)
        x = (x - mean) / jnp.sqrt(var + eps) * layer["gamma"] + layer["beta"]
    return jnp.tanh(x @ g["out"]["w"] + g["out"]["b"]), new_stats


def _discriminator(d, x):
    for layer in d[:-1]:
        x = jax.nn.leaky_relu(x @ layer["w"] + layer["b"], 0.2)
    return x @ d[-1]["w"] + d[-1]["b"]


def _mnist_step(images: jax.Array, batch: int) -> tuple[Callable, Callable]:
    """The report's Keras update: D on a real half batch, D on a generated half batch (G in inference
    mode), then G on a full batch; Adam(2e-4, 0.5) for both."""
    tx = optax.adam(2e-4, b1=0.5, b2=0.999)
    half = batch // 2

    def init(seed: jax.Array) -> dict[str, Any]:
        key, sub = jax.random.split(jax.random.PRNGKey(seed))
        nets, stats = _mnist_networks(sub)
        return {**nets, **stats, "opt_g": tx.init(nets["g"]), "opt_d": tx.init(nets["d"]), "key": key}

    def d_loss(d, x, target):
        return jnp.mean(optax.sigmoid_binary_cross_entropy(_discriminator(d, x), target))

    def g_loss(g, stats, d, z):
        fake, stats = _generator(g, stats, z, train=True)
        return jnp.mean(optax.sigmoid_binary_cross_entropy(_discriminator(d, fake), 1.0)), stats

    def step(state: dict[str, Any]) -> dict[str, Any]:
        key, k_idx, k_z, k_z2 = jax.random.split(state["key"], 4)
        real = images[jax.random.randint(k_idx, (half,), 0, images.shape[0])]
        d, opt_d = state["d"], state["opt_d"]
        updates, opt_d = tx.update(jax.grad(d_loss)(d, real, 1.0), opt_d, d)
        d = optax.apply_updates(d, updates)
        fake, _ = _generator(state["g"], state["g_stats"], jax.random.normal(k_z, (half, 100)), train=False)
        updates, opt_d = tx.update(jax.grad(d_loss)(d, fake, 0.0), opt_d, d)
        d = optax.apply_updates(d, updates)
        grads, g_stats = jax.grad(g_loss, has_aux=True)(state["g"], state["g_stats"], d, jax.random.normal(k_z2, (batch, 100)))
        updates, opt_g = tx.update(grads, state["opt_g"], state["g"])
        return {"g": optax.apply_updates(state["g"], updates), "d": d, "g_stats": g_stats,
                "opt_g": opt_g, "opt_d": opt_d, "key": key}  # fmt: skip

    return init, step


# ------------------------------------------------------------------------------------------- runners


def _runner(init: Callable, step: Callable, games: int, seed: int) -> Callable[[int], None]:
    """``run(iterations)`` for one game (jit) or ``games`` games (jit of vmap), compiled on first use."""
    if games == 1:
        state, fn = init(seed), jax.jit(step)
    else:
        state, fn = jax.vmap(init)(jnp.arange(seed, seed + games)), jax.jit(jax.vmap(step))
    holder = {"state": state}

    def run(iterations: int) -> None:
        s = holder["state"]
        for _ in range(iterations):
            s = fn(s)
        jax.block_until_ready(s)
        holder["state"] = s

    return run


def make_normal1d(hidden: int, batch: int, games: int = 1, seed: int = 0) -> Callable[[int], None]:
    return _runner(*_normal1d_step(hidden, batch), games, seed)


def make_mnist(images: Any, batch: int, games: int = 1, seed: int = 0) -> Callable[[int], None]:
    """``images``: (n, 28, 28) uint8; scaled to [-1, 1] as the report does."""
    pixels = jnp.asarray(images, dtype=jnp.float32).reshape(len(images), -1) / 127.5 - 1.0
    return _runner(*_mnist_step(pixels, batch), games, seed)
