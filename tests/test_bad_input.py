"""The bad-input battery: every input below is refused with a clear error, never a traceback.

Inputs come from five places a user reaches: the command line (options and task options),
the Python API, data files (IDX, checkpoints), an edited ``run.json`` and sweep specs. Most
are generated (every update rule with every bad learning rate, every loss family with every
bad option, ...). Each case asserts:

* the error is one a user reads (the command exits 2 or 1 with a message; the API raises
  ``ValueError``, ``TypeError``, ``FileNotFoundError`` or ``CheckpointError``), not a traceback
  from minimax's own code;
* the message names the bad value (or the bad name) and says what was expected.

``test_the_battery_has_at_least_150_distinct_inputs`` keeps the count honest (the README states
it). Hypothesis adds generated values on top (random junk for numbers and names).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agents
import minimax
from minimax import cli
from minimax.core.game import Game
from minimax.datasets.idx import IDXError, read_idx
from minimax.tasks import MNIST, Normal1D
from minimax.training import checkpoint as ckpt

SMALL = ["-o", "hidden=4", "-o", "batch_size=16"]
EXPLAINS = ("expected", "must", "got", "unknown", "does not exist", "not a", "needs", "is a", "empty", "lacks", "cannot",
            "outside", "more than", "refused", "no such", "mismatch", "truncated", "corrupt", "use ", "takes", "only", "bad ",
            "invalid choice", "choose from", "call ", "build it with", "need", "reads version", "not valid")  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One bad input: where it goes (``kind``), the input, and text the error must contain."""

    kind: str  # "cli", "api", "file", "run.json", "sweep"
    name: str
    given: object
    says: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


# ------------------------------------------------------------------------------------------------ the command line

SINGLE_RULES = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "optimistic", "optimistic-adam"]
JOINT_RULES = ["extragradient", "past-extragradient", "consensus", "sga", "cgd"]
BAD_NUMBERS = ["-1", "abc", "nan", "inf"]


