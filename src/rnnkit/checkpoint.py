"""Checkpoints: safetensors and JSON, written atomically, loaded without unpickling.

A checkpoint is a directory::

    last/
      meta.json            format, versions, task, config, preprocessor, data, step, metrics, train, created,
                           files, signature (``RunMeta`` is the typed part a run writes)
      model.safetensors    the model's state dict
      trainer.safetensors  optional, for resuming: optimizer moments, RNG states, carried recurrent state
      trainer.json         optional, the JSON-able rest of the trainer's state

``save`` writes a hidden sibling ``.last.tmp-*`` and swaps it in with two renames, so a process killed at
any moment leaves the previous checkpoint or the new one, never a mix (``load`` looks for the previous one
at ``.last.old`` when the kill fell between the renames). Nested structures holding tensors (an optimizer's
state dict, RNG states, a carried state) go through ``pack``: tensors to safetensors, the rest to JSON.

>>> save("runs/x/last", model_state=model.state_dict(), meta={"task": "lm", "config": cfg, "step": 100})
>>> model.load_state_dict(load("runs/x/last").model)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import Tensor

import rnnkit
from rnnkit.files import discard, fsync_dir, read_json, sibling, unique_sibling, write_synced
from rnnkit.packing import pack, pack_optimizer, rng_state, set_rng_state, unpack, unpack_optimizer

__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "CheckpointError", "error_at", "exists", "load", "pack",
           "pack_optimizer", "rng_state", "save", "set_rng_state", "unpack", "unpack_optimizer"]

FORMAT = "rnnkit-checkpoint"
FORMAT_VERSION = 2
META, MODEL, TRAINER_TENSORS, TRAINER_JSON = "meta.json", "model.safetensors", "trainer.safetensors", "trainer.json"
_HEADER = ("format", "format_version", "rnnkit_version", "created", "files", "signature")  # set by save

def _v1_to_v2(meta: dict) -> dict:
    """Version 2 calls the fitted input preparation of a task its ``preprocessor`` (version 1: ``codec``)."""
    out = {key: value for key, value in meta.items() if key != "codec"}
    return {**out, "preprocessor": meta.get("codec")}


_UPGRADES: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}  # format version v -> its meta as a v + 1 one


class CheckpointError(ValueError):
    """A checkpoint or run directory that cannot be used; the message is one line: ``PATH: problem``."""


def error_at(path: Path | str, problem: object) -> CheckpointError:
    """The CheckpointError ``PATH: problem``, with the problem's whitespace (newlines too) squeezed to spaces."""
    return CheckpointError(f"{path}: {' '.join(str(problem).split())}")


@dataclass
class RunMeta:
    """What a run's checkpoint says about the run, beside the weights: the ``task``'s short name, its run
    ``config`` (as a dict), the fitted ``preprocessor`` (its ``to_dict()``), the ``data`` it trained on (None
    for the task's embedded default), and, once trained, the ``step``, the ``metrics`` of the evaluation
    that wrote it and the trainer's ``train`` config."""

    task: str
    config: dict
    preprocessor: dict | None = None
    data: str | None = None
    step: int = 0
    metrics: dict = field(default_factory=dict)
    train: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "config": self.config, "preprocessor": self.preprocessor, "data": self.data,
                "step": self.step, "metrics": self.metrics, "train": self.train}

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any]) -> RunMeta:
        """The run's part of a loaded (upgraded) meta; header keys are left out."""
        return cls(task=meta["task"], config=meta["config"], preprocessor=meta.get("preprocessor"),
                   data=meta.get("data"), step=meta.get("step", 0), metrics=meta.get("metrics") or {},
                   train=meta.get("train"))


@dataclass
class Checkpoint:
    """A loaded checkpoint; ``path`` is where it was found (the aside copy after an interrupted save)."""

    path: Path
    meta: dict  # the whole meta.json, upgraded to FORMAT_VERSION; ``run`` is its typed part
    model: dict[str, Tensor]
    trainer_tensors: dict[str, Tensor] = field(default_factory=dict)  # empty if none or with_trainer=False
    trainer: dict = field(default_factory=dict)

    @property
    def run(self) -> RunMeta:
        return RunMeta.from_dict(self.meta)


