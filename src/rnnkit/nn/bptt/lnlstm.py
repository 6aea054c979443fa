"""Hand-written BPTT for the layer-normalised LSTM (Ba et al. 2016, sec. 3.1, eq. 20-22).

``LSTMCell(layer_norm=True)`` computes, with gx_t = LN_ih(W_ih x_t) precomputed for all steps::

    gates = gx_t + LN_hh(h_{t-1} @ W_hh^T)            mm, layer_norm, add (LN_hh has a gain, no shift)
    c_t = f * c_{t-1} + i * g                          as in the plain kernel (:mod:`.lstm`)
    m_t = o * tanh(LN_c(c_t)); h_t = m_t [@ W_hr^T]

The step is the plain LSTM's with two layer norms inserted, so it reuses that kernel's layout and its
precomputed factors (``lstm_factors``); the layer norms run as torch's fused ``native_layer_norm`` and
``native_layer_norm_backward`` (one call each per step), and their gains' gradients are one call over all
T*B rows after the loop. tanh is again 2 sigmoid(2x) - 1: the g slot of gx and of LN_hh's gain and both
affine parameters of LN_c are doubled so no extra multiply runs per step.

Chosen by measurement (one training step, 1 thread, CPU time, as a fraction of torch's fused plain
``nn.LSTM``; (T, B, I, H) = (100, 32, 64, 256) / (200, 64, 128, 512)): this kernel 0.73 / 0.66; the
autograd step loop with the input projection hoisted (and gx split once with ``unbind``) 0.70 / 0.61;
that loop with ``torch.compile(cell.step)`` 0.54 at the first shape, after 37 s of compilation.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.nn.bptt.capture import record_state_grads
from rnnkit.nn.bptt.common import consumable, grad_outputs, outputs, sigmoid_to_tanh_, step_masks
from rnnkit.nn.bptt.lstm import lstm_factors, projection_grad

_ln_backward = torch.ops.aten.native_layer_norm_backward


def ln_lstm_sequence(
    gx: Tensor,
    state: tuple[Tensor, Tensor],
    w_hh: Tensor,
    w_hr: Tensor | None,
    ln_hh: torch.nn.LayerNorm,
    ln_c: torch.nn.LayerNorm,
    mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run a layer-norm LSTM recurrence over precomputed ``gx`` (T, B, 4H) = LN_ih(W_ih x), time-major.

    ``ln_hh`` (over 4H, gain only) and ``ln_c`` (over H, gain and shift) are the cell's layer norms; the
    rest is as in :func:`rnnkit.nn.bptt.lstm.lstm_sequence`. ``gx`` is consumed.
    """
    h0, c0 = state
    norms = (ln_hh.weight, ln_c.weight, ln_c.bias, ln_hh.eps, ln_c.eps)
    y, h, c, _ = _LNLSTMSequence.apply(consumable(gx), h0, c0, w_hh, w_hr, *norms, mask)
    return y, (h, c)


class _LNLSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, w_hr, g_hh, g_c, b_c, eps_hh, eps_c, mask):
        T, B, G = gx.shape
        H = G // 4
        m, pad = step_masks(mask, gx.dtype)
        hs = gx.new_empty(T + 1, B, h0.shape[1])  # hs[0] = h0, hs[t + 1] = h_t
        cs = gx.new_empty(T + 1, B, H)
        gh = gx.new_empty(T, B, G)  # h_{t-1} @ W_hh^T, the input of LN_hh
        tc = gx.new_empty(T, B, H)  # tanh(LN_c(c_t))
        ms = gx.new_empty(T, B, H) if w_hr is not None else hs[1:]
        hs[0], cs[0] = h0, c0
        norms = (g_hh, g_c, b_c, eps_hh, eps_c)
        stats = _forward_loop(gx.view(T, B, 4, H), hs, cs, gh, tc, ms, m, w_hh, w_hr, norms)
        ms = ms if w_hr is not None else None
        ctx.save_for_backward(gx, hs, cs, gh, tc, ms, w_hh, w_hr, g_hh, g_c, b_c, m, *stats)
        ctx.mark_dirty(gx)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(gx)
        return outputs(hs[1:], m), hs[T].clone(), cs[T].clone(), gx

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_last, dc_last, _):
        gates, hs, cs, gh, tc, ms, w_hh, w_hr, g_hh, g_c, b_c, m, *stats = ctx.saved_tensors
        T, B, H = tc.shape
        dgates = gates.new_empty(T, B, 4, H)  # di, df, dg, do (pre-activations), contiguous for the norms
        carry = gates.new_empty(T, B, H)  # dc_t * f_t
        factor_a = lstm_factors(gates.view(T, B, 4, H), cs, tc, m, carry, dgates)
        dh = gates.new_empty(T, B, hs.shape[2])  # dL/dh_t
        dchat = gates.new_empty(T, B, H)  # dL/dLN_c(c_t)
        pad = None if m is None else (~m).to(gates.dtype)
        buffers = (dgates, carry, dh, dchat, factor_a, gh, cs, stats)
        dgh = _backward_loop(grad_outputs(dy, m, hs[1:]), dh_last, dc_last, buffers, w_hh, w_hr, g_hh, g_c, pad)
        record_state_grads(dh)
        dgh = dgh.flatten(0, 1)  # (T*B, 4H)
        dh0 = dgh[:B] @ w_hh
        if pad is not None:
            dh0.addcmul_(dh[0], pad[0])
        dw_hh = dgh.t() @ hs[:-1].flatten(0, 1)
        dw_hr = None if w_hr is None else projection_grad(dh, ms, m)
        dgates = dgates.view(T, B, 4 * H)
        dg_hh, dg_c, db_c = _norm_grads(dgates, gh, dchat, cs[1:], stats, g_hh, g_c, b_c)
        return dgates, dh0, carry[0].clone(), dw_hh, dw_hr, dg_hh, dg_c, db_c, None, None, None