def cli_cases() -> list[Case]:
    cases = []
    for rule in SINGLE_RULES:
        for bad in BAD_NUMBERS:
            cases.append(Case("cli", f"-G {rule}:lr={bad}", ["train", "Normal1D", *SMALL, "-G", f"{rule}:lr={bad}"],
                              ("lr", bad)))  # fmt: skip
    for rule in JOINT_RULES:
        for bad in BAD_NUMBERS:
            cases.append(Case("cli", f"--joint {rule}:lr={bad}", ["train", "DiracGAN", "--joint", f"{rule}:lr={bad}"],
                              ("lr", bad)))  # fmt: skip
    for spec, says in [("alternating:k=0", ("k", "0")), ("alternating:k=-1", ("k", "-1")), ("alternating:k=abc", ("abc",)),
                       ("alternating:k=1.5", ("1.5",)), ("alternating:m=0", ("m", "0")),
                       ("alternating:first=nobody", ("nobody",)), ("alternating:split=maybe", ("maybe",)),
                       ("alternating:z=1", ("z",)), ("alternating:k=1000000000000", ("1000000000000",)),
                       ("sometimes", ("sometimes",))]:  # fmt: skip
        cases.append(Case("cli", f"--schedule {spec}", ["train", "Normal1D", *SMALL, "--schedule", spec], says))
    for family in ["minimax", "non-saturating", "wasserstein", "hinge", "least-squares"]:
        for option, says in [("r1=-1", ("r1", "-1")), ("gp=abc", ("gp", "abc")), ("noise=-0.1", ("noise", "-0.1")),
                             ("r3=1", ("r3",))]:  # fmt: skip
            cases.append(Case("cli", f"--loss {family}:{option}", ["train", "Normal1D", *SMALL, "--loss", f"{family}:{option}"],
                              says))  # fmt: skip
    cases.append(Case("cli", "--loss foo", ["train", "Normal1D", *SMALL, "--loss", "foo"], ("foo",)))
    for option, says in [("mean=abc", ("mean", "abc")), ("std=0", ("std", "0")), ("std=-1", ("std", "-1")),
                         ("hidden=0", ("hidden", "0")), ("batch_size=0", ("batch_size", "0")), ("noise=gauss", ("gauss",)),
                         ("discriminator=xyz", ("xyz",)), ("train_size=0", ("train_size", "0")), ("preset=1999", ("1999",)),
                         ("samples=/no/such/file.npy", ("/no/such/file.npy",)), ("mean=1e308", ("mean=1e+308",)),
                         ("colour=red", ("colour",)), ("", ("''",)), ("mean", ("mean",)), ("2x=1", ("2x",))]:  # fmt: skip
        cases.append(Case("cli", f"-o {option!r}", ["train", "Normal1D", "-o", option], says))
    for task, option, says in [("DiracGAN", "theta=abc", ("theta", "abc")), ("Bilinear", "A=1/2;3", ("1/2;3", "rows")),
                               ("Ring8", "pack=0", ("pack", "0")), ("Grid25", "side=0", ("side", "0")),
                               ("MNIST", "root=/no/such/folder", ("/no/such/folder", "does not exist")),
                               ("Saddle", "x0=abc", ("x0", "abc"))]:  # fmt: skip
        cases.append(Case("cli", f"{task} -o {option}", ["train", task, "-o", option], says))
    for flags, says in [(["--iterations", "0"], ("0",)), (["--iterations", "-5"], ("-5",)), (["--iterations", "abc"], ("abc",)),
                        (["--iterations", "1000000000000000"], ("1000000000000000", "more than")),
                        (["--seed", "-1"], ("-1",)), (["--seed", "x"], ("'x'",)), (["--device", "quantum"], ("quantum",)),
                        (["--device", "cuda:99"], ("cuda:99",)), (["--dtype", "float16"], ("float16",)),
                        (["--threads", "0"], ("0",)), (["--checkpoint-every", "0"], ("0",)), (["--env", "xyz"], ("xyz",)),
                        (["--keep", "0"], ("0",)), (["--log-every", "0"], ("0",)), (["-D", ""], ("--discriminator ''",)),
                        (["-G", ""], ("--generator ''",)), (["--rule", ""], ("--rule ''",)), (["--joint", ""], ("--joint ''",)),
                        (["--out", ""], ("--out ''",)), (["--loss", ""], ("--loss ''",)), (["--schedule", ""], ("--schedule ''",)),
                        (["-D", "nope:lr=1"], ("nope",)), (["-D", ":lr=1"], (":lr=1",)), (["-D", "adam:lr"], ("lr",)),
                        (["-D", "adam:betas=0.5"], ("betas", "0.5")), (["-D", "consensus:lr=0.1"], ("Consensus", "--joint")),
                        (["--joint", "adam:lr=0.1"], ("Adam", "single-player")), (["--env", "aec", "--joint", "sga:lr=0.1"], ("--joint",)),
                        (["-D", "adam:lr_schedule=bogus/10"], ("bogus",)), (["-D", "sgd:lr=0.1,clip=-1"], ("clip", "-1"))]:  # fmt: skip
        cases.append(Case("cli", " ".join(flags) or "''", ["train", "Normal1D", *SMALL, *flags], says))
    cases.append(Case("cli", "train Foo", ["train", "Foo"], ("Foo",)))
    return cases


# ------------------------------------------------------------------------------------------------ the Python API


def _env():
    return minimax.GameAECEnv(Game(Normal1D(hidden=4, batch_size=8)), "alternating:k=1")


def _started_env():
    env = _env()
    env.reset(seed=0)
    return env


def _rules():
    return {p: agents.make("sgd", lr=1e-3) for p in minimax.PLAYERS}


