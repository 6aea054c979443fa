"""Hand-written BPTT for the LSTM, with an optional output projection (Sak et al. 2014).

Forward, per step (gx_t = W_ih x_t + b comes in precomputed for all steps)::

    gates = gx_t + h_{t-1} @ W_hh^T                    one addmm, gates in torch's order i, f, g, o
    i, f, g, o = sigmoid(gates with g doubled)         one sigmoid over all 4H; g = 2 sigmoid(2 g) - 1
    c_t = f * c_{t-1} + i * g                          mul, addcmul
    m_t = o * tanh(c_t); h_t = m_t [@ W_hr^T]          tanh as 2 sigmoid(2c) - 1, mul [, mm]

tanh(x) = 2 sigmoid(2x) - 1 (see ``common.sigmoid_to_tanh_``) lets one sigmoid over the whole gate block
replace three activation calls.

Backward, per step, every factor that does not depend on the recurrence precomputed for all steps at once
(A = o (1 - tanh(c)^2), Q = tanh(c) o (1 - o), P = [f, g i (1 - i), c_{t-1} f (1 - f), i (1 - g^2)])::

    dh_t = dy_t + dgates_{t+1} @ W_hh                  one addmm
    [dm_t = dh_t @ W_hr]                               one mm, projection only
    dc_t = dc_{t+1} f_{t+1} + dm_t A_t                 one addcmul
    [dc_t f_t, di, df, dg] = dc_t P_t                  one broadcast mul: the carry and three gates
    do = dm_t Q_t                                      one mul

The gate-gradient buffer has a slot for the carry dc_t f_t in front of torch's i, f, g, o, so one multiply
fills the four things dc_t drives while the gates stay contiguous for the matrix products. dW_hh and dW_hr
are one matrix product each over all T*B rows.

Padded steps (mask false) carry the state unchanged: forward with ``where``; backward by zeroing A, Q and
P's gate slots, setting the carry factor to 1 and passing dh_t through with one addcmul.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.nn.bptt.capture import record_state_grads
from rnnkit.nn.bptt.common import consumable, grad_outputs, outputs, sigmoid_to_tanh_, step_masks


def lstm_sequence(
    gx: Tensor, state: tuple[Tensor, Tensor], w_hh: Tensor, w_hr: Tensor | None = None, mask: Tensor | None = None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run an LSTM recurrence over precomputed input pre-activations.

    ``gx`` (T, B, 4H), time-major, torch's gate order (i, f, g, o), biases included; ``state``
    (h (B, O), c (B, H)); ``w_hh`` (4H, O); ``w_hr`` (O, H) or None (then O = H); ``mask`` (B, T) bool or
    None. Returns y (B, T, O), zero at padded steps, and the final (h, c).

    ``gx`` is consumed: the kernel overwrites it with the gate activations (saving a copy of the largest
    buffer), so pass a temporary such as ``project_input``'s result. A leaf is copied first.
    """
    h0, c0 = state
    y, h, c, _ = _LSTMSequence.apply(consumable(gx), h0, c0, w_hh, w_hr, mask)
    return y, (h, c)


class _LSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, w_hr, mask):
        T, B, G = gx.shape
        H = G // 4
        m, pad = step_masks(mask, gx.dtype)
        gates = gx.view(T, B, 4, H)  # overwritten in place with the activations i, f, g, o
        hs = gx.new_empty(T + 1, B, h0.shape[1])  # hs[0] = h0, hs[t + 1] = h_t
        cs = gx.new_empty(T + 1, B, H)
        tc = gx.new_empty(T, B, H)  # tanh(c_t)
        ms = gx.new_empty(T, B, H) if w_hr is not None else hs[1:]  # o * tanh(c_t), before any projection
        hs[0], cs[0] = h0, c0
        _forward_loop(gates, hs, cs, tc, ms, w_hh, w_hr, m)
        ctx.save_for_backward(gx, hs, cs, tc, ms if w_hr is not None else None, w_hh, w_hr, m, pad)
        ctx.mark_dirty(gx)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(gx)
        return outputs(hs[1:], m), hs[T].clone(), cs[T].clone(), gx

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_last, dc_last, _):
        gates, hs, cs, tc, ms, w_hh, w_hr, m, pad = ctx.saved_tensors
        T, B, H = tc.shape
        gates = gates.view(T, B, 4, H)
        dg = gates.new_empty(T, B, 5, H)  # slots: dc_t * f_t, then di, df, dg, do (pre-activations)
        factor_a = lstm_factors(gates, cs, tc, m, dg[:, :, 0], dg[:, :, 1:])
        dh = gates.new_empty(T, B, hs.shape[2])  # dL/dh_t
        _backward_loop(grad_outputs(dy, m, hs[1:]), dh_last, dc_last, dg, dh, factor_a, w_hh, w_hr, pad)
        record_state_grads(dh)
        dgates = dg[:, :, 1:].reshape(T * B, 4 * H)  # a view: rows of stride 5H
        dh0 = dgates[:B] @ w_hh  # the first step's gates read h0
        if pad is not None:
            dh0.addcmul_(dh[0], pad[0])
        dw_hh = dgates.t() @ hs[:-1].reshape(T * B, -1)
        dw_hr = None if w_hr is None else projection_grad(dh, ms, m)
        return dgates.view(T, B, 4 * H), dh0, dg[0, :, 0].clone(), dw_hh, dw_hr, None


