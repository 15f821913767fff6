"""The convergence atlas end to end (short runs): every anchor line is run, predicted and judged."""

from __future__ import annotations

import json

from benchmarks import convergence


def test_convergence_atlas_writes_its_results(tmp_path, capsys) -> None:
    out = tmp_path / "atlas"
    result = convergence.main(["--steps", "40", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert "Convergence atlas:" in printed and "| Dirac-GAN | simultaneous GD + R1 (gamma 1) |" in printed
    for name in ("results.md", "results.json", "dirac_portraits.png", "bilinear_trajectories.png", "spectral_radius.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert len(data["atlas"]) == len(convergence.atlas()) == len(result["results"])
    by_rule = {(r["game"], r["rule"]): r for r in data["atlas"]}
    # Predictions do not depend on the run length: the closed forms of ../shared/ANCHORS.md.
    assert abs(by_rule[("Dirac-GAN", "simultaneous GD")]["radius"] - abs(complex(1, 0.2 * 0.5))) < 1e-9
    assert abs(by_rule[("xy", "simultaneous GD")]["radius"] - (1 + 0.1**2) ** 0.5) < 1e-9
    assert by_rule[("alpha = 6", "CGD")]["predicted"] == "converges"
    assert by_rule[("alpha = 6", "simultaneous GDA")]["observed"] == "diverges"


def test_game_aware_rules_on_tiny_mnist(tmp_path, monkeypatch) -> None:
    """The MNIST part of the atlas runs every game-aware rule end to end (tiny data, two iterations)."""
    import numpy as np
    import pytest

    from minimax.datasets import write_idx

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (40, 28, 28)).astype(np.uint8))
    write_idx(data / "t10k-labels-idx1-ubyte.gz", (np.arange(40) % 10).astype(np.uint8))
    monkeypatch.setenv("MINIMAX_MNIST_DIR", str(data))
    monkeypatch.setenv("MINIMAX_CACHE", str(tmp_path / "cache"))
    args = convergence.parse_args(["--mnist", "2", "--no-download", "--no-progress"])
    with pytest.warns(UserWarning):
        table, results = convergence.mnist_rules(args)
    rules = [r for r in results if r["rule"] != "floor"]
    assert len(rules) == len(convergence.mnist_rule_set()) and all(not r["diverged"] for r in rules)
    assert {r["schedule"] for r in rules} == {"simultaneous", "alternating:k=1"}
    for name in ("CGD (0.01, ≤ 10 conjugate-gradient iterations)", "SGA + RMSProp", "extrapolation from the past (0.01)",
                 "alternating negative momentum (Adam β₁ −0.5)", "Adam, G judged by its EMA 0.999", "| floor: real vs real"):
        assert name in table, name


def test_an_averaged_generator_is_what_gets_judged() -> None:
    """play() returns the average the generator's rule kept, and it differs from the last iterate."""
    import torch

    rule = convergence.NeuralRule("ema", convergence.averaged_pair("sgd", 0.5, lr=0.05))
    env, history, average = convergence.play(rule, "minimax/Normal1D-v0", 5, 0, False, hidden=4, batch_size=16)
    live = env.game.parameters("generator")[0]  # the lone game
    assert history.iterations == 5 and average is not None and average.shape == live.shape
    assert not torch.equal(average, live)
    plain = convergence.NeuralRule("plain", convergence.pair("sgd", lr=0.05))
    assert convergence.play(plain, "minimax/Normal1D-v0", 2, 0, False, hidden=4, batch_size=16)[2] is None


def test_the_neural_table_runs_every_rule_with_its_seeds_in_lockstep() -> None:
    import warnings

    args = convergence.parse_args(["--neural", "--neural-iterations", "3", "--seeds", "2", "--no-progress"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table, results = convergence.neural(args)
    assert len(results) == len(convergence.neural_rules())
    assert all(len(r["w1"]) == 2 for r in results)
    assert "each seed's share" in table and "| CGD (0.05, conjugate gradient) |" in table