API: list[tuple[str, Callable[[], object], tuple[str, ...]]] = [
    ("Game(num_games=0)", lambda: Game(Normal1D(), 0), ("num_games", "0")),
    ("Game(loss='foo')", lambda: Game(Normal1D(), loss="foo"), ("foo",)),
    ("Game(dtype=int)", lambda: Game(Normal1D(), dtype=torch.int64), ("int64",)),
    ("Game(fake_mode='x')", lambda: Game(Normal1D(), fake_mode="x"), ("'x'",)),
    ("Game(loss=[...] wrong length)", lambda: Game(Normal1D(), 3, loss=["hinge", "minimax"]), ("3",)),
    ("GameAECEnv(k=0)", lambda: minimax.GameAECEnv(Game(Normal1D()), "alternating:k=0"), ("k", "0")),
    ("make_vector(0 games)", lambda: minimax.make_vector("minimax/Normal1D-v0", 0), ("0",)),
    ("make_vector(unknown id)", lambda: minimax.make_vector("minimax/Nope-v0", 2), ("Nope",)),
    ("per_game([])", lambda: minimax.per_game([]), ("at least one value",)),
    ("train(env, 'adam')", lambda: minimax.train(_env(), "adam", 2), ("'adam'",)),
    ("train(env, {p: 'adam'})", lambda: minimax.train(_env(), {p: "adam" for p in minimax.PLAYERS}, 2), ("'adam'",)),
    ("train(iterations=0)", lambda: minimax.train(_env(), _rules(), 0), ("iterations", "0")),
    ("train(iterations=-1)", lambda: minimax.train(_env(), _rules(), -1), ("iterations", "-1")),
    ("train(iterations='5')", lambda: minimax.train(_env(), _rules(), "5"), ("iterations", "'5'")),
    ("train(iterations=1e15)", lambda: minimax.train(_env(), _rules(), 10**15), ("1000000000000000", "more than")),
    ("train(one rule for both)", lambda: minimax.train(_env(), dict.fromkeys(minimax.PLAYERS, agents.make("sgd", lr=1)), 2),
     ("separate",)),
    ("train(not an env)", lambda: minimax.train(object(), _rules(), 2), ("object",)),
    ("train(missing player)", lambda: minimax.train(_env(), {"discriminator": agents.make("sgd", lr=1)}, 2), ("generator",)),
    ("step before reset", lambda: _env().step(torch.zeros(3)), ("reset",)),
    ("step(wrong shape)", lambda: _started_env().step(torch.zeros(3)), ("shape", "(3,)")),
    ("step(numpy)", lambda: _started_env().step(np.zeros(3)), ("ndarray",)),
    ("step(float64)", lambda: _started_env().step(torch.zeros(_started_env().game.size("discriminator"), dtype=torch.float64)),
     ("float64",)),
    ("step(None) mid-game", lambda: _started_env().step(None), ("None",)),
    ("observe(unknown agent)", lambda: _started_env().observe("referee"), ("referee",)),
    ("agents.make('nope')", lambda: agents.make("nope"), ("nope",)),
    ("adam betas=0.5", lambda: agents.make("adam", betas=0.5), ("betas", "0.5")),
    ("adam beta2=1.5", lambda: agents.make("adam", betas=(0.9, 1.5)), ("beta2", "1.5")),
    ("sgd lr=-1", lambda: agents.make("sgd", lr=-1), ("lr", "-1")),
    ("sgd lr='x'", lambda: agents.make("sgd", lr="x"), ("lr", "'x'")),
    ("sgd lr=ones(2,2)", lambda: agents.make("sgd", lr=torch.ones(2, 2)), ("lr", "[2, 2]")),
    ("momentum=2", lambda: agents.make("momentum", lr=0.1, momentum=2.0), ("momentum", "2")),
    ("rmsprop alpha=-1", lambda: agents.make("rmsprop", alpha=-1.0), ("alpha", "-1")),
    ("averaged decay=2", lambda: agents.averaged(agents.make("sgd", lr=0.1), 2.0), ("decay", "2")),
    ("clipped -1", lambda: agents.clipped(agents.make("sgd", lr=0.1), -1.0), ("-1",)),
    ("adam fused per-game lr", lambda: agents.make("adam", lr=minimax.per_game([1e-3, 2e-3]), fused=True), ("fused",)),
    ("Normal1D(std=0)", lambda: Normal1D(std=0.0), ("std", "0")),
    ("Normal1D(mean=1e308)", lambda: Normal1D(mean=1e308), ("1e+308",)),
    ("Normal1D(samples=[1])", lambda: Normal1D(samples=[1.0]), ("samples",)),
    ("Normal1D(samples=[nan, 1])", lambda: Normal1D(samples=[math.nan, 1.0]), ("samples",)),
    ("Normal1D(hidden=0)", lambda: Normal1D(hidden=0), ("hidden", "0")),
    ("MNIST(images 27x27)", lambda: MNIST(images=np.zeros((5, 27, 27), dtype=np.uint8)), ("(5, 27, 27)",)),
    ("MNIST(images float)", lambda: MNIST(images=np.zeros((5, 28, 28), dtype=np.float32)), ("float32",)),
]


def api_cases() -> list[Case]:
    return [Case("api", name, fn, says) for name, fn, says in API]


# ------------------------------------------------------------------------------------------------ data files


