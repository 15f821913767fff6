"""Checkpoints: the whole state of a run, written atomically, checked on the way back in.

A checkpoint holds everything that decides what a run does next, so that resuming it
gives, on the CPU, a trajectory bitwise identical to the uninterrupted run:

* the env's ``state_dict()``: both players' parameters and buffers (BatchNorm statistics)
  in every game, every random stream (each game's data, noise and loss streams, the env's
  ``np_random``), each task's declared state (e.g. Normal1D's shuffled order of its
  training set and the position in it), and the match: the tick, the move counts, the
  tick's minibatches and any evaluation already made on them, pending moves, the device
  flags of the divergence check, the latest rewards and infos;
* every update rule's state (``UpdateRule.state``: moments and int64 step counts) and a
  game-aware rule's own attributes (``PastExtragradient``'s previous gradient, ...);
* the history so far (:class:`minimax.training.loop.History`) and any ``extra`` data.

Files are written with :func:`minimax.utils.files.atomic_output` (temporary file, fsync,
rename): a reader sees the previous checkpoint or the new one, never a part. The layout::

    MINIMAX CHECKPOINT\\n                                        magic line
    {"format": 1, "sha256": ..., "meta_bytes": m, "tensor_bytes": t}\\n   header (JSON, one line)
    <m bytes: meta>     JSON: setup, scalars and the structure of the state, tensors by index
    <t bytes: tensors>  torch.save of a list of CPU tensors (read back with weights_only=True)

``sha256`` is the digest of the meta and tensor bytes. :func:`load` refuses, with a
:class:`CheckpointError` naming the file and the problem, a file that is not a
checkpoint, of another format version, truncated or with a wrong checksum;
:func:`restore` refuses one written for another task, network, loss, schedule, env
kind, dtype or update rule than the env and rules it is loaded into, and leaves them
untouched when it does.

Usage::

    minimax.training.checkpoint.save("run/checkpoint.ckpt", env, rules, history)
    ckpt = minimax.training.checkpoint.load("run/checkpoint.ckpt")
    minimax.training.checkpoint.restore(env, rules, ckpt)          # env and rules continue where they were

or let :func:`minimax.train` do it: ``train(env, rules, 100_000, seed=0,
checkpoint_dir="run", checkpoint_every=1000, resume=True)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import pickle
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minimax.core.players import PLAYERS
from minimax.utils.files import atomic_output, atomic_write
from minimax.utils.version import VERSION

FORMAT_VERSION = 2  # 2: the env's state_dict (N games); 1: minimax 0.1's lone envs
MAGIC = b"MINIMAX CHECKPOINT\n"
SUFFIX = ".ckpt"
RUN_SPEC = "run.json"
_NAME = re.compile(r"^checkpoint-(\d+)\.ckpt$")
# Task describe() entries that say where data came from, not what the task is.
_VOLATILE_TASK_KEYS = {"data", "note"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not belong to the env it is loaded into."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"checkpoint {str(path)!r}: {problem}" if path is not None else f"checkpoint: {problem}")


# --------------------------------------------------------------------------------------------
# Encoding: plain data and tensors -> JSON-ready structure + a list of tensors, and back.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A NamedTuple as read back from a file: its class name and fields (rebuilt from a template)."""

    name: str
    fields: dict[str, Any]


class _Unsupported(TypeError):
    pass