def _forward_loop(gates, hs, cs, tc, ms, w_hh, w_hr, m) -> None:
    """Turn gates (holding gx) into activations and fill hs, cs, tc and ms, step by step, in place."""
    T, B, _, H = gates.shape
    flat = gates.view(T, B, 4 * H)
    w_t = w_hh.t()
    w_hr_t = None if w_hr is None else w_hr.t()
    i, f, g, o = gates.unbind(2)
    minus_one = gates.new_tensor(-1.0)
    mul, mm, where = torch.mul, torch.mm, torch.where
    for t in range(T):
        flat[t].addmm_(hs[t], w_t)
        g_t = g[t].mul_(2)
        flat[t].sigmoid_()
        sigmoid_to_tanh_(g_t, minus_one)
        c = mul(f[t], cs[t], out=cs[t + 1]).addcmul_(i[t], g_t)
        if m is not None:
            where(m[t], c, cs[t], out=c)
        tc_t = mul(c, 2, out=tc[t]).sigmoid_()
        mul(o[t], sigmoid_to_tanh_(tc_t, minus_one), out=ms[t])
        if w_hr_t is not None:
            mm(ms[t], w_hr_t, out=hs[t + 1])
        if m is not None:
            where(m[t], hs[t + 1], hs[t], out=hs[t + 1])


def lstm_factors(gates: Tensor, cs: Tensor, tc: Tensor, m: Tensor | None, carry: Tensor, dgates: Tensor) -> Tensor:
    """The parts of the backward that do not depend on the recurrence, for all steps at once.

    Fills ``carry`` (T, B, H) with dc_{t-1}/dc_t and ``dgates`` (T, B, 4, H) with the factors that turn
    dc_t into di, df, dg and dm_t into do (pre-activations); the loop multiplies both in place. Returns
    A (T, B, H) = dc_t/dm_t along tanh. At padded steps A = 0, the gate factors are 0 and the carry 1:
    the step is the identity on the state.
    """
    i, f, g, o = gates.unbind(2)
    dc_di, dc_df, dc_dg, dm_do = dgates.unbind(2)
    carry.copy_(f)
    torch.mul(g, torch.addcmul(i, i, i, value=-1, out=dc_di), out=dc_di)  # g i (1 - i)
    torch.mul(cs[:-1], torch.addcmul(f, f, f, value=-1, out=dc_df), out=dc_df)  # c_{t-1} f (1 - f)
    torch.addcmul(i, i, torch.mul(g, g, out=dc_dg), value=-1, out=dc_dg)  # i (1 - g^2)
    torch.mul(tc, torch.addcmul(o, o, o, value=-1, out=dm_do), out=dm_do)  # tanh(c) o (1 - o)
    tc2 = tc * tc
    factor_a = torch.addcmul(o, o, tc2, value=-1, out=tc2)  # o (1 - tanh(c)^2)
    if m is not None:
        factor_a.mul_(m)
        dgates.mul_(m.unsqueeze(3))
        carry.masked_fill_(~m, 1.0)
    return factor_a


def projection_grad(dh: Tensor, ms: Tensor, m: Tensor | None) -> Tensor:
    """dW_hr (O, H) from dL/dh_t (T, B, O) and the unprojected m_t (T, B, H): one matrix product.

    Only real steps apply W_hr; at a padded step dh_t just passes through, so it is masked out here.
    """
    dh = dh if m is None else dh * m
    return dh.flatten(0, 1).t() @ ms.flatten(0, 1)


def _backward_loop(dy, dh_last, dc_last, dg, dh, factor_a, w_hh, w_hr, pad) -> None:
    """Turn dg's factors into gradients (carry and gates) and fill dh (dL/dh_t), last step first."""
    T, B, _, H = dg.shape
    dgates = dg.view(T, B, 5 * H)[:, :, H:]  # (T, B, 4H), rows of stride 5H: the matmul operand
    by_dc, do = dg[:, :, :4], dg[:, :, 4]
    dc = dh.new_empty(B, H)
    dm = None if w_hr is None else dh.new_empty(B, H)
    addcmul, addmm, mm = torch.addcmul, torch.addmm, torch.mm
    torch.add(dy[T - 1], dh[0].new_zeros(()) if dh_last is None else dh_last, out=dh[T - 1])
    carry_next = dh.new_zeros(()) if dc_last is None else dc_last
    for t in range(T - 1, -1, -1):
        dh_t = dh[t]
        if t < T - 1:
            addmm(dy[t], dgates[t + 1], w_hh, out=dh_t)
            if pad is not None:
                dh_t.addcmul_(dh[t + 1], pad[t + 1])
        dm_t = dh_t if dm is None else mm(dh_t, w_hr, out=dm)
        addcmul(carry_next, dm_t, factor_a[t], out=dc)
        carry_next = by_dc[t].mul_(dc.unsqueeze(1))[:, 0]
        do[t].mul_(dm_t)
