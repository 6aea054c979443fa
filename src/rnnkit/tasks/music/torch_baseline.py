"""The plain-PyTorch reference of ``rnnkit bench quality music``: a 2x256 ``torch.nn.LSTM`` with independent
sigmoids over the piano roll, written the way a practitioner would without rnnkit (Adam 1e-3, one piece a
batch, gradient norm clipped at 1, dropout 0.3 between the layers; the validation NLL after every pass picks
the pass whose test NLL counts).

It predicts frames 2..T from frames 1..T-1, so its figure leaves out each piece's first frame; the benchmark
gives rnnkit's NLL both ways (all frames, from a silent start frame, as Boulanger-Lewandowski et al. 2012; and
from the second frame, as here) so the two compare exactly.
"""

from __future__ import annotations

import time

import torch
from torch import nn


class _PlainMusic(nn.Module):
    def __init__(self, pitches: int, hidden: int, layers: int):
        super().__init__()
        self.rnn = nn.LSTM(pitches, hidden, layers, batch_first=True, dropout=0.3 if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, pitches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(x)[0])


def train_plain_lstm(splits: dict[str, list[torch.Tensor]], minutes: float, *, hidden: int = 256, layers: int = 2,
                     seed: int = 0) -> dict:
    """Train on ``splits`` (each piece a (T, P) multi-hot frame tensor) for ``minutes`` of wall time; the test
    NLL per predicted frame (nats) at the pass of the best validation NLL, with the passes run."""
    torch.manual_seed(seed)
    pitches = splits["train"][0].shape[1]
    model = _PlainMusic(pitches, hidden, layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    bce = nn.BCEWithLogitsLoss(reduction="sum")

    def nll(split: str) -> float:
        model.eval()
        total, frames = 0.0, 0
        with torch.no_grad():
            for x in splits[split]:
                x = x.unsqueeze(0)
                total += bce(model(x[:, :-1]), x[:, 1:]).item()
                frames += x.shape[1] - 1
        model.train()
        return total / max(frames, 1)

    started, passes, best = time.perf_counter(), 0, (float("inf"), float("nan"), 0)
    usable = [x for x in splits["train"] if x.shape[0] > 1]
    while time.perf_counter() - started < 60 * minutes:
        passes += 1
        for i in torch.randperm(len(usable)).tolist():
            x = usable[i].unsqueeze(0)
            loss = bce(model(x[:, :-1]), x[:, 1:]) / (x.shape[1] - 1)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        valid = nll("valid")
        if valid < best[0]:
            best = (valid, nll("test"), passes)
    return {"valid_loss": best[0], "test_loss": best[1], "best_pass": best[2], "passes": passes,
            "minutes": (time.perf_counter() - started) / 60, "hidden": hidden, "layers": layers}
