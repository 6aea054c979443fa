"""Dropout for recurrent networks: locked (variational) dropout and weight drop (DropConnect).

Both keep one mask for a whole sequence, which is what makes dropout work inside a recurrence
(Gal and Ghahramani 2016; Merity et al. 2017, "Regularizing and Optimizing LSTM Language Models").
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn.utils import parametrize


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence: (B, T, F) -> (B, T, F), the same features of a row dropped at
    every step (Gal and Ghahramani 2016, sec. 4). Inverted scaling: identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.dim() != 3:
            raise ValueError(f"x must have shape (B, T, F), got shape {tuple(x.shape)}")
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p) / (1 - self.p)  # (B, 1, F)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropConnect(nn.Module):
    """A parametrization that drops entries of a weight matrix (Wan et al. 2013), rescaled by 1/(1-p)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, weight: Tensor) -> Tensor:
        return nn.functional.dropout(weight, self.p, self.training)


def weight_drop(cell: nn.Module, p: float = 0.5, names: Sequence[str] = ("weight_hh",)) -> nn.Module:
    """Apply DropConnect to the recurrent weights of ``cell`` (AWD-LSTM, Merity et al. 2017, sec. 2) and
    return the cell. ``Recurrent`` computes the dropped weights once per call, so a whole sequence shares
    one mask; in eval mode the weights are used as they are. ``cell.parametrizations`` holds the original
    weights, and ``torch.nn.utils.parametrize.remove_parametrizations`` undoes it.
    """
    for name in names:
        if not isinstance(getattr(cell, name, None), Tensor):
            raise ValueError(f"{type(cell).__name__} has no weight named {name!r}")
        parametrize.register_parametrization(cell, name, DropConnect(p))
    return cell
