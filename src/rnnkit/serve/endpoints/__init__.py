"""The endpoints of every task, one module per task; importing this package declares them all.

A new task adds a module here with its ``@endpoint`` and ``@describes`` declarations and one name below.
"""

from rnnkit.serve.endpoints import classify, lm, seq2seq

__all__ = ["classify", "lm", "seq2seq"]