def _encode(value: Any, tensors: list[torch.Tensor], where: str = "state") -> Any:
    """``value`` as JSON-ready data; tensors are appended to ``tensors`` and referenced by index."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, torch.Tensor):
        tensors.append(value.detach().to("cpu", copy=True))
        return {"$tensor": len(tensors) - 1}
    if isinstance(value, np.ndarray):
        tensors.append(torch.from_numpy(np.array(value, copy=True)))
        return {"$ndarray": len(tensors) - 1}
    if isinstance(value, torch.dtype):
        return {"$dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, torch.Size):
        return {"$size": list(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple (rule states)
        fields = {k: _encode(getattr(value, k), tensors, f"{where}.{k}") for k in value._fields}
        return {"$namedtuple": type(value).__name__, "fields": fields}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise _Unsupported(f"{where} is a dict with non-string key {bad[0]!r}")
        return {"$dict": {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}}
    raise _Unsupported(f"{where} holds a {type(value).__module__}.{type(value).__qualname__}, which a checkpoint cannot store")


def encode(value: Any, tensors: list[torch.Tensor], where: str = "state") -> Any:
    """Public twin of the encoder (a :class:`CheckpointError` for what it cannot store)."""
    try:
        return _encode(value, tensors, where)
    except _Unsupported as error:
        raise CheckpointError(None, str(error)) from None


_DTYPES = {"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
           "complex64", "complex128"}  # fmt: skip


def decode(value: Any, tensors: list[torch.Tensor]) -> Any:
    """Inverse of :func:`encode` (NamedTuples come back as :class:`Record`)."""
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 or "$namedtuple" in value:
        (tag,) = [k for k in value if k.startswith("$")][:1] or [None]
        if tag == "$tensor":
            return tensors[value["$tensor"]]
        if tag == "$ndarray":
            return tensors[value["$ndarray"]].numpy()
        if tag == "$float":
            return float(value["$float"])
        if tag == "$dtype":
            if value["$dtype"] not in _DTYPES:
                raise ValueError(f"unknown dtype {value['$dtype']!r}")
            return getattr(torch, value["$dtype"])
        if tag == "$device":
            return torch.device(value["$device"])
        if tag == "$size":
            return torch.Size(value["$size"])
        if tag == "$tuple":
            return tuple(decode(v, tensors) for v in value["$tuple"])
        if tag == "$dict":
            return {k: decode(v, tensors) for k, v in value["$dict"].items()}
        if tag == "$namedtuple":
            return Record(value["$namedtuple"], {k: decode(v, tensors) for k, v in value["fields"].items()})
    raise ValueError(f"unknown entry {sorted(value)} in the checkpoint's structure")


def jsonable(value: Any) -> Any:
    """A JSON-ready copy for descriptions (tuples become lists, tensors lists, other objects their repr)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (np.integer, np.floating)):
        return jsonable(value.item())
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist()) if value.numel() <= 64 else f"Tensor(shape={list(value.shape)})"
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist()) if value.size <= 64 else f"array(shape={list(value.shape)})"
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    return repr(value)


# --------------------------------------------------------------------------------------------
# What is saved: setup (identity), env/game/task state, agents, history.
# --------------------------------------------------------------------------------------------


def env_kind(env: Any) -> str:
    kind = getattr(env, "kind", None)
    if kind in ("aec", "parallel", "vector") and callable(getattr(env, "state_dict", None)):
        return kind
    raise TypeError(f"checkpoints are of minimax envs (AEC, Parallel or vector), got {type(env).__name__}")


def _task_setup(game: Any, task: Any) -> dict[str, Any]:
    if task is not None:
        described = {k: v for k, v in task.describe().items() if k not in _VOLATILE_TASK_KEYS}
        return {"class": type(task).__name__, **described}
    return {"class": type(game).__name__, "name": getattr(game, "name", None),  # a payoff game
            "start": {p: game.start[p] for p in PLAYERS} if hasattr(game, "start") else None,
            "gradient_noise": getattr(game, "gradient_noise", None),
            **{k: getattr(game, k) for k in ("matrix", "a", "b") if hasattr(game, k)}}  # fmt: skip