def _idx(shape: tuple[int, ...], dtype_code: int = 0x08) -> bytes:
    header = bytes([0, 0, dtype_code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
    return header + bytes(int(np.prod(shape)))


def file_cases() -> list[Case]:
    images = _idx((5, 28, 28))
    return [
        Case("file", "idx: corrupted gzip", ("train-images-idx3-ubyte.gz", gzip.compress(images)[:-8] + b"xxxxxxxx"),
             ("corrupted gzip",)),
        Case("file", "idx: wrong magic", ("train-images-idx3-ubyte", b"\x07\x00" + images[2:]), ("magic", "07 00")),
        Case("file", "idx: truncated", ("train-images-idx3-ubyte", images[:-100]), ("truncated", "3820")),
        Case("file", "idx: int32 payload short", ("train-images-idx3-ubyte", _idx((5, 28, 28), 0x0C)),
             ("32-bit integers", "15680")),
        Case("file", "idx: empty", ("train-images-idx3-ubyte", b""), ("0 bytes",)),
        Case("file", "idx: unknown type", ("train-images-idx3-ubyte", _idx((5, 28, 28), 0x0A)), ("0a",)),
        Case("file", "checkpoint: empty", ("checkpoint-000000001.ckpt", b""), ("empty file",)),
        Case("file", "checkpoint: garbage", ("checkpoint-000000001.ckpt", b"hello"), ("bad magic",)),
        Case("file", "checkpoint: bad header", ("checkpoint-000000001.ckpt", ckpt.MAGIC + b"{not json\n"), ("header",)),
        Case("file", "checkpoint: other version", ("checkpoint-000000001.ckpt", ckpt.MAGIC + b'{"format": 99}\n'),
             ("format version 99",)),
        Case("file", "checkpoint: version 1", ("checkpoint-000000001.ckpt", ckpt.MAGIC + b'{"format": 1}\n'),
             ("minimax 0.1",)),
        Case("file", "checkpoint: no sizes", ("checkpoint-000000001.ckpt", ckpt.MAGIC + b'{"format": 2}\n'), ("sizes",)),
        Case("file", "checkpoint: truncated", ("checkpoint-000000001.ckpt", ckpt.MAGIC + json.dumps(
            {"format": 2, "sha256": "0", "meta_bytes": 10, "tensor_bytes": 10}).encode() + b"\n12345"), ("truncated",)),
        Case("file", "checkpoint: checksum", ("checkpoint-000000001.ckpt", ckpt.MAGIC + json.dumps(
            {"format": 2, "sha256": "0" * 64, "meta_bytes": 2, "tensor_bytes": 0}).encode() + b"\n{}"), ("checksum",)),
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------ run.json and sweeps

RUN_JSON_EDITS = [("iterations", "abc"), ("iterations", -3), ("iterations", 0), ("seed", "x"), ("seed", -1),
                  ("checkpoint_every", -3), ("threads", -1), ("env", "xyz"), ("dtype", "float16"), ("task", 5),
                  ("task_options", "mean=4"), ("csv", "yes"), ("compile", "fast"), ("keep", 0), ("log_every", 1.5),
                  ("tensorboard", "on"), ("discriminator", 7)]  # fmt: skip

SWEEPS = [
    ("not JSON", "{tasks: [", ("JSON",)),
    ("a list", "[1, 2]", ("object",)),
    ("unknown key", '{"tasks": ["Normal1D"], "colour": "red"}', ("colour",)),
    ("negative seed", '{"tasks": ["Normal1D"], "seeds": [-1]}', ("-1",)),
    ("no tasks", '{"tasks": []}', ("tasks",)),
    ("bad rule", '{"tasks": ["Normal1D"], "rules": ["adam:lr=-1"]}', ("lr", "-1")),
    ("unknown task", '{"tasks": ["Foo"]}', ("Foo",)),
    ("iterations text", '{"tasks": ["Normal1D"], "iterations": "many"}', ("many",)),
    ("bad train arg", '{"tasks": ["Normal1D"], "train_args": ["--bogus"]}', ("--bogus",)),
    ("rule dict key", '{"tasks": ["Normal1D"], "rules": [{"referee": "sgd:lr=1"}]}', ("referee",)),
]


def all_cases() -> list[Case]:
    cases = cli_cases() + api_cases() + file_cases()
    cases += [Case("run.json", f"{key}={value!r}", (key, value), (repr(key), json.dumps(value))) for key, value in RUN_JSON_EDITS]
    cases += [Case("sweep", name, text, says) for name, text, says in SWEEPS]
    cases += [Case("cli", "resume not-a-dir", ["resume", "/no/such/run"], ("/no/such/run",)),
              Case("cli", "eval not-a-dir", ["eval", "/no/such/run"], ("/no/such/run",)),
              Case("cli", "plot not-a-dir", ["plot", "/no/such/run"], ("/no/such/run",))]  # fmt: skip
    return cases


CASES = all_cases()


def test_the_battery_has_at_least_150_distinct_inputs() -> None:
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), "two cases share an id"
    assert len(CASES) >= 150, len(CASES)


def _clear(message: str, case: Case) -> None:
    low = message.lower()
    for needle in case.says:
        assert needle.lower() in low, f"{case.id}: {needle!r} not named in: {message}"
    assert any(word in low for word in EXPLAINS), f"{case.id}: says what is wrong but not what was expected: {message}"
    assert "Traceback" not in message, message


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return int(code), captured.err + captured.out


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "cli"], ids=lambda c: c.id)
def test_command_line(case: Case, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = list(case.given)
    if argv[0] == "train":
        argv += ["--iterations", "2", "--no-progress"] if "--iterations" not in argv else ["--no-progress"]
        if "--out" not in argv:
            argv += ["--out", str(tmp_path / "run")]
    code, message = run_cli(argv, capsys)
    assert code in (1, 2), f"{case.id}: exit code {code}: {message}"
    _clear(message, case)


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "api"], ids=lambda c: c.id)
def test_python_api(case: Case) -> None:
    with pytest.raises((ValueError, TypeError, FileNotFoundError, RuntimeError)) as caught:
        case.given()
    assert not isinstance(caught.value, (ZeroDivisionError, IndexError)), repr(caught.value)
    _clear(str(caught.value), case)


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "file"], ids=lambda c: c.id)
def test_data_files(case: Case, tmp_path) -> None:
    name, data = case.given
    (tmp_path / name).write_bytes(data)
    if name.startswith("checkpoint"):
        with pytest.raises(ckpt.CheckpointError) as caught:
            ckpt.load(tmp_path / name)
    else:
        with pytest.raises((IDXError, FileNotFoundError, ValueError)) as caught:
            read_idx(tmp_path / name)
    _clear(str(caught.value), case)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    assert cli.main(["train", "Normal1D", *SMALL, "--iterations", "2", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "run.json"], ids=lambda c: c.id)
