"""Nested structures holding tensors, split for storage: tensors to safetensors, the rest to JSON.

An optimizer's state dict, RNG states and a carried recurrent state all go through ``pack`` on the way into
a checkpoint and ``unpack`` on the way out; nothing is pickled.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

_MARKERS = ("__tensor__", "__tuple__", "__items__")  # pack's JSON markers


def pack(obj: Any, *, prefix: str) -> tuple[dict[str, Tensor], Any]:
    """Split a nested structure into ``(tensors, data)``: tensors for safetensors, data for JSON.

    ``obj`` nests dicts, lists, tuples, tensors and JSON scalars. Each tensor is named by its place under
    ``prefix`` (``"optimizer.state.0.exp_avg"``) and replaced by ``{"__tensor__": name}``; tuples become
    ``{"__tuple__": [...]}`` and dicts with non-string keys ``{"__items__": [[key, value], ...]}``, so
    ``unpack(tensors, data)`` rebuilds ``obj`` exactly. Give each structure its own prefix and their tensors
    can share one file.

    >>> tensors, data = pack({"h": (torch.zeros(2, 3),)}, prefix="carry")
    >>> list(tensors), data
    (['carry.h.0'], {'h': {'__tuple__': [{'__tensor__': 'carry.h.0'}]}})
    """
    tensors: dict[str, Tensor] = {}

    def encode(value: Any, name: str) -> Any:
        if isinstance(value, Tensor):
            if name in tensors:
                raise ValueError(f"two tensors would both be named {name!r}")
            tensors[name] = value
            return {"__tensor__": name}
        if isinstance(value, tuple | list):
            items = [encode(v, f"{name}.{i}") for i, v in enumerate(value)]
            return {"__tuple__": items} if isinstance(value, tuple) else items
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and k not in _MARKERS for k in value):
                return {k: encode(v, f"{name}.{k}") for k, v in value.items()}
            return {"__items__": [[k, encode(v, f"{name}.{k}")] for k, v in value.items()]}
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise TypeError(f"cannot pack {type(value).__name__} at {name!r}")

    return tensors, encode(obj, prefix)


def unpack(tensors: Mapping[str, Tensor], data: Any) -> Any:
    """The inverse of ``pack``: ``data`` with its markers replaced by tensors, tuples and keyed dicts."""
    if isinstance(data, list):
        return [unpack(tensors, d) for d in data]
    if not isinstance(data, dict):
        return data
    if "__tensor__" in data:
        if data["__tensor__"] not in tensors:
            raise ValueError(f"packed data names a missing tensor {data['__tensor__']!r}")
        return tensors[data["__tensor__"]]
    if "__tuple__" in data:
        return tuple(unpack(tensors, d) for d in data["__tuple__"])
    if "__items__" in data:
        return {k: unpack(tensors, v) for k, v in data["__items__"]}
    return {k: unpack(tensors, v) for k, v in data.items()}


def pack_optimizer(state_dict: Mapping[str, Any], *, prefix: str = "optimizer") -> tuple[dict[str, Tensor], dict]:
    """``optimizer.state_dict()`` -> ``(tensors, data)`` for trainer.safetensors and trainer.json (``pack``)."""
    return pack(state_dict, prefix=prefix)


def unpack_optimizer(tensors: Mapping[str, Tensor], data: Mapping[str, Any]) -> dict:
    """The inverse of ``pack_optimizer``, ready for ``optimizer.load_state_dict``."""
    return unpack(tensors, data)


def rng_state(*, prefix: str = "rng") -> tuple[dict[str, Tensor], dict]:
    """The global random states, packed: torch CPU (and each CUDA device once CUDA is in use), ``random``, numpy.

    >>> tensors, data = rng_state(); a = torch.rand(1); set_rng_state(tensors, data); torch.equal(a, torch.rand(1))
    True
    """
    name, key, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
    }
    if torch.cuda.is_initialized():  # not is_available(): asking would start CUDA in a CPU-only run
        state["cuda"] = torch.cuda.get_rng_state_all()
    return pack(state, prefix=prefix)


def set_rng_state(tensors: Mapping[str, Tensor], data: Mapping[str, Any]) -> None:
    """Restore what ``rng_state`` returned; CUDA states are set for the devices present now."""
    state = unpack(tensors, data)
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)
