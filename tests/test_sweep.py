"""Sweeps (issue 7): grid expansion and naming; a local sweep whose worker is SIGKILLed mid-run completes,
the killed run resumes from its checkpoint (bitwise), the table is merged; a restart skips finished runs;
the same on a local Ray."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from minimax import cli, sweep
from minimax import runs as run_layer
from minimax.training import runlog

TASK = "Normal1D:hidden=4,d_hidden=4"
TRAIN_ARGS = ["--checkpoint-every", "10"]
ITERATIONS = 50


def _grid(**extra):
    return {"tasks": [TASK], "rules": ["adam:lr=1e-3", "sgd:lr=0.01"], "schedules": ["alternating:k=1", "alternating:k=2"],
            "seeds": [0], "iterations": ITERATIONS, "train_args": TRAIN_ARGS, **extra}  # fmt: skip


def _rows(directory: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in runlog.read_rows(directory / runlog.JSONL)]


def test_expand_names_and_run_specs(tmp_path):
    spec = sweep.SweepSpec.from_dict({**_grid(seeds=[0, 3]), "rules": ["adam:lr=1e-3", "sgd:lr=0.01",
                                                                          {"joint": "extragradient:lr=0.1"}]})
    runs = sweep.expand(spec, tmp_path)
    # 2 single-player rules x 2 schedules x 2 seeds, and the joint rule (no schedule) x 2 seeds
    assert len(runs) == 2 * 2 * 2 + 2
    names = [r["name"] for r in runs]
    assert len(set(names)) == len(names)
    assert names[0] == "Normal1D_hidden4_d_hidden4-adam_lr1e-3-alternating_k1-seed0"
    assert names[-1] == "Normal1D_hidden4_d_hidden4-joint_extragradient_lr0.1-default-seed3"
    assert names == [r["name"] for r in sweep.expand(spec, tmp_path)]  # deterministic
    first = runs[0]
    assert first["dir"] == str(tmp_path / first["name"])
    # the run spec is the one 'minimax train' builds (same keys, same values)
    s = first["spec"]
    assert (s["task"], s["schedule"], s["discriminator"], s["generator"], s["seed"], s["iterations"],
            s["checkpoint_every"], s["threads"]) == ("minimax/Normal1D-v0", "alternating:k=1", "adam:lr=1e-3",
                                                     "adam:lr=1e-3", 0, ITERATIONS, 10, 1)  # fmt: skip
    assert s["task_options"] == ["hidden=4,d_hidden=4"] and s["minimax_run"] == run_layer.RUN_SPEC_VERSION
    assert runs[-1]["spec"]["env"] == "parallel" and runs[-1]["spec"]["joint"] == "extragradient:lr=0.1"
    assert not any(tmp_path.iterdir())  # expanding writes nothing
    with pytest.raises(sweep.SweepError, match="run Normal1D.*sgd.*lr must be"):
        sweep.expand(sweep.SweepSpec.from_dict({**_grid(), "rules": ["sgd:lr=-1"]}), tmp_path)
    with pytest.raises(sweep.SweepError, match="unknown sweep spec key"):
        sweep.SweepSpec.from_dict({"tasks": [TASK], "seed": [1]})


def test_ray_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(sweep.SweepError, match="--backend ray needs Ray: pip install ray"):
        sweep.sweep(_grid(), tmp_path, backend="ray")


@pytest.fixture(scope="module")
def killed_sweep(tmp_path_factory):
    """A local sweep of 4 runs on 2 workers; one run SIGKILLs its worker after its checkpoint at 20."""
    out = tmp_path_factory.mktemp("sweep")
    runs = sweep.expand(sweep.SweepSpec.from_dict(_grid()), out)
    victim = runs[1]["name"]
    flag = out.parent / "killed.flag"
    mp = pytest.MonkeyPatch()
    mp.setenv(sweep.KILL_HOOK, f"{victim}@20@{flag}")
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            rows = sweep.sweep(_grid(), out, workers=2, retries=2)
    finally:
        mp.undo()
    return out, runs, victim, flag, rows, said.getvalue()


def test_local_sweep_merges_one_row_per_run(killed_sweep):
    out, runs, _, _, rows, _ = killed_sweep
    assert [r["name"] for r in rows] == [r["name"] for r in runs] and len(rows) == 4
    assert all(r["status"] == "finished" and r["iterations"] == ITERATIONS for r in rows)
    assert all(r["w1"] is not None and r["w1"] > 0 for r in rows)
    merged = json.loads((out / sweep.SWEEP_JSON).read_text())
    assert len(merged["runs"]) == 4 and merged["backend"] == "local"
    table = (out / sweep.SWEEP_MD).read_text().splitlines()
    assert sum(line.startswith("| Normal1D") for line in table) == 4
    assert "W1" in table[2] and "value (last / mean last 10%)" in table[2]


def test_killed_worker_run_resumes_from_its_checkpoint(killed_sweep, tmp_path):
    out, runs, victim, flag, rows, said = killed_sweep
    assert flag.exists()  # the worker really was killed
    attempts = [json.loads(line) for line in (out / victim / sweep.ATTEMPTS).read_text().splitlines()]
    assert [a["command"] for a in attempts] == ["train", "resume"]
    assert attempts[1]["start_iteration"] == 20 and attempts[0]["pid"] != attempts[1]["pid"]
    assert {r["name"]: r["attempts"] for r in rows}[victim] == 2
    # the kill cost only the victim's run: every other run finished in its one attempt, in its own process
    others = [r for r in runs if r["name"] != victim]
    assert all(len((Path(r["dir"]) / sweep.ATTEMPTS).read_text().splitlines()) == 1 for r in others)
    assert {r["name"]: r["attempts"] for r in rows if r["name"] != victim} == {r["name"]: 1 for r in others}
    # and the messages number the attempts as the attempt log and the table do
    assert f"{victim}: attempt 1 failed (its worker process died (killed by SIGKILL)); retrying it as attempt 2" in said
    assert f"{victim}: finished (attempt 2)" in said and "retrying 6" not in said
    # bitwise: the same run, uninterrupted, writes the same rows
    run = next(r for r in runs if r["name"] == victim)
    argv = [a if a != run["dir"] else str(tmp_path / "clean") for a in run["argv"]]
    assert cli.main([*argv, "--no-progress"]) == 0
    assert _rows(out / victim) == _rows(tmp_path / "clean")


def test_restart_skips_finished_runs(killed_sweep, capfd):
    out, runs, _, _, _, _ = killed_sweep
    before = {r["name"]: ((Path(r["dir"]) / sweep.ATTEMPTS).read_text(), (Path(r["dir"]) / "summary.json").stat().st_mtime_ns)
              for r in runs}  # fmt: skip
    rows = sweep.sweep(_grid(), out, workers=2)
    assert "4 of 4 runs already finished" in capfd.readouterr().err
    after = {r["name"]: ((Path(r["dir"]) / sweep.ATTEMPTS).read_text(), (Path(r["dir"]) / "summary.json").stat().st_mtime_ns)
             for r in runs}  # fmt: skip
    assert after == before and len(rows) == 4


def test_restart_continues_an_unfinished_run(tmp_path):
    """A run interrupted before the sweep came back (a partial directory) is resumed, not restarted."""
    grid = {**_grid(), "rules": ["adam:lr=1e-3"], "schedules": ["alternating:k=1"]}
    (run,) = sweep.expand(sweep.SweepSpec.from_dict(grid), tmp_path)
    argv = [a if a != str(ITERATIONS) else "30" for a in run["argv"]]  # the same run, stopped at 30
    assert cli.main([*argv, "--no-progress"]) == 0
    spec = json.loads((Path(run["dir"]) / "run.json").read_text())
    spec["iterations"] = ITERATIONS  # as if it had been killed at 30 of 50
    (Path(run["dir"]) / "run.json").write_text(json.dumps(spec))
    (Path(run["dir"]) / "summary.json").unlink()
    assert sweep.run_status(run["dir"]) == "partial"
    (row,) = sweep.sweep(grid, tmp_path)
    assert row["status"] == "finished" and row["iterations"] == ITERATIONS
    (attempt,) = [json.loads(line) for line in (Path(run["dir"]) / sweep.ATTEMPTS).read_text().splitlines()]
    assert attempt["command"] == "resume" and attempt["start_iteration"] == 30


def test_cli_sweep_grid_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli.main(["sweep", "--out", str(out), "--task", TASK, "--rule", "adam:lr=1e-3", "--seeds", "0", "1",
                   "--iterations", "10", "--workers", "2"])  # fmt: skip
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(out / sweep.SWEEP_MD)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "Normal1D_hidden4_d_hidden4-adam_lr1e-3-default-seed0", "Normal1D_hidden4_d_hidden4-adam_lr1e-3-default-seed1"]


def test_ray_sweep_survives_a_killed_worker(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")
    grid = {**_grid(), "schedules": ["alternating:k=1"]}
    runs = sweep.expand(sweep.SweepSpec.from_dict(grid), tmp_path)
    victim = runs[0]["name"]
    flag = tmp_path / "killed.flag"
    monkeypatch.setenv(sweep.KILL_HOOK, f"{victim}@20@{flag}")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = sweep.sweep(grid, tmp_path, backend="ray", workers=2, retries=2)
    finally:
        ray.shutdown()
    assert flag.exists()  # the task's worker process SIGKILLed itself once
    assert len(rows) == 2 and all(r["status"] == "finished" and r["iterations"] == ITERATIONS for r in rows)
    attempts = [json.loads(line) for line in (tmp_path / victim / sweep.ATTEMPTS).read_text().splitlines()]
    assert [a["command"] for a in attempts] == ["train", "resume"] and attempts[1]["start_iteration"] == 20
    assert json.loads((tmp_path / sweep.SWEEP_JSON).read_text())["backend"] == "ray"
