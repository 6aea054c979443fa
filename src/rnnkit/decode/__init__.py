"""Decoding from any generator: it needs only ``start(batch) -> State`` and ``step(y_prev, state) -> (logits, state)``.

Imports only ``rnnkit.state`` from the package, so every task model (language model, music, translation,
captioning, forecasting) decodes with the same code.
"""

from rnnkit.decode.beam import Hypothesis, beam_search, beam_stream, greedy_search
from rnnkit.decode.sampling import filter_logits, sample, sample_sequence

__all__ = ["Hypothesis", "beam_search", "beam_stream", "filter_logits", "greedy_search", "sample", "sample_sequence"]