def _forward_loop(gates, hs, cs, gh, tc, ms, m, w_hh, w_hr, norms) -> list[Tensor]:
    """Turn gates (holding gx) into activations and fill hs, cs, gh, tc and ms, step by step, in place.

    Returns the norms' statistics: means and 1/std of LN_hh and LN_c, (T, B, 1) each.
    """
    g_hh, g_c, b_c, eps_hh, eps_c = norms
    T, B, _, H = gates.shape
    flat = gates.view(T, B, 4 * H)
    i, f, g, o = gates.unbind(2)
    g.mul_(2)  # doubled g pre-activations (and LN_hh's g gain below): tanh(x) = 2 sigmoid(2x) - 1
    g_hh2 = g_hh * g_hh.new_tensor([1.0, 1.0, 2.0, 1.0]).repeat_interleave(H)
    g_c2, b_c2 = 2 * g_c, 2 * b_c  # LN_c's output feeds tanh only: doubled likewise
    w_t, w_hr_t = w_hh.t(), None if w_hr is None else w_hr.t()
    minus_one = gates.new_tensor(-1.0)
    layer_norm, mm, mul, sigmoid, where = torch.native_layer_norm, torch.mm, torch.mul, torch.sigmoid, torch.where
    stats = []
    for t in range(T):
        normed, mean_hh, rstd_hh = layer_norm(mm(hs[t], w_t, out=gh[t]), (4 * H,), g_hh2, None, eps_hh)
        g_t = g[t]
        flat[t].add_(normed).sigmoid_()
        sigmoid_to_tanh_(g_t, minus_one)
        c = mul(f[t], cs[t], out=cs[t + 1]).addcmul_(i[t], g_t)
        if m is not None:
            where(m[t], c, cs[t], out=c)
        c2, mean_c, rstd_c = layer_norm(c, (H,), g_c2, b_c2, eps_c)
        tc_t = sigmoid_to_tanh_(sigmoid(c2, out=tc[t]), minus_one)  # tanh(LN_c(c_t))
        mul(o[t], tc_t, out=ms[t])
        if w_hr_t is not None:
            mm(ms[t], w_hr_t, out=hs[t + 1])
        if m is not None:
            where(m[t], hs[t + 1], hs[t], out=hs[t + 1])
        stats.append((mean_hh, rstd_hh, mean_c, rstd_c))
    return [torch.stack(s) for s in zip(*stats)]


def _backward_loop(dy, dh_last, dc_last, buffers, w_hh, w_hr, g_hh, g_c, pad) -> Tensor:
    """The backward recurrence, last step first: turns the factors in dgates and carry into gradients, fills
    dh and dchat, and returns dL/d(gh) (T, B, 4H)."""
    dgates, carry, dh, dchat, factor_a, gh, cs, (mean_hh, rstd_hh, mean_c, rstd_c) = buffers
    T, B, _, H = dgates.shape
    by_dc, do, flat = dgates[:, :, :3], dgates[:, :, 3], dgates.view(T, B, 4 * H)
    dm = None if w_hr is None else dh.new_empty(B, H)
    only_input = (True, False, False)
    addmm, mm, mul = torch.addmm, torch.mm, torch.mul
    torch.add(dy[T - 1], dh[0].new_zeros(()) if dh_last is None else dh_last, out=dh[T - 1])
    carry_next, dghs = dh.new_zeros(()) if dc_last is None else dc_last, []
    for t in range(T - 1, -1, -1):
        dh_t = dh[t]
        if t < T - 1:
            addmm(dy[t], dghs[-1], w_hh, out=dh_t)
            if pad is not None:
                dh_t.addcmul_(dh[t + 1], pad[t + 1])
        dm_t = dh_t if dm is None else mm(dh_t, w_hr, out=dm)
        dchat_t = mul(dm_t, factor_a[t], out=dchat[t])
        dc = _ln_backward(dchat_t, cs[t + 1], (H,), mean_c[t], rstd_c[t], g_c, None, only_input)[0]
        dc.add_(carry_next)
        by_dc[t].mul_(dc.unsqueeze(1))
        carry_next = carry[t].mul_(dc)
        do[t].mul_(dm_t)
        dghs.append(_ln_backward(flat[t], gh[t], (4 * H,), mean_hh[t], rstd_hh[t], g_hh, None, only_input)[0])
    return torch.stack(dghs[::-1])


def _norm_grads(dgates, gh, dchat, cs, stats, g_hh, g_c, b_c):
    """Gradients of LN_hh's gain and LN_c's gain and shift: one fused call each over all T*B rows."""
    mean_hh, rstd_hh, mean_c, rstd_c = (s.flatten(0, 1) for s in stats)
    G, H = gh.shape[-1], cs.shape[-1]
    dg_hh = _ln_backward(
        dgates.flatten(0, 1), gh.flatten(0, 1), (G,), mean_hh, rstd_hh, g_hh, None, (False, True, False)
    )[1]
    _, dg_c, db_c = _ln_backward(
        dchat.flatten(0, 1), cs.flatten(0, 1), (H,), mean_c, rstd_c, g_c, b_c, (False, True, True)
    )
    return dg_hh, dg_c, db_c
