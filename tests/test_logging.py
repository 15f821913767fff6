"""Pictures in the run log (train(image_every=)) and Weights & Biases beside TensorBoard.

Pictures leave training bitwise as it is; they reach TensorBoard (image + histogram), W&B and frame.png at the
due iterations. W&B is only on when asked for, gets the same scalars, keeps one run across a resume, is finished
when a run diverges or is interrupted, and asking for it without wandb installed is a clear error.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from minimax import cli
from minimax.render import Renderer
from minimax.training import manifest, runlog
from minimax.training.runlog import RunLog, read_rows

PNG = b"\x89PNG\r\n\x1a\n"


def rules(lr: float = 1e-3) -> dict:
    return {p: agents.make("adam", lr=lr) for p in minimax.PLAYERS}


def normal1d():
    return pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=32)


def dirac():
    return pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch")


def vector():
    return minimax.make_vector("minimax/Normal1D-v0", 2, hidden=8, batch_size=32)


class FakeWriter:
    """A SummaryWriter that keeps what it is given."""

    instances: list = []

    def __init__(self, log_dir, purge_step=None, flush_secs=120):
        self.scalars, self.images, self.histograms = [], [], []
        FakeWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_image(self, tag, image, step, dataformats="CHW"):
        self.images.append((tag, image, step, dataformats))

    def add_histogram(self, tag, values, step):
        self.histograms.append((tag, np.array(values), step))

    def flush(self):
        pass

    def close(self):
        pass


class FakeWandb:
    """The part of the wandb module RunLog uses; each run records its init options, steps and how it finished."""

    def __init__(self):
        self.runs: list[FakeWandb.Run] = []

    class Run:
        def __init__(self, options):
            self.options, self.steps, self.metrics, self.exit_code = options, [], [], None

        def define_metric(self, name, step_metric=None):
            self.metrics.append((name, step_metric))

        def log(self, data):
            assert self.exit_code is None, "logged after finish"
            self.steps.append(dict(data))

        def finish(self, exit_code=None):
            self.exit_code = exit_code

    class Image:
        def __init__(self, data, caption=None):
            self.data, self.caption = data, caption

    class Histogram:
        def __init__(self, sequence):
            self.values = np.asarray(sequence)

    def init(self, **options):
        self.runs.append(FakeWandb.Run(options))
        return self.runs[-1]


@pytest.fixture
def fake_tensorboard(monkeypatch):
    FakeWriter.instances = []
    monkeypatch.setattr(runlog, "_tensorboard_writer", lambda: FakeWriter)
    return FakeWriter.instances


@pytest.fixture
def fake_wandb(monkeypatch):
    fake = FakeWandb()
    monkeypatch.setattr(runlog, "wandb_module", lambda asked="": fake)
    return fake


# --------------------------------------------------------------------------------------------- pictures


@pytest.mark.parametrize("make", [normal1d, dirac, vector], ids=["histogram", "portrait", "two-games"])
def test_pictures_leave_training_bitwise_as_it_is(make, tmp_path) -> None:
    seed = [0, 1] if make is vector else 0
    runs = {}
    for name, every in (("plain", None), ("pictures", 4)):
        env = make()
        history = minimax.train(env, rules(), 10, seed=seed, progress=False, log=tmp_path / name, image_every=every)
        runs[name] = (history, {p: env.game.parameters(p).clone() for p in minimax.PLAYERS})
    (plain, plain_parameters), (drawn, drawn_parameters) = runs["plain"], runs["pictures"]
    for p in minimax.PLAYERS:
        assert torch.equal(plain_parameters[p], drawn_parameters[p]), f"{p}'s parameters moved because of pictures"
    for name, values in plain.metrics.items():
        assert values.tobytes() == drawn.metrics[name].tobytes(), name
    assert (tmp_path / "pictures" / "frame.png").read_bytes()[:8] == PNG
    assert not (tmp_path / "plain" / "frame.png").exists()
    assert tmp_path / "pictures" / "frame.png" in {p for p in manifest.owned(tmp_path / "pictures")}


def test_pictures_reach_tensorboard_at_the_due_iterations(tmp_path, fake_tensorboard) -> None:
    env = normal1d()
    minimax.train(env, rules(), 10, seed=0, progress=False, log=tmp_path, image_every=4)
    (writer,) = fake_tensorboard
    assert [(tag, step, form) for tag, _, step, form in writer.images] == [
        ("pictures/frame", i, "HWC") for i in (0, 4, 8, 10)  # the start, every 4, the end
    ]
    frame = writer.images[-1][1]
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert [(tag, step) for tag, _, step in writer.histograms] == [("pictures/samples", i) for i in (0, 4, 8, 10)]
    expected = Renderer(env.game).samples().reshape(-1)  # the final generator, from the renderer's fixed noise
    np.testing.assert_array_equal(writer.histograms[-1][1], expected)
    assert not np.array_equal(writer.histograms[0][1], expected)  # the pictures follow the game
    assert any(tag == "metrics/value" for tag, _, _ in writer.scalars)


def test_n_games_draw_game_zero_under_its_own_tag(tmp_path, fake_tensorboard) -> None:
    minimax.train(vector(), rules(), 3, seed=[0, 1], progress=False, log=tmp_path, image_every=3)
    (writer,) = fake_tensorboard
    assert {tag for tag, *_ in writer.images} == {"pictures/frame/game0"}
    assert {tag for tag, *_ in writer.histograms} == {"pictures/samples/game0"}


def test_a_diverged_generator_still_draws_without_a_histogram(tmp_path, fake_tensorboard) -> None:
    log = RunLog(tmp_path)
    log.begin(0)
    frame = np.zeros((64, 64, 3), dtype=np.uint8)
    log.write_picture(3, frame, np.full((5, 1), np.nan))
    log.write_picture(4, frame, np.array([1.0, np.inf, 2.0]))
    log.close()
    (writer,) = fake_tensorboard
    assert [step for _, _, step, _ in writer.images] == [3, 4]
    assert [(step, values.tolist()) for _, values, step in writer.histograms] == [(4, [1.0, 2.0])]
    with pytest.raises(ValueError, match=r"frame must be an RGB uint8 array .* got float64 \(64, 64\)"):
        log.write_picture(5, np.zeros((64, 64)))


def test_tensorboard_event_file_holds_the_pictures(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    minimax.train(dirac(), rules(0.1), 6, seed=0, progress=False, log=tmp_path, image_every=3)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    assert [(e.step, e.width, e.height) for e in events.Images("pictures/frame")] == [(i, 640, 480) for i in (0, 3, 6)]
    assert [e.step for e in events.Histograms("pictures/samples")] == [0, 3, 6]
    assert len(events.Scalars("metrics/value")) == 6


def test_image_every_is_checked() -> None:
    with pytest.raises(ValueError, match="image_every=5 needs a log"):
        minimax.train(dirac(), rules(), 2, seed=0, progress=False, image_every=5)
    with pytest.raises(ValueError, match="image_every must be an integer >= 1, got 0"):
        minimax.train(dirac(), rules(), 2, seed=0, progress=False, log="unused", image_every=0)


def test_the_command_line_draws_pictures_and_a_resume_goes_on(tmp_path) -> None:
    out = tmp_path / "run"
    base = ["DiracGAN", "--env", "parallel", "--rule", "sgd:lr=0.1", "--checkpoint-every", "3", "--no-tensorboard"]
    assert cli.main(["train", *base, "-n", "6", "--image-every", "3", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "run.json").read_text())["image_every"] == 3
    first = (out / "frame.png").read_bytes()
    assert first[:8] == PNG
    assert cli.main(["resume", str(out), "-n", "9", "--no-progress"]) == 0
    assert (out / "frame.png").read_bytes() != first  # the picture at iteration 9
    assert [r["iteration"] for r in read_rows(out / "metrics.jsonl")] == list(range(1, 10))


# --------------------------------------------------------------------------------------------- W&B


def test_wandb_gets_the_scalars_and_pictures_and_one_run_across_a_resume(tmp_path, fake_wandb) -> None:
    env = dirac()
    log = RunLog(tmp_path, tensorboard=False, wandb={"project": "studies", "mode": "offline"})
    minimax.train(env, rules(0.1), 6, seed=0, progress=False, log=log, image_every=3, checkpoint_dir=tmp_path)
    log.close()
    (run,) = fake_wandb.runs
    options = run.options
    assert options["dir"] == str(tmp_path) and options["project"] == "studies" and options["mode"] == "offline"
    assert options["name"] == tmp_path.name and options["resume"] == "allow"
    assert json.loads((tmp_path / runlog.WANDB_RUN).read_text())["id"] == options["id"]
    assert ("*", "iteration") in run.metrics  # steps are iterations
    scalars = [s for s in run.steps if "metrics/value" in s]
    rows = read_rows(tmp_path / "metrics.jsonl")
    assert [s["iteration"] for s in scalars] == [r["iteration"] for r in rows] == list(range(1, 7))
    assert [s["metrics/value"] for s in scalars] == [r["value"] for r in rows]  # the same scalars
    pictures = [s for s in run.steps if "pictures/frame" in s]
    assert [s["iteration"] for s in pictures] == [0, 3, 6]
    assert pictures[-1]["pictures/frame"].data.shape == (480, 640, 3)
    assert isinstance(pictures[-1]["pictures/samples"], FakeWandb.Histogram)
    assert run.exit_code == 0

    log = RunLog(tmp_path, tensorboard=False, wandb=True)
    minimax.train(dirac(), rules(0.1), 8, seed=0, progress=False, log=log, checkpoint_dir=tmp_path, resume=True)
    log.close()
    resumed = fake_wandb.runs[1]
    assert resumed.options["id"] == options["id"]  # the same W&B run goes on
    assert [s["iteration"] for s in resumed.steps] == [7, 8]


def test_wandb_is_finished_when_a_run_diverges_or_is_interrupted(tmp_path, fake_wandb) -> None:
    env = pettingzoo.make("parallel", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=32)
    explode = {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}
    with RunLog(tmp_path / "d", wandb=True, tensorboard=False) as log:  # the caller's log: closed by the caller
        history = minimax.train(env, explode, 50, seed=0, progress=False, log=log, image_every=1)
    assert history.terminated.any() and history.iterations < 50  # diverged; its pictures drawn what they could
    (diverged,) = fake_wandb.runs
    assert diverged.exit_code == 0
    assert [s["iteration"] for s in diverged.steps if "pictures/frame" in s] == list(range(history.iterations + 1))
    finite = [r["iteration"] for r in read_rows(tmp_path / "d" / "metrics.jsonl") if r["value"] is not None]
    assert [s["iteration"] for s in diverged.steps if "metrics/value" in s] == finite  # non-finite values left out

    def interrupt(iteration, env, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), RunLog(tmp_path / "i", wandb=True, tensorboard=False) as log:
        minimax.train(dirac(), rules(), 20, seed=0, progress=False, log=log, callbacks=[interrupt], callback_every=5)
    interrupted = fake_wandb.runs[1]
    assert interrupted.exit_code == 1  # finished, as failed
    assert [s["iteration"] for s in interrupted.steps] == list(range(1, 6))  # every row before the interruption


def test_wandb_is_off_unless_asked_and_asking_without_it_is_a_clear_error(tmp_path, monkeypatch, capsys) -> None:
    assert RunLog(tmp_path).wandb_options is None
    with pytest.raises(ValueError, match=r"wandb options \['dir', 'id'\] are set by minimax"):
        RunLog(tmp_path, wandb={"dir": "elsewhere", "id": "x"})
    with pytest.raises(TypeError, match="wandb must be True, False or a mapping"):
        RunLog(tmp_path, wandb="studies")
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"wandb=True\), but wandb is not installed: pip install wandb"):
        RunLog(tmp_path, wandb=True)
    base = ["DiracGAN", "-n", "2", "--out", str(tmp_path / "run"), "--no-progress"]
    for extra, message in ((["--wandb"], "but wandb is not installed"),
                           (["--wandb-project", "p"], "--wandb-project needs --wandb")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            cli.main(["train", *base, *extra])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_wandb_run_that_cannot_start_says_what_to_do(tmp_path, fake_wandb, monkeypatch) -> None:
    def refuse(**options):
        raise PermissionError("api_key not configured (no-tty)")

    monkeypatch.setattr(fake_wandb, "init", refuse)
    with pytest.raises(RuntimeError, match=r"could not start the W&B run \(project 'minimax'\): api_key not configured"
                                           r".*WANDB_MODE=offline"):
        minimax.train(dirac(), rules(), 2, seed=0, progress=False, log=RunLog(tmp_path, wandb=True))


def test_wandb_offline_run_lives_in_the_run_directory(tmp_path, monkeypatch) -> None:
    pytest.importorskip("wandb")
    for name, value in (("WANDB_MODE", "offline"), ("WANDB_SILENT", "true"), ("WANDB_DIR", tmp_path / "wandb-dir"),
                        ("WANDB_CACHE_DIR", tmp_path / "cache"), ("WANDB_CONFIG_DIR", tmp_path / "config"),
                        ("WANDB_DATA_DIR", tmp_path / "data")):  # fmt: skip
        monkeypatch.setenv(name, str(value))
    out = tmp_path / "run"
    argv = ["DiracGAN", "--env", "parallel", "--rule", "sgd:lr=0.1", "--checkpoint-every", "5", "--wandb",
            "--wandb-project", "minimax-tests", "--image-every", "5", "--no-tensorboard", "--no-progress"]  # fmt: skip
    assert cli.main(["train", *argv, "-n", "10", "--out", str(out)]) == 0
    run_id = json.loads((out / runlog.WANDB_RUN).read_text())["id"]
    (first,) = sorted(out.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb"))
    data = first.read_bytes()
    assert b"metrics/value" in data and b"pictures/frame" in data and b"minimax-tests" in data
    assert json.loads((out / "run.json").read_text())["wandb"] == {"project": "minimax-tests"}
    assert cli.main(["resume", str(out), "-n", "12", "--no-progress"]) == 0
    assert json.loads((out / runlog.WANDB_RUN).read_text())["id"] == run_id  # the same W&B run goes on
    assert not (tmp_path / "wandb-dir" / "wandb").exists()  # nothing outside the run directory