def save(
    path: str | os.PathLike,
    *,
    model_state: Mapping[str, Tensor],
    meta: Mapping[str, Any],
    trainer_tensors: Mapping[str, Tensor] | None = None,
    trainer: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory at ``path`` atomically and return ``path``.

    ``meta`` (a ``RunMeta``'s ``to_dict()`` or any mapping) needs ``task`` (str) and ``config`` (dict) and may
    add ``preprocessor`` (default None), ``step``
    (default 0), ``metrics`` (default {}) and any other JSON-able keys; the keys ``format``,
    ``format_version``, ``rnnkit_version``, ``created``, ``files`` and ``signature`` are set here (values
    given for them are replaced, so a loaded meta can be saved again). Tensors are detached, moved to the
    CPU and cloned where safetensors needs it (shared storage, non-contiguous). The trainer files are
    written when ``trainer_tensors`` or ``trainer`` is given.

    Steps: every file goes into a temporary sibling and is fsynced, then the directory; an existing
    checkpoint at ``path`` is renamed to ``.NAME.old``, the new one renamed to ``path``, the parent fsynced
    and the old one removed. One writer per path at a time: leftovers of killed saves are removed here.
    Raises CheckpointError for bad input or when ``path`` holds something other than a checkpoint.
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise error_at(path, "a checkpoint path needs a directory name")
    meta = _complete_meta(path, meta)
    model_bytes = _tensor_bytes(path, model_state)
    files = {MODEL: model_bytes}
    if trainer_tensors is not None or trainer is not None:
        files[TRAINER_TENSORS] = _tensor_bytes(path, trainer_tensors or {})
        files[TRAINER_JSON] = _json_bytes(path, dict(trainer or {}))
    meta["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items() if name != MODEL}
    meta["signature"] = _signature(model_bytes, meta)
    files[META] = _json_bytes(path, meta)  # last: a directory with meta.json was written in full
    if path.exists() and not (_is_checkpoint(path) or (path.is_dir() and not any(path.iterdir()))):
        raise error_at(path, "exists and is not an rnnkit checkpoint; refusing to replace it")
    _swap_in(_write_temporary(path, files), path)
    return path


def _complete_meta(path: Path, meta: Mapping[str, Any]) -> dict:
    if not isinstance(meta, Mapping) or not isinstance(meta.get("task"), str) or not isinstance(
        meta.get("config"), Mapping
    ):
        raise error_at(path, "meta needs 'task' (a string) and 'config' (a dict)")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "rnnkit_version": rnnkit.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    body = {key: value for key, value in meta.items() if key not in _HEADER}
    # Through JSON and back, so the signed meta is exactly what load() will read (tuples, int keys).
    return json.loads(_json_bytes(path, {**header, "preprocessor": None, "step": 0, "metrics": {}, **body}))


def _json_bytes(path: Path, obj: Any) -> bytes:
    try:
        return json.dumps(obj, indent=1).encode()
    except (TypeError, ValueError) as err:
        raise error_at(path, f"not JSON-serializable: {err}") from None


def _tensor_bytes(path: Path, tensors: Mapping[str, Tensor]) -> bytes:
    """safetensors bytes; a second tensor on one storage (tied weights) or a strided view is cloned."""
    ready, storages = {}, set()
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not isinstance(tensor, Tensor):
            raise error_at(path, f"expected str -> Tensor, got {name!r} -> {type(tensor).__name__}")
        tensor = tensor.detach().cpu()
        ptr = tensor.untyped_storage().data_ptr()
        if not tensor.is_contiguous() or (ptr and ptr in storages):
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        storages.add(ptr)
        ready[name] = tensor
    try:
        return save_tensors(ready)
    except (ValueError, RuntimeError, TypeError) as err:
        raise error_at(path, f"cannot write tensors: {err}") from None


def _signature(model_bytes: bytes, meta: Mapping[str, Any]) -> str:
    """SHA-256 over the model file's bytes, then the canonical JSON of the meta without its signature."""
    unsigned = {key: value for key, value in meta.items() if key != "signature"}
    digest = hashlib.sha256(model_bytes)
    digest.update(json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode())
    return "sha256:" + digest.hexdigest()


def _write_temporary(path: Path, files: Mapping[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    for entry in path.parent.iterdir():  # leftovers of saves killed before their swap
        if entry.name.startswith((f".{path.name}.tmp-", f".{path.name}.trash-")):
            shutil.rmtree(entry, ignore_errors=True)
    tmp = unique_sibling(path, "tmp")
    tmp.mkdir()
    try:
        for name, data in files.items():
            write_synced(tmp / name, data)
        fsync_dir(tmp)
    except BaseException:  # a full disk, say: leave no half-written directory behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _swap_in(tmp: Path, path: Path) -> None:
    aside = sibling(path, "old")
    if path.exists():
        # Stale: a save killed after its swap; path itself is complete. The trash is named after path, so
        # the next save's sweep of leftovers removes it if this process dies while deleting it.
        discard(aside, trash=unique_sibling(path, "trash"))
        os.rename(path, aside)  # killed here: path is missing and load() takes the aside copy
    os.rename(tmp, path)
    fsync_dir(path.parent)
    discard(aside, trash=unique_sibling(path, "trash"))


def load(path: str | os.PathLike, *, with_trainer: bool = True) -> Checkpoint:
    """Read, verify and upgrade the checkpoint at ``path``; nothing is unpickled.

    Tensors come back on the CPU. ``with_trainer=False`` skips the trainer files (serving needs only the
    model). Raises CheckpointError, one line naming the path, for: a missing path, a directory without
    meta.json, invalid JSON, a foreign format, a newer format version, a model file that is a pickle, a
    signature mismatch (model.safetensors or meta.json altered or truncated), unparsable tensors, or
    trainer files that do not match the hashes in meta.json.
    """
    where = _locate(Path(path))
    raw = _read_json(where, META, "not an rnnkit checkpoint (no meta.json)")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise error_at(where, f"not an rnnkit checkpoint (format {found!r}, expected {FORMAT!r})")
    try:
        meta = _upgrade(raw)
    except ValueError as err:
        raise error_at(where, err) from None
    model_bytes = _read_bytes(where, MODEL)
    if _looks_pickled(model_bytes):
        raise error_at(where, f"{MODEL} holds a pickle, not safetensors; refusing to unpickle it")
    if raw.get("signature") != _signature(model_bytes, raw):
        raise error_at(where, f"signature mismatch: {MODEL} or {META} was altered or truncated")
    ckpt = Checkpoint(where, meta, _parse_tensors(where, MODEL, model_bytes))
    if with_trainer and raw.get("files"):
        ckpt.trainer_tensors = _parse_tensors(where, TRAINER_TENSORS, _read_verified(where, TRAINER_TENSORS, raw))
        ckpt.trainer = json.loads(_read_verified(where, TRAINER_JSON, raw))
    return ckpt


def exists(path: str | os.PathLike) -> bool:
    """True if ``load(path)`` would find a checkpoint (it is not verified here)."""
    path = Path(path)
    return _is_checkpoint(path) if path.exists() else _is_checkpoint(sibling(path, "old"))


def _is_checkpoint(path: Path) -> bool:
    return (path / META).is_file()


def _locate(path: Path) -> Path:
    if path.exists():
        if not path.is_dir():
            raise error_at(path, "not an rnnkit checkpoint (not a directory)")
        return path
    if _is_checkpoint(sibling(path, "old")):  # a save was killed between its two renames
        return sibling(path, "old")
    if path.exists():  # a save finished meanwhile
        return path
    raise error_at(path, "no such checkpoint")


def _read_bytes(where: Path, name: str) -> bytes:
    try:
        return (where / name).read_bytes()
    except FileNotFoundError:
        raise error_at(where, f"{name} is missing") from None


def _read_json(where: Path, name: str, missing: str | None = None) -> Any:
    try:
        return read_json(where / name)
    except FileNotFoundError:
        raise error_at(where, missing or f"{name} is missing") from None
    except ValueError as err:  # not JSON, or not text
        raise error_at(where, f"{name} is not valid JSON: {err}") from None


def _read_verified(where: Path, name: str, meta: Mapping[str, Any]) -> bytes:
    data = _read_bytes(where, name)
    if hashlib.sha256(data).hexdigest() != meta["files"].get(name):
        raise error_at(where, f"{name} does not match its hash in {META} (altered or truncated)")
    return data


def _looks_pickled(data: bytes) -> bool:
    # Pickle protocol 2+ opens with PROTO (0x80, version); torch.save writes a zip holding a pickle. A
    # safetensors file opens with an 8-byte header length and then "{", which tells the two apart.
    pickled = data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    return data[8:9] != b"{" and (pickled or data[:4] == b"PK\x03\x04")


def _parse_tensors(where: Path, name: str, data: bytes) -> dict[str, Tensor]:
    try:
        return load_tensors(data)  # safetensors: a JSON header and raw bytes, never a pickle
    except Exception as err:  # safetensors raises its own SafetensorError, and others on odd headers
        raise error_at(where, f"{name} is not a valid safetensors file: {err}") from None


def _upgrade(meta: dict) -> dict:
    """Bring a meta of any known format version to FORMAT_VERSION; the one place old formats are read.

    A change of the format adds ``_UPGRADES[v]``: a function from a version-v meta to a version-(v+1) one.
    Raises ValueError for a version this rnnkit does not know (newer, or not a positive integer).
    """
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"unknown format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"format version {version} is newer than rnnkit {rnnkit.__version__} reads ({FORMAT_VERSION});"
            " upgrade rnnkit"
        )
    meta = copy.deepcopy(meta)
    while meta["format_version"] < FORMAT_VERSION:
        meta = {**_UPGRADES[meta["format_version"]](meta), "format_version": meta["format_version"] + 1}
    return meta
