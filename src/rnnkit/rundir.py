"""Run directories: ``runs/NAME/`` with the run's identity, its checkpoints and its metrics log."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rnnkit
from rnnkit.checkpoint import error_at
from rnnkit.files import discard, read_json, write_atomic, write_json_atomic

__all__ = ["RunDir"]


class RunDir:
    """A run directory ``runs/NAME/``: the run's identity, its checkpoints and its metrics log.

    ``run.json`` holds the identity (task and full config); ``last/`` and ``best/`` are checkpoints;
    ``metrics.jsonl`` gets one JSON object per line from ``log``. A missing or empty directory starts a
    fresh run. One that holds a run is refused unless ``resume=True`` (continue it: task and config must be
    equal, ``resumed`` is then True) or ``overwrite=True`` (delete it, start fresh). A non-empty directory
    without run.json is never used. ``resume=True`` on a fresh directory starts fresh.

    >>> run = RunDir("runs/demo", task="lm", config=cfg_dict, resume=True)
    >>> run.log({"step": 100, "loss": 2.31}); save(run.last, ...)
    """

    def __init__(self, path: str | os.PathLike, *, task: str, config: Mapping[str, Any], resume: bool = False,
                 overwrite: bool = False):
        if resume and overwrite:
            raise ValueError("resume=True and overwrite=True exclude each other")
        self.path = Path(path)
        self.last, self.best, self.metrics_path = self.path / "last", self.path / "best", self.path / "metrics.jsonl"
        self.identity = _as_json(self.path, {"task": task, "config": config})
        self.resumed = False
        found = self._existing_identity()
        if found is not None and not overwrite:
            difference = _difference(found, self.identity)
            if difference:
                raise error_at(self.path, f"holds a different run ({difference}); "
                                          "overwrite it (--overwrite) to replace it")
            if not resume:
                raise error_at(self.path, "already holds this run; resume it (--resume) to continue "
                                          "or overwrite it (--overwrite) to start over")
            self.resumed = True
            return
        if found is not None:
            discard(self.path)
        self._create()

    def log(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (JSON-able) to metrics.jsonl as one line."""
        line = json.dumps(dict(record)) + "\n"  # one write: a kill leaves at most one torn last line
        with open(self.metrics_path, "a") as f:
            f.write(line)

    def rewind(self, step: int) -> None:
        """Drop logged records of steps after ``step``: on resume they will be logged again."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def read_metrics(self) -> list[dict]:
        """Every record logged so far; a last line torn by a killed process is skipped."""
        if not self.metrics_path.exists():
            return []
        lines = self.metrics_path.read_text().splitlines()
        if lines and not _is_json(lines[-1]):
            lines.pop()
        return [json.loads(line) for line in lines]

    def _existing_identity(self) -> dict | None:
        if not self.path.exists():
            return None
        if not self.path.is_dir():
            raise error_at(self.path, "exists and is not a directory")
        if not any(self.path.iterdir()):
            return None
        try:
            data = read_json(self.path / "run.json")
        except FileNotFoundError:
            raise error_at(self.path, "not empty and holds no run.json; not an rnnkit run directory") from None
        except ValueError as err:  # not JSON, or not text
            raise error_at(self.path, f"run.json is not valid JSON: {err}") from None
        if not isinstance(data, dict) or data.get("format") != "rnnkit-run":
            raise error_at(self.path, "run.json is not an rnnkit run file")
        return {"task": data.get("task"), "config": data.get("config")}

    def _create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        header = {"format": "rnnkit-run", "format_version": 1, "rnnkit_version": rnnkit.__version__,
                  "created": datetime.now(UTC).isoformat(timespec="seconds")}
        try:  # overwrite=False: of two processes starting a run here at once, the second one fails
            write_json_atomic(self.path / "run.json", {**header, **self.identity}, overwrite=False)
        except FileExistsError:
            raise error_at(self.path, "another process started a run here meanwhile") from None


def _as_json(path: Path, value: Any) -> Any:
    """``value`` as it will read back from run.json (tuples become lists): what a resumed run is compared to."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as err:
        raise error_at(path, f"not JSON-serializable: {err}") from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _difference(old: Any, new: Any, where: str = "") -> str | None:
    """The first place two JSON values differ, as ``"config.model.hidden_size: 128 here, 256 now"``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            here = f"{where}.{key}" if where else key
            if key not in old or key not in new:
                return f"{here} only in the {'new' if key in new else 'existing'} run"
            found = _difference(old[key], new[key], here)
            if found:
                return found
        return None
    return None if old == new else f"{where}: {old!r} here, {new!r} now"
