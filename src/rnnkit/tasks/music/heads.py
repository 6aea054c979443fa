"""Output heads for polyphonic piano rolls: from a model's vector h (D) at one step, the distribution of the
next frame v in {0, 1}^P (P pitches, multi-hot, pitch 0 the lowest).

- ``SigmoidHead``: independent Bernoullis, p(v_i = 1 | h) = sigmoid(b_i + (B h)_i). Cheap, but the notes of
  a frame are correlated only through h, so it cannot say "this chord or that one, not a mix of both".
- ``JointHead``: a NADE (Larochelle & Murray 2011) over the pitches of the frame, low to high, whose biases
  depend on h as in RNN-NADE (Boulanger-Lewandowski, Bengio & Vincent 2012):

      p(v | h) = prod_i p(v_i | v_<i, h)
      a_1 = c + C h,    a_{i+1} = a_i + W[:, i] v_i
      p(v_i = 1 | v_<i, h) = sigmoid(b_i + (B h)_i + V_i . sigmoid(a_i))

  W (hidden, P - 1) and V (P, hidden) are shared by all steps; only the biases follow h, as in the paper.
  Teacher-forced ``nll`` computes every a_i at once with a cumulative sum; ``sample`` goes pitch by pitch.

Both heads give ``nll`` in nats per frame and ``sample`` frames of 0.0/1.0, over any leading dims.

>>> head = JointHead(256, 88)
>>> nats = head.nll(h, frames)                                  # (B, T, 256), (B, T, 88) -> (B, T)
>>> frame = head.sample(h[:, -1], temperature=0.8, generator=g)  # (B, 88)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _draw(logits: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
    """0.0/1.0 draws from Bernoulli(sigmoid(logits / temperature)); temperature 0 takes 1 iff p > 1/2."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return (logits > 0).to(logits.dtype)
    return torch.bernoulli(torch.sigmoid(logits / temperature), generator=generator)


class _FrameHead(nn.Module):
    """What both heads share: ``out``, the linear map h -> b + B h to one logit per pitch."""

    out: nn.Linear

    def set_frequencies(self, p: Tensor) -> None:
        """Set the output bias b to logit(p), p (P,) each pitch's frequency clamped to [1e-4, 1 - 1e-4], so an
        untrained head sounds each pitch about as often as the training data does."""
        if p.shape != self.out.bias.shape:
            raise ValueError(f"expected {self.out.bias.numel()} frequencies, got shape {tuple(p.shape)}")
        with torch.no_grad():
            self.out.bias.copy_(torch.logit(p.to(self.out.bias).clamp(1e-4, 1 - 1e-4)))


class SigmoidHead(_FrameHead):
    """``SigmoidHead(in_features, pitches)``: each pitch an independent Bernoulli given h."""

    def __init__(self, in_features: int, pitches: int):
        super().__init__()
        self.out = nn.Linear(in_features, pitches)
        nn.init.zeros_(self.out.bias)  # p = 1/2 for h = 0, until set_frequencies

    def nll(self, h: Tensor, frames: Tensor) -> Tensor:
        """h (..., D), frames (..., P) of 0/1 -> (...) -log p(frames | h) in nats."""
        logits = self.out(h)
        return F.binary_cross_entropy_with_logits(logits, frames.to(logits.dtype), reduction="none").sum(-1)

    @torch.no_grad()
    def sample(self, h: Tensor, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """h (..., D) -> (..., P) frames of 0.0/1.0, logits divided by ``temperature``; 0 is greedy."""
        return _draw(self.out(h), temperature, generator)


class JointHead(_FrameHead):
    """``JointHead(in_features, pitches, hidden=128)``: a NADE over the frame's pitches, low to high, with
    biases b + B h and c + C h; ``hidden`` is the width of the NADE's hidden layer."""

    def __init__(self, in_features: int, pitches: int, hidden: int = 128):
        super().__init__()
        self.out = nn.Linear(in_features, pitches)       # b + B h
        self.hidden_in = nn.Linear(in_features, hidden)  # c + C h = a_1
        # small W and V keep an untrained head close to a SigmoidHead: V_i . sigmoid(a_i) has a spread of about
        # 0.005 sqrt(hidden), 0.06 at 128. W has no column for the last pitch, which conditions nothing.
        self.W = nn.Parameter(0.01 * torch.randn(hidden, pitches - 1))
        self.V = nn.Parameter(0.01 * torch.randn(pitches, hidden))
        nn.init.zeros_(self.out.bias)

    def _logits(self, h: Tensor, frames: Tensor) -> Tensor:
        """Teacher-forced: h (..., D), frames (..., P) -> (..., P) logits of p(v_i = 1 | v_<i = frames_<i, h)."""
        v = frames.to(h.dtype)
        a_1 = self.hidden_in(h).unsqueeze(-2)           # (..., 1, H)
        steps = v[..., :-1, None] * self.W.T            # (..., P-1, H): W[:, i] v_i
        a = torch.cat([a_1, a_1 + steps.cumsum(-2)], -2)  # (..., P, H): a_i for every pitch at once
        return self.out(h) + (torch.sigmoid(a) * self.V).sum(-1)

    def nll(self, h: Tensor, frames: Tensor) -> Tensor:
        """h (..., D), frames (..., P) of 0/1 -> (...) -log p(frames | h) in nats, all pitches in parallel."""
        logits = self._logits(h, frames)
        return F.binary_cross_entropy_with_logits(logits, frames.to(logits.dtype), reduction="none").sum(-1)

    @torch.no_grad()
    def sample(self, h: Tensor, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """h (..., D) -> (..., P) frames of 0.0/1.0 drawn pitch by pitch, each conditional's logit divided by
        ``temperature``; 0 is greedy (each pitch on iff its conditional p > 1/2 given the pitches below)."""
        bias = self.out(h)     # (..., P)
        a = self.hidden_in(h)  # (..., H): a_1
        pitches = []
        for i in range(bias.shape[-1]):
            v_i = _draw(bias[..., i] + torch.sigmoid(a) @ self.V[i], temperature, generator)  # (...)
            if i < self.W.shape[1]:
                a = a + v_i.unsqueeze(-1) * self.W[:, i]
            pitches.append(v_i)
        return torch.stack(pitches, -1)
