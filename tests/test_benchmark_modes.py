"""The mode-collapse benchmark end to end on tiny settings, and its RMSProp-scaled joint rules."""

from __future__ import annotations

import json

import numpy as np
import pettingzoo
import pytest
import torch

import agents
from benchmarks import modes

TINY = ["--hidden", "4", "--d-hidden", "4", "--depth", "2", "--d-depth", "2", "--batch-size", "32"]


def test_modes_benchmark_writes_its_results(tmp_path, capsys) -> None:
    out = tmp_path / "modes"
    result = modes.main(["--methods", "pacgan2", "consensus", "--seeds", "2", "--iterations", "6", "--samples", "300",
                         "--evaluations", "2", "--snapshots", "0.5", "1", "--workers", "1", "--out", str(out),
                         "--no-progress", *TINY])  # fmt: skip
    printed = capsys.readouterr().out
    assert "| PacGAN2 (GAN, pack=2) | " in printed and "| floor (target sample) | 8 | — | 8 |" in printed
    assert "| 7.9 |" in printed and "| all 8 (fig.) |" in printed  # published numbers next to ours
    assert "| 95.6 |" in printed and "| 0.07 |" in printed  # PacGAN2: high quality % and reverse KL
    for name in ("results.json", "results.md", "samples_ring8.png", "coverage_ring8.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 2 * 2 and {r["method"] for r in data["runs"]} == {"pacgan2", "consensus"}
    assert data["methods"]["pacgan2"]["pack"] == 2
    assert data["methods"]["consensus"]["schedule"].startswith("simultaneous")
    run = data["runs"][0]
    assert run["iterations"] == 6 and run["curve"]["iteration"] == [0, 3, 6]
    assert run["final"]["samples"] == 300 and 0 <= run["final"]["modes_covered"] <= 8
    assert run["curve"]["modes_covered"][-1] == run["final"]["modes_covered"]
    for s in data["summary"]:  # the table's means are the runs' means
        finals = [r["final"]["modes_covered"] for r in data["runs"] if r["method"] == s["method"]]
        assert s["modes_covered_mean"] == pytest.approx(np.mean(finals))
    assert all(f["modes_covered"] == 8 for f in data["floor"]["ring8"])
    snapshots = result["runs"][0]["samples"]
    assert sorted(snapshots) == [0, 3, 6] and snapshots[6].shape == (300, 2)


def test_modes_benchmark_refuses_unknown_methods() -> None:
    with pytest.raises(SystemExit):
        modes.parse_args(["--methods", "gan", "wgan"])
    args = modes.parse_args(["--full"])
    assert args.seeds == 10 and args.lr == 1e-4 and set(args.task) == {"ring8", "grid25", "grid16"}
    assert len(args.methods) == 13 and modes.iterations_for(args, "grid25") == 400_000
    assert {"pacgan3", "pacgan4"} <= set(args.methods)


def test_the_4x4_grid_runs_sgas_claim_rmsprop_against_sga(tmp_path, capsys) -> None:
    """Grid16 is the grid env with side 4 (16 modes at {-3, -1, 1, 3}^2); rmsprop and sga sit next to the paper's figure."""
    out = tmp_path / "grid16"
    modes.main(["--task", "grid16", "--methods", "rmsprop", "sga", "--seeds", "1", "--iterations", "4", "--samples",
                "200", "--evaluations", "1", "--snapshots", "1", "--workers", "1", "--out", str(out), "--no-progress",
                *TINY])  # fmt: skip
    printed = capsys.readouterr().out
    assert "| floor (target sample) | 16 | — | 16 |" in printed
    assert "| a few (fig.) |" in printed and "| all 16 (fig.) |" in printed
    data = json.loads((out / "results.json").read_text())
    assert all(f["modes_covered"] == 16 for f in data["floor"]["grid16"])
    assert {r["method"] for r in data["runs"]} == {"rmsprop", "sga"} and all(r["iterations"] == 4 for r in data["runs"])
    target = pettingzoo.make("aec", modes.TASKS["grid16"], view="torch", **modes.env_options("grid16", {})).game.task
    assert sorted(set(target.centers[:, 0].tolist())) == [-3.0, -1.0, 1.0, 3.0]
    assert (out / "samples_grid16.png").stat().st_size > 0


def test_rms_scaled_consensus_is_rmsprop_on_the_consensus_direction() -> None:
    env = pettingzoo.make("parallel", "minimax/Ring8-v0", view="torch", hidden=4, depth=2, batch_size=16, noise_dim=2)
    observations, _ = env.reset(seed=0)
    field = env.field()
    rule = modes.RMSScaled(agents.make("consensus", lr=1.0, gamma=10.0), lr=1e-3)
    delta = rule.act(observations, field)
    xi = field()
    grad_h = field.vjp(xi)
    for p in ("discriminator", "generator"):
        direction = xi[p] + 10.0 * grad_h[p]
        rms = agents.make("rmsprop", lr=1e-3)
        params = observations[p]["parameters"]
        expected, _ = rms.update(direction, rms.init(params), params)
        torch.testing.assert_close(delta[p], expected)
        assert (torch.sign(delta[p]) == -torch.sign(direction))[direction != 0].all()  # a descent step


def test_extra_rmsprop_steps_from_the_extrapolated_point() -> None:
    env = pettingzoo.make("parallel", "minimax/Ring8-v0", view="torch", hidden=4, depth=2, batch_size=16, noise_dim=2)
    observations, _ = env.reset(seed=0)
    field = env.field()
    delta = modes.ExtraRMSprop(lr=1e-3).act(observations, field)
    theta = {p: observations[p]["parameters"].clone() for p in ("discriminator", "generator")}
    rms = {p: agents.make("rmsprop", lr=1e-3) for p in theta}
    xi = field(theta)
    states = {p: rms[p].init(theta[p]) for p in theta}
    half = {}
    for p in theta:
        step, states[p] = rms[p].update(xi[p], states[p], theta[p])
        half[p] = theta[p] + step
    xi_half = field(half)
    for p in theta:
        expected, _ = rms[p].update(xi_half[p], states[p], theta[p])
        torch.testing.assert_close(delta[p], expected)
        assert not torch.equal(delta[p], rms[p].update(xi[p], rms[p].init(theta[p]), theta[p])[0])


def test_a_checkpointed_study_stopped_by_its_hours_resumes_to_the_uninterrupted_one(tmp_path, monkeypatch, capsys) -> None:
    import itertools

    common = ["--methods", "gan", "ns", "consensus", "--seeds", "2", "--iterations", "8", "--samples", "200",
              "--evaluations", "4", "--snapshots", "0.5", "1", "--no-progress", *TINY]  # fmt: skip
    whole = modes.main([*common, "--out", str(tmp_path / "whole")])
    out = str(tmp_path / "sittings")
    clock = itertools.count()  # each reading of the clock one second later: the deadline falls within the first group
    with monkeypatch.context() as patch:
        patch.setattr(modes.time, "time", lambda: float(next(clock)))
        first = modes.main([*common, "--out", out, "--checkpoint-every", "2", "--hours", str(12 / 3600)])
    reached = {r["iterations"] for r in first["unfinished"]}
    assert first["unfinished"] and max(reached) < 8 and "Not finished (checkpointed" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="pass --resume"):
        modes.main([*common, "--out", out, "--checkpoint-every", "2"])
    again = modes.main([*common, "--out", out, "--checkpoint-every", "2", "--resume"])
    assert again["unfinished"] == [] and len(again["runs"]) == len(whole["runs"]) == 6
    assert any(r["resumed_at"] for r in again["runs"])
    for mine, theirs in zip(sorted(again["runs"], key=lambda r: (r["method"], r["seed"])),
                            sorted(whole["runs"], key=lambda r: (r["method"], r["seed"]))):  # fmt: skip
        assert mine["curve"] == theirs["curve"] and mine["final"] == theirs["final"]
        assert sorted(mine["samples"]) == sorted(theirs["samples"])
        assert all(np.array_equal(mine["samples"][i], theirs["samples"][i]) for i in mine["samples"])


def test_modes_benchmark_refuses_hours_without_checkpoints(capsys) -> None:
    with pytest.raises(SystemExit):
        modes.parse_args(["--hours", "1"])
    assert "--hours stops the groups where they are" in capsys.readouterr().err
