"""Task models: an embedding or input layer, recurrent layers from ``rnnkit.nn``, a head and a loss."""

from rnnkit.models.base import Generator, Output, TaskModel

__all__ = ["Generator", "Output", "TaskModel"]