def setup_of(env: Any) -> dict[str, Any]:
    """What identifies a run's game: a checkpoint only loads into an env with the same setup."""
    kind = env_kind(env)
    game = env.match.game
    networks = getattr(game, "networks", None)
    setup: dict[str, Any] = {
        "env": kind,
        "games": game.num_games,
        "task": _task_setup(game, getattr(game, "task", None)),
        "loss": [getattr(f, "name", type(f).__name__) for f in game.losses],
        "dtype": str(game.dtype).removeprefix("torch."),
        "fake_mode": getattr(game, "fake_mode", None),
        "parameters": {p: game.size(p) for p in PLAYERS},
        "networks": {p: repr(networks[p].template.module) for p in PLAYERS} if networks else None,
        "buffers": {p: {n: list(b.shape) for n, b in game.buffers[p].items()} for p in PLAYERS},
        "max_steps": getattr(env, "max_steps", None),
        "max_iterations": getattr(env, "max_iterations", None),
        "schedule": [{"cycle": list(s.cycle), "parts": list(s.parts), "simultaneous": s.simultaneous}
                     for s in env.match.schedules],  # fmt: skip
    }
    if game.num_games == 1:  # a lone game reads as it always did
        setup["loss"] = setup["loss"][0]
        setup["schedule"] = setup["schedule"][0]
    return jsonable(setup)


# Setup entries in the order a difference is reported: the cause before its consequences.
_PRIORITY = ("env", "games", "task", "class", "loss", "schedule", "dtype", "fake_mode", "max_steps", "max_iterations",
             "parameters", "networks", "buffers")  # fmt: skip


def _differences(saved: Any, current: Any, where: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        keys = set(saved) | set(current)
        for key in [k for k in _PRIORITY if k in keys] + sorted(keys - set(_PRIORITY)):
            here = f"{where}.{key}" if where else key
            if key not in saved:
                out.append(f"{here}: not in the checkpoint, {_short(current[key])} in the env")
            elif key not in current:
                out.append(f"{here}: {_short(saved[key])} in the checkpoint, not in the env")
            else:
                out.extend(_differences(saved[key], current[key], here))
        return out
    return [] if saved == current else [f"{where}: {_short(saved)} in the checkpoint, {_short(current)} here"]


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_update_rule(rule: Any) -> bool:
    from agents.rules import UpdateRule

    return isinstance(rule, UpdateRule)


def _describe_rule(rule: Any) -> dict[str, Any]:
    hyper = getattr(rule, "hyperparameters", None)
    return {"type": type(rule).__name__, "name": getattr(rule, "name", type(rule).__name__),
            "hyperparameters": jsonable(hyper) if isinstance(hyper, Mapping) else None}  # fmt: skip


def _rule_state(rule: Any, who: str) -> dict[str, Any]:
    out = _describe_rule(rule)
    if callable(getattr(rule, "state_dict", None)) and callable(getattr(rule, "load_state_dict", None)):
        out["custom"] = rule.state_dict()
    elif _is_update_rule(rule):
        out["state"] = rule.state
    else:
        skip = {"_hyperparameters", "name"}
        attributes = {k: v for k, v in vars(rule).items() if k not in skip}
        for k, v in attributes.items():
            try:
                _encode(v, [], k)
            except _Unsupported as error:
                raise CheckpointError(
                    None,
                    f"the {who} rule {type(rule).__name__} keeps {error}; give the rule state_dict() and "
                    "load_state_dict() methods to checkpoint it",
                ) from None
        out["attributes"] = attributes
    return out


def _agents_state(agents: Any) -> dict[str, Any] | None:
    if agents is None:
        return None
    if getattr(agents, "joint", False):
        return {"kind": "joint", "rule": _rule_state(agents, "joint")}
    if isinstance(agents, Mapping):
        return {"kind": "players", "players": {p: _rule_state(agents[p], p) for p in PLAYERS}}
    raise TypeError(f"agents must be {{player: rule}} or one joint rule, got {agents!r}")


def _history_state(history: Any) -> dict[str, Any] | None:
    if history is None:
        return None
    if not dataclasses.is_dataclass(history):
        raise TypeError(f"history must be a minimax.training.loop.History, got {type(history).__name__}")
    return {
        "metrics": {k: np.asarray(v) for k, v in history.metrics.items()},
        "iterations": history.iterations,
        "moves": np.asarray(history.moves),
        "wall_time": history.wall_time,
        "reasons": list(history.reasons()),
        "truncated": history.truncated,
        "diverged_at": np.asarray(history.diverged_at),
        "diverged_player": np.asarray(history.diverged_player),
        "seeds": list(history.seeds),
        "settings": jsonable(history.settings),
    }


# --------------------------------------------------------------------------------------------
# The file.
# --------------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A checkpoint as read by :func:`load` (checked: magic, format version, checksum)."""

    path: Path | None
    iteration: int
    setup: dict[str, Any]
    device: str
    state: dict[str, Any]
    agents: dict[str, Any] | None
    history: Any  # minimax.training.loop.History or None
    extra: dict[str, Any] = field(default_factory=dict)
    run_spec: dict[str, Any] | None = None
    created: float | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, torch.Tensor]:
        """Both players' parameters in every game, ``(N, P)`` CPU tensors."""
        return dict(self.state["match"]["game"]["parameters"])


