"""Pretrained word vectors from a text file (GloVe's format, also word2vec's text format) into an embedding.

Each line is a word and its D numbers, separated by spaces; word2vec's first line ("count dimension")
is skipped. Only the rows of words the codec knows are set, so a large file costs one pass and memory
for the vocabulary alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data.corpus import TextFileError, check_text_file, iter_text


@torch.no_grad()
def load_vectors(path: str | Path, codec, weight: Tensor) -> int:
    """Set the rows of ``weight`` (V, D) whose word (``codec.token(i)``, lowercased if the codec
    lowercases) has a vector in ``path``; the first vector of a word wins. Returns how many rows were set.
    Raises ``TextFileError`` naming the file and line for a vector of the wrong width or a bad number."""
    check_text_file(path)
    lower = bool(getattr(codec, "lowercase", False))
    rows = {codec.token(i): i for i in range(codec.vocab_size)}
    dim, found, line_no = weight.shape[1], set(), 0
    for line in _lines(path):
        line_no += 1
        parts = line.rstrip().split(" ")
        if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            continue  # word2vec's header
        if len(parts) < 2:
            continue
        word = parts[0].lower() if lower else parts[0]
        i = rows.get(word)
        if i is None or i in found:
            continue
        if len(parts) - 1 != dim:
            raise TextFileError(f"{path}:{line_no}: a vector of {len(parts) - 1} numbers; the embedding has {dim} "
                                "(set model.embed_size to match)")
        try:
            weight[i] = torch.tensor([float(v) for v in parts[1:]])
        except ValueError:
            raise TextFileError(f"{path}:{line_no}: not a number in the vector of {parts[0]!r}") from None
        found.add(i)
    return len(found)


def _lines(path: str | Path):
    carry = ""
    for piece in iter_text(path):
        lines = (carry + piece).split("\n")
        carry = lines.pop()
        yield from lines
    if carry:
        yield carry
