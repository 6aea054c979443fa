"""torch's fused RNN kernels (oneDNN or native on CPU, cuDNN on GPU) run on rnnkit's own parameters.

``run_fused`` calls the same functional kernels that ``torch.nn.LSTM/GRU/RNN`` call, for one layer in one
or two directions. Per-row ``lengths`` are handled the way torch does it: the batch is packed, so the
kernel never steps over padding, and the final state of each row is the state after its last real step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.state import State

_KERNELS = {
    "LSTM": torch.lstm,
    "GRU": torch.gru,
    "RNN_TANH": torch.rnn_tanh,
    "RNN_RELU": torch.rnn_relu,
}


def backend(x: Tensor) -> str:
    """The name of the library behind torch's fused RNN kernel for a tensor on this device."""
    if x.is_cuda:
        return "cuDNN" if torch.backends.cudnn.is_available() else "CUDA"
    if torch.backends.mkldnn.is_available() and x.dtype in (torch.float32, torch.bfloat16):
        return "oneDNN"
    return "ATen"


def run_fused(
    mode: str,
    weights: Sequence[Sequence[Tensor]],
    x: Tensor,
    states: Sequence[State],
    lengths: Tensor | None,
    *,
    has_bias: bool,
) -> tuple[Tensor, list[State]]:
    """One fused layer over ``x`` (B, T, I), one entry of ``weights`` and ``states`` per direction.

    Returns outputs (B, T, D*O), the directions concatenated on the last dim as torch does, and the
    final state of each direction. Padded steps of the outputs are zero.
    """
    directions = len(weights)
    flat = [w for ws in weights for w in ws]
    # rnnkit states are (B, S) per direction; torch wants (D, B, S) per state tensor.
    hx = tuple(torch.stack(parts) for parts in zip(*states))
    kernel = _KERNELS[mode]
    hx_arg = hx if mode == "LSTM" else hx[0]
    args = (flat, has_bias, 1, 0.0, torch.is_grad_enabled(), directions == 2)
    if lengths is not None and bool((lengths == x.shape[1]).all()):
        lengths = None  # nothing is padded
    if lengths is None:
        out, *hn = kernel(x, hx_arg, *args, True)
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        hx_arg = _permute(hx_arg, packed.sorted_indices)
        data, *hn = kernel(packed.data, packed.batch_sizes, hx_arg, *args)
        out, _ = pad_packed_sequence(
            PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
            batch_first=True,
            total_length=x.shape[1],
        )
        hn = list(_permute(tuple(hn), packed.unsorted_indices))
    # (D, B, S) per state tensor -> one (B, S) tuple per direction
    return out, [tuple(t[d] for t in hn) for d in range(directions)]


def _permute(hx: Tensor | tuple[Tensor, ...], order: Tensor) -> Tensor | tuple[Tensor, ...]:
    if isinstance(hx, tuple):
        return tuple(t.index_select(1, order) for t in hx)
    return hx.index_select(1, order)