def test_edited_run_json(case: Case, finished_run: Path, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    spec = json.loads((run / "run.json").read_text())
    key, value = case.given
    spec[key] = value
    (run / "run.json").write_text(json.dumps(spec))
    code, message = run_cli(["resume", str(run), "--iterations", "4", "--no-progress"], capsys)
    assert code == 2, f"{case.id}: exit code {code}: {message}"
    _clear(message, case)


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "sweep"], ids=lambda c: c.id)
def test_sweep_specs(case: Case, tmp_path, capsys) -> None:
    (tmp_path / "sweep.json").write_text(case.given)
    code, message = run_cli(["sweep", str(tmp_path / "sweep.json"), "--out", str(tmp_path / "out")], capsys)
    assert code == 2, f"{case.id}: exit code {code}: {message}"
    _clear(message, case)


# ------------------------------------------------------------------------------------------------ generated values

junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=",=:;/\x00"), min_size=1,
               max_size=12).filter(lambda s: s.strip() and not re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", s)
                                   and s.strip().lower() not in ("inf", "-inf", "+inf", "nan", "true", "false", "none",
                                                                 "null", "yes", "no", "on", "off"))  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=junk)
def test_any_non_number_for_a_learning_rate_is_named(value: str, capsys, tmp_path_factory) -> None:
    out = tmp_path_factory.mktemp("junk") / "run"
    code, message = run_cli(["train", "Normal1D", *SMALL, "-G", f"sgd:lr={value}", "--iterations", "2", "--out", str(out),
                             "--no-progress"], capsys)  # fmt: skip
    assert code == 2 and "lr" in message and "Traceback" not in message, message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.from_regex(r"[a-z_][a-z_-]{0,11}", fullmatch=True))
def test_any_unknown_rule_name_is_named_with_the_choices(name: str, capsys, tmp_path_factory) -> None:
    if name.lower() in agents.available():
        return
    out = tmp_path_factory.mktemp("rule") / "run"
    code, message = run_cli(["train", "Normal1D", *SMALL, "-D", name, "--iterations", "2", "--out", str(out),
                             "--no-progress"], capsys)  # fmt: skip
    assert code == 2 and repr(name) in message and "expected one of" in message, message


@settings(max_examples=25, deadline=None)
@given(k=st.one_of(st.integers(max_value=0), st.integers(min_value=100_001, max_value=10**15)))
def test_any_out_of_range_k_is_refused_with_its_value(k: int) -> None:
    with pytest.raises(ValueError) as caught:
        minimax.GameAECEnv(Game(Normal1D(hidden=4, batch_size=8)), f"alternating:k={k}")
    assert str(k) in str(caught.value)
