"""Hand-written BPTT for the Elman RNN, h_t = act(gx_t + h_{t-1} @ W_hh^T), act tanh or relu.

Forward, per step: one in-place addmm and the activation (tanh as 2 sigmoid(2x) - 1 on doubled inputs,
see ``common.sigmoid_to_tanh_``). Backward, per step, with act'(.) precomputed for all steps at once
(1 - h^2 for tanh, [h > 0] for relu)::

    dh_t = dy_t + dpre_{t+1} @ W_hh          one addmm
    dpre_t = dh_t act'_t                     one mul, in place on the precomputed factor

Padded steps keep h_{t-1} (``where``); their factor is zero and dh_t passes through (one addcmul).
The states are written into gx itself (consumed, see :mod:`rnnkit.nn.bptt.common`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.nn.bptt.capture import record_state_grads
from rnnkit.nn.bptt.common import consumable, grad_outputs, outputs, sigmoid_to_tanh_, step_masks


def rnn_sequence(
    gx: Tensor, h0: Tensor, w_hh: Tensor, nonlinearity: str = "tanh", mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Run an Elman recurrence over precomputed input pre-activations.

    ``gx`` (T, B, H), time-major, both biases included; ``h0`` (B, H); ``w_hh`` (H, H); ``nonlinearity``
    "tanh" or "relu"; ``mask`` (B, T) bool or None. Returns y (B, T, H), zero at padded steps, and the
    final h. ``gx`` is consumed.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    y, h, _ = _RNNSequence.apply(consumable(gx), h0, w_hh, nonlinearity == "tanh", mask)
    return y, h


class _RNNSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, w_hh, tanh, mask):
        m, _ = step_masks(mask, gx.dtype)
        _forward_loop(gx, h0, w_hh, tanh, m)  # gx[t] becomes h_t
        ctx.save_for_backward(gx, h0, w_hh, m)
        ctx.tanh = tanh
        ctx.mark_dirty(gx)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(gx)
        return outputs(gx, m), gx[-1].clone(), gx

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_last, _):
        hs, h0, w_hh, m = ctx.saved_tensors
        T, B, H = hs.shape
        dpre = (1 - hs * hs) if ctx.tanh else (hs > 0).to(hs.dtype)  # act'(pre-activation), in terms of h
        if m is not None:
            dpre.mul_(m)
        pad = None if m is None else (~m).to(hs.dtype)
        dh = hs.new_empty(T, B, H)  # dL/dh_t
        _backward_loop(grad_outputs(dy, m, hs), dh_last, dpre, dh, w_hh, pad)
        record_state_grads(dh)
        dh0 = dpre[0] @ w_hh
        if pad is not None:
            dh0.addcmul_(dh[0], pad[0])
        dw_hh = torch.addmm(dpre[0].t() @ h0, dpre[1:].reshape(-1, H).t(), hs[:-1].reshape(-1, H))
        return dpre, dh0, dw_hh, None, None


def _forward_loop(hs: Tensor, h0: Tensor, w_hh: Tensor, tanh: bool, m: Tensor | None) -> None:
    """Turn hs (holding gx) into the states h_t, step by step, in place."""
    if tanh:
        hs.mul_(2)  # doubled pre-activations: tanh(x) = 2 sigmoid(2x) - 1
    w_t = (2 * w_hh if tanh else w_hh).t()
    minus_one = hs.new_tensor(-1.0)
    where = torch.where
    h = h0
    for t in range(hs.shape[0]):
        h_t = hs[t].addmm_(h, w_t)
        if tanh:
            sigmoid_to_tanh_(h_t.sigmoid_(), minus_one)
        else:
            h_t.relu_()
        if m is not None:
            where(m[t], h_t, h, out=h_t)
        h = h_t


def _backward_loop(dy: Tensor, dh_last: Tensor, dpre: Tensor, dh: Tensor, w_hh: Tensor, pad) -> None:
    """Turn dpre's factors into dL/dpre_t and fill dh (dL/dh_t), last step first."""
    T = dpre.shape[0]
    addmm = torch.addmm
    torch.add(dy[T - 1], dh[0].new_zeros(()) if dh_last is None else dh_last, out=dh[T - 1])
    for t in range(T - 1, -1, -1):
        dh_t = dh[t]
        if t < T - 1:
            addmm(dy[t], dpre[t + 1], w_hh, out=dh_t)
            if pad is not None:
                dh_t.addcmul_(dh[t + 1], pad[t + 1])
        dpre[t].mul_(dh_t)