def save(
    path: str | Path,
    env: Any,
    agents: Any = None,
    history: Any = None,
    extra: Mapping[str, Any] | None = None,
    *,
    run_spec: Mapping[str, Any] | None = None,
) -> Path:
    """Write the whole state of ``env`` (and of ``agents``, ``history``, ``extra``) to ``path``, atomically.

    ``agents`` is ``{player: rule}`` or one joint rule (or None); ``extra`` any plain data
    (numbers, strings, lists, dicts with string keys, tensors, numpy arrays). Returns the path.
    """
    path = Path(path)
    env_kind(env)
    tensors: list[torch.Tensor] = []
    game = env.match.game
    body = {
        "kind": "minimax checkpoint",
        "iteration": int(getattr(history, "iterations", 0) or 0) if history is not None else None,
        "created": time.time(),
        "versions": {"minimax": VERSION, "torch": torch.__version__, "numpy": np.__version__},
        "device": str(game.device),
        "setup": setup_of(env),
        "run_spec": jsonable(run_spec) if run_spec is not None else None,
    }
    try:
        body["state"] = _encode(env.state_dict(), tensors, "state")
        body["agents"] = _encode(_agents_state(agents), tensors, "agents")
        body["history"] = _encode(_history_state(history), tensors, "history")
        body["extra"] = _encode(dict(extra or {}), tensors, "extra")
    except _Unsupported as error:
        raise CheckpointError(path, f"cannot save: {error}") from None
    if body["iteration"] is None:
        body["iteration"] = env.match.iteration
    _write_framed(path, body, tensors)
    return path


def _write_framed(path: Path, body: dict[str, Any], tensors: list[torch.Tensor]) -> None:
    """The file layout of the module docstring, written atomically."""
    meta = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    blob = buffer.getvalue()
    hasher = hashlib.sha256(meta)
    hasher.update(blob)
    digest = hasher.hexdigest()
    header = {"format": FORMAT_VERSION, "sha256": digest, "meta_bytes": len(meta), "tensor_bytes": len(blob)}
    with atomic_output(path) as file:
        file.write(MAGIC)
        file.write(json.dumps(header).encode() + b"\n")
        file.write(meta)
        file.write(blob)


def save_record(path: str | Path, data: Mapping[str, Any], kind: str) -> Path:
    """Write plain ``data`` (numbers, strings, lists, dicts with string keys, tensors, numpy arrays) as a file of
    ``kind``, in the checkpoints' checked layout (atomic, checksummed, no pickled objects): e.g. a benchmark's
    evaluations kept beside its checkpoints."""
    path = Path(path)
    tensors: list[torch.Tensor] = []
    try:
        body = {"kind": kind, "created": time.time(), "data": _encode(dict(data), tensors, "data")}
    except _Unsupported as error:
        raise CheckpointError(path, f"cannot save: {error}") from None
    _write_framed(path, body, tensors)
    return path


