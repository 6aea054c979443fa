"""The plain-PyTorch reference for ``rnnkit bench quality lm --torch-baseline``: a character LSTM written
the way a practitioner would without rnnkit (``torch.nn.LSTM``, Adam 2e-3, batch 32, 128-step truncated
BPTT with carried state, dropout 0.2, the last 10% of the characters for validation)."""

from __future__ import annotations

import time

import torch
from torch import nn


class _PlainLM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, layers, batch_first=True, dropout=0.2)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, h=None):
        y, h = self.rnn(self.emb(x), h)
        return self.head(y), h


def _streams(d: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    m = (len(d) - 1) // batch
    return d[: m * batch].view(batch, m), d[1 : m * batch + 1].view(batch, m)


def train_plain_lstm(path: str, minutes: float, *, hidden: int = 512, layers: int = 2, quick: bool = False) -> dict:
    """Train for ``minutes`` of wall time; returns the validation loss in nats per character."""
    from rnnkit.data.corpus import read_text

    if quick:
        hidden, layers = 32, 1
    torch.manual_seed(0)
    text = read_text(path)
    index = {c: i for i, c in enumerate(sorted(set(text)))}
    data = torch.tensor([index[c] for c in text])
    n = int(0.9 * len(data))
    (x, y), (vx, vy) = _streams(data[:n], 32), _streams(data[n:], 32)
    model, steps, tokens = _PlainLM(len(index), hidden, layers), 128, 0
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start, pos, h, updates = time.perf_counter(), 0, None, 0
    while time.perf_counter() - start < 60 * minutes:
        if pos + steps > x.shape[1]:
            pos, h = 0, None
        h = None if h is None else tuple(t.detach() for t in h)
        logits, h = model(x[:, pos : pos + steps], h)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y[:, pos : pos + steps].flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        pos, tokens, updates = pos + steps, tokens + 32 * steps, updates + 1
    seconds = time.perf_counter() - start
    model.eval()
    total, count, h = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, vx.shape[1], steps):
            logits, h = model(vx[:, i : i + steps], h)
            target = vy[:, i : i + steps]
            total += float(nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum"))
            count += target.numel()
    return {"name": "plain torch.nn.LSTM", "minutes": seconds / 60, "tokens_per_s": tokens / seconds,
            "valid": {"loss": total / count}, "config": {"model": f"{layers}x{hidden} lstm", "steps": updates}}
