"""Decoding from any generator: it needs only ``start(batch) -> State`` and ``step(y_prev, state) -> (logits, state)``.

Imports only ``rnnkit.state`` from the package, so every task model (language model, music, translation,
captioning, forecasting) decodes with the same code.
"""

from rnnkit.decode.sampling import filter_logits, sample, sample_sequence

__all__ = ["filter_logits", "sample", "sample_sequence"]