def load_record(path: str | Path, kind: str) -> dict[str, Any]:
    """The data of a file written by :func:`save_record` as ``kind``; a :class:`CheckpointError` for anything else."""
    path = Path(path)
    body, tensors = _read_framed(path)
    try:
        if body.get("kind") != kind:
            raise ValueError(f"a {body.get('kind')!r} file, expected {kind!r}")
        data = decode(body["data"], tensors)
        if not isinstance(data, dict):
            raise ValueError("the data is not a mapping")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        raise CheckpointError(path, f"unreadable content ({error})") from None
    return data


def _read_framed(path: Path) -> tuple[dict[str, Any], list[torch.Tensor]]:
    """The JSON body and the tensors of a file in the module docstring's layout, every check done."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a directory, not a checkpoint file (minimax.training.checkpoint.latest finds the newest in one)") from None
    if not data.startswith(MAGIC):
        what = "empty file" if not data else f"starts with {data[:16]!r}"
        raise CheckpointError(path, f"not a minimax checkpoint (bad magic: {what}; expected {MAGIC!r})")
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC) : end]) if end >= 0 else None
        if not isinstance(header, dict):
            raise ValueError
    except ValueError:
        raise CheckpointError(path, "unreadable header (the file is damaged or truncated)") from None
    version = header.get("format")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise CheckpointError(
            path,
            f"format version {version!r}, this minimax reads version {FORMAT_VERSION}"
            + (" (written by a newer minimax)" if newer else "")
            + (" (written by minimax 0.1, before one engine ran N games: finish that run with minimax 0.1)"
               if version == 1 else ""),
        )
    try:
        m, t, digest = int(header["meta_bytes"]), int(header["tensor_bytes"]), str(header["sha256"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(path, f"header lacks sizes or checksum: {header}") from None
    payload = data[end + 1 :]
    if len(payload) != m + t:
        raise CheckpointError(
            path, f"truncated or padded: {len(payload)} bytes after the header, the header says {m + t}"
        )
    actual = hashlib.sha256(payload).hexdigest()
    if actual != digest:
        raise CheckpointError(path, f"checksum mismatch (sha256 {actual[:16]}..., header says {digest[:16]}...): the file is corrupt")
    try:
        body = json.loads(payload[:m])
        if not isinstance(body, dict):
            raise ValueError("the meta section is not a JSON object")
    except ValueError as error:
        raise CheckpointError(path, f"unreadable content ({error})") from None
    try:  # the restricted unpickler: tensors and plain containers only, nothing that runs code
        tensors = torch.load(io.BytesIO(payload[m:]), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(path, "the tensor section holds objects other than tensors, which are never loaded "
                              f"(nothing read from disk may run code): {first[:160]}") from None  # fmt: skip
    except Exception as error:  # a damaged archive: zipfile, struct, key errors ... all mean the same here
        raise CheckpointError(path, f"unreadable tensor section ({type(error).__name__}: {str(error)[:160]})") from None
    if not isinstance(tensors, list) or not all(isinstance(x, torch.Tensor) for x in tensors):
        raise CheckpointError(path, "unreadable content (the tensor section is not a list of tensors)")
    return body, tensors


def load(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint file (magic, format version, size, checksum); nothing is applied yet."""
    path = Path(path)
    body, tensors = _read_framed(path)
    try:
        if body.get("kind") != "minimax checkpoint":
            raise ValueError(f"kind {body.get('kind')!r}")
        state = decode(body["state"], tensors)
        agents = decode(body["agents"], tensors)
        history = _history_from(decode(body["history"], tensors))
        extra = decode(body["extra"], tensors)
        return Checkpoint(
            path=path, iteration=int(body["iteration"]), setup=body["setup"], device=body["device"], state=state,
            agents=agents, history=history, extra=extra, run_spec=body.get("run_spec"), created=body.get("created"),
            versions=body.get("versions", {}),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as error:
        raise CheckpointError(path, f"unreadable content ({type(error).__name__}: {error})") from None


def _history_from(saved: dict[str, Any] | None) -> Any:
    if saved is None:
        return None
    from minimax.training.history import History

    return History(
        metrics={k: np.asarray(v) for k, v in saved["metrics"].items()},
        iterations=int(saved["iterations"]),
        moves=np.asarray(saved["moves"]),
        wall_time=float(saved["wall_time"]),
        termination_reasons=[None if r is None else str(r) for r in saved["reasons"]],
        truncated=bool(saved["truncated"]),
        settings=dict(saved["settings"]),
        diverged_at=np.asarray(saved["diverged_at"]),
        diverged_player=np.asarray(saved["diverged_player"]),
        seeds=[int(x) for x in saved["seeds"]],
    )


# --------------------------------------------------------------------------------------------
# Restore.
# --------------------------------------------------------------------------------------------


def _fit(template: Any, saved: Any, where: str, device: torch.device) -> Any:
    """``saved`` (as read back) in the structure of ``template`` (a fresh state of the same rule)."""
    if isinstance(template, torch.Tensor):
        if not isinstance(saved, torch.Tensor):
            raise CheckpointError(None, f"{where}: the checkpoint has {type(saved).__name__}, this rule a tensor")
        if saved.shape != template.shape or saved.dtype != template.dtype:
            raise CheckpointError(
                None, f"{where}: the checkpoint has a {saved.dtype} tensor of shape {list(saved.shape)}, this rule "
                f"a {template.dtype} tensor of shape {list(template.shape)}",
            )  # fmt: skip
        return saved.to(template.device, copy=True)
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        name = type(template).__name__
        if not isinstance(saved, Record) or saved.name != name or list(saved.fields) != list(template._fields):
            got = f"{saved.name}{tuple(saved.fields)}" if isinstance(saved, Record) else type(saved).__name__
            raise CheckpointError(None, f"{where}: the checkpoint has {got}, this rule {name}{tuple(template._fields)}")
        return type(template)(*[_fit(getattr(template, k), saved.fields[k], f"{where}.{k}", device) for k in template._fields])
    if isinstance(template, (tuple, list)):
        if not isinstance(saved, (tuple, list)) or len(saved) != len(template):
            raise CheckpointError(None, f"{where}: the checkpoint's state has another structure than this rule's")
        return type(template)(_fit(t, s, f"{where}[{i}]", device) for i, (t, s) in enumerate(zip(template, saved)))
    if isinstance(template, Mapping):
        if not isinstance(saved, Mapping) or set(saved) != set(template):
            raise CheckpointError(None, f"{where}: the checkpoint's state has other entries than this rule's")
        return {k: _fit(template[k], saved[k], f"{where}.{k}", device) for k in template}
    if template is None and saved is not None or template is not None and saved is None:
        raise CheckpointError(None, f"{where}: the checkpoint's state has another structure than this rule's")
    return saved


def _loose(saved: Any, device: torch.device, current: Any = None) -> Any:
    """Saved plain data for attributes without a template: tensors go where the current value is
    (else to the game's device), NamedTuples are rebuilt from a current value of the same type."""
    if isinstance(saved, torch.Tensor):
        return saved.to(current.device if isinstance(current, torch.Tensor) else device, copy=True)
    if isinstance(saved, Record):
        if isinstance(current, tuple) and type(current).__name__ == saved.name:
            return type(current)(**{k: _loose(v, device, getattr(current, k, None)) for k, v in saved.fields.items()})
        raise CheckpointError(None, f"cannot rebuild a {saved.name} without a current value of that type")
    if isinstance(saved, torch.device):
        return device if saved.type == device.type else saved
    if isinstance(saved, (tuple, list)):
        cur = current if isinstance(current, (tuple, list)) and len(current) == len(saved) else [None] * len(saved)
        return type(saved)(_loose(v, device, c) for v, c in zip(saved, cur))
    if isinstance(saved, dict):
        cur = current if isinstance(current, Mapping) else {}
        return {k: _loose(v, device, cur.get(k)) for k, v in saved.items()}
    return saved


def _plan_rule(rule: Any, saved: dict[str, Any], who: str, env: Any) -> Any:
    """Check ``saved`` against ``rule`` and return a function that applies it (nothing changes yet)."""
    mine = _describe_rule(rule)
    for key, label in (("type", "type"), ("name", "name"), ("hyperparameters", "hyper-parameters")):
        if saved.get(key) != mine[key]:
            raise CheckpointError(
                None,
                f"the {who} rule differs: the checkpoint has {saved.get('name')} {label} "
                f"{_short(saved.get(key), 200)}, this run {_short(mine[key], 200)}",
            )
    game = env.match.game
    device = game.device
    if "custom" in saved:
        if not callable(getattr(rule, "load_state_dict", None)):
            raise CheckpointError(None, f"the {who} rule was saved with state_dict(); {type(rule).__name__} has no load_state_dict()")
        data = _loose(saved["custom"], device)
        return lambda: rule.load_state_dict(data)
    if "state" in saved:
        if not _is_update_rule(rule):
            raise CheckpointError(None, f"the {who} rule was an UpdateRule, this one is a {type(rule).__name__}")
        if saved["state"] is None:
            return rule.reset
        params = game.parameters(who)
        params = params if env.kind == "vector" else params[0]  # a lone view's rules see (P,) vectors
        with torch.no_grad():
            state = _fit(rule.init(params), saved["state"], f"{who} rule state", device)
        return lambda: rule.set_state(state, params)
    attributes = {k: _loose(v, device, getattr(rule, k, None)) for k, v in saved.get("attributes", {}).items()}
    unknown = [k for k in attributes if not hasattr(rule, k)]
    if unknown:
        raise CheckpointError(None, f"the {who} rule {type(rule).__name__} has no attribute(s) {unknown} saved in the checkpoint")
    return lambda: [setattr(rule, k, v) for k, v in attributes.items()]


def _plan_agents(agents: Any, saved: dict[str, Any] | None, env: Any) -> list[Any]:
    if agents is None:
        return []
    if saved is None:
        raise CheckpointError(None, "the checkpoint holds no update-rule state (saved without agents)")
    joint = getattr(agents, "joint", False)
    if joint != (saved["kind"] == "joint"):
        have = "one joint rule" if saved["kind"] == "joint" else "a rule per player"
        raise CheckpointError(None, f"the checkpoint holds {have}, this run has {'one joint rule' if joint else 'a rule per player'}")
    if joint:
        return [_plan_rule(agents, saved["rule"], "joint", env)]
    return [_plan_rule(agents[p], saved["players"][p], p, env) for p in PLAYERS]


def restore(env: Any, agents: Any, checkpoint: Checkpoint | str | Path) -> Checkpoint:
    """Put ``env`` (and ``agents``, if not None) in the state saved in ``checkpoint``.

    Everything is checked before anything changes: a checkpoint of another setup (task,
    networks, loss, schedule, env kind, number of games, dtype), device type, or update rule
    is refused with a :class:`CheckpointError` and leaves ``env`` and ``agents`` as they were.
    Returns the checkpoint (its ``history`` and ``extra`` are the caller's to use).
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load(checkpoint)
    path = checkpoint.path
    try:
        return _restore(env, agents, checkpoint)
    except CheckpointError as error:
        if error.path is None:
            raise CheckpointError(path, error.problem) from None
        raise


def _restore(env: Any, agents: Any, ckpt: Checkpoint) -> Checkpoint:
    current = setup_of(env)
    differences = _differences(ckpt.setup, current)
    if differences:
        shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
        raise CheckpointError(None, f"written for another setup than this env ({shown})")
    device = env.match.game.device
    saved_device = torch.device(ckpt.device)
    if saved_device.type != device.type:
        raise CheckpointError(
            None, f"written on {ckpt.device}, this env is on {device}: random streams cannot move between device types"
        )
    plans = _plan_agents(agents, ckpt.agents, env)  # checked first; applied once the env has taken its state
    try:
        env.load_state_dict(ckpt.state)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise CheckpointError(None, f"the saved env state does not fit this env ({error})") from None
    for apply in plans:
        apply()
    return ckpt


# --------------------------------------------------------------------------------------------
# Checkpoint directories.
# --------------------------------------------------------------------------------------------


def checkpoint_path(directory: str | Path, iteration: int) -> Path:
    """Where :func:`minimax.train` writes the checkpoint of ``iteration`` in ``directory``."""
    return Path(directory) / f"checkpoint-{iteration:09d}{SUFFIX}"


def checkpoints(directory: str | Path) -> list[Path]:
    """The checkpoints in ``directory``, oldest first (by iteration)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest(directory: str | Path) -> Path | None:
    """The newest checkpoint in ``directory`` (by iteration), or None."""
    found = checkpoints(directory)
    return found[-1] if found else None


def load_latest(directory: str | Path, *, set_aside: bool = False) -> Checkpoint | None:
    """The newest checkpoint of ``directory`` that reads back; None when there is none.

    A newer one that fails its checks is reported with a warning and skipped (with
    ``set_aside``, renamed to ``*.corrupt`` so that it is not picked again); when every
    one fails, the error of the newest is raised.
    """
    found = checkpoints(directory)
    errors = []
    for path in reversed(found):
        try:
            ckpt = load(path)
        except CheckpointError as error:
            errors.append(error)
            warnings.warn(f"skipping {error}; trying an older checkpoint", RuntimeWarning, stacklevel=2)
            if set_aside:
                path.replace(path.with_name(path.name + ".corrupt"))
            continue
        return ckpt
    if errors:
        raise errors[0]
    return None


def prune(directory: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints of ``directory``."""
    for path in checkpoints(directory)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)


def clean_partial(directory: str | Path) -> list[Path]:
    """Remove the temporary files that a killed writer left behind (``.checkpoint-*.part``, ``.run.json.*.part``, ...)."""
    directory = Path(directory)
    removed = []
    if directory.is_dir():
        for p in directory.iterdir():
            ours = p.name.startswith((".checkpoint-", ".run.json.", ".metrics.", ".summary.json."))
            if ours and p.name.endswith(".part"):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def describe_run(env: Any, agents: Any, **settings: Any) -> dict[str, Any]:
    """A run spec for a run started from Python (no command line to replay): what it is made of.

    The setup (task class and options, loss, schedule, env kind, dtype, networks), the
    rules' names and hyper-parameters, and ``settings`` (seed, iterations, ...): enough to
    rebuild the env and rules by hand. ``minimax resume`` needs the spec ``minimax train`` writes.
    """
    state = _agents_state(agents)
    rules = None if state is None else (
        {"joint": _describe_rule(agents)} if state["kind"] == "joint"
        else {p: _describe_rule(agents[p]) for p in PLAYERS}
    )  # fmt: skip
    return jsonable({"minimax_run": None, "made_by": "minimax.train (Python)", "setup": setup_of(env), "rules": rules,
                     **settings})  # fmt: skip


def write_run_spec(directory: str | Path, spec: Mapping[str, Any]) -> Path:
    """Write ``spec`` as ``run.json`` in ``directory`` (atomically)."""
    from minimax.training import manifest

    path = Path(directory) / RUN_SPEC
    atomic_write(path, (json.dumps(jsonable(spec), indent=2) + "\n").encode())
    manifest.record(directory, RUN_SPEC)
    return path


def read_run_spec(directory: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a run directory."""
    path = Path(directory) / RUN_SPEC
    try:
        spec = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no run spec (is {directory} a run directory made by minimax train?)") from None
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a run spec must be a JSON object, got {type(spec).__name__}")
    return spec
