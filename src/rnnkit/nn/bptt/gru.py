"""Hand-written BPTT for the GRU in torch's variant (reset gate applied after the recurrent product).

Forward, per step (gx_t = [W_ir x + b_ir + b_hr, W_iz x + b_iz + b_hz, W_in x + b_in] precomputed)::

    [r, z] = sigmoid(gx_t[r, z] + h_{t-1} @ W_hrz^T)             addmm in place, sigmoid
    a_t = W_hn h_{t-1} + b_hn                                    addmm (kept for the backward)
    n = tanh(gx_t[n] + r * a_t)                                  addcmul, sigmoid, fix-up (2 sigmoid(2x) - 1)
    h_t = n + z * (h_{t-1} - n)                                  one lerp

Backward: every gradient of a step is dh_t times a factor that does not depend on the recurrence, so all
factors are precomputed for all steps at once (K_n = (1 - z)(1 - n^2), K_a = K_n r, K_r = K_a a (1 - r),
K_z = (h_{t-1} - n) z (1 - z), and z for the direct path) and each step is three ops::

    dh_t = dy_t + dgh_{t+1} @ W_perm + z_{t+1} dh_{t+1}           addmm, add
    [da, dr, dz, dn, z dh_t] = dh_t K_t                          one broadcast mul, in place

The gradient buffer's slots are ordered (a, r, z, n, carry) so that (a, r, z) is the recurrent product's
operand (W_hh's rows permuted to n, r, z to match) and (r, z, n) is dL/dgx, both without copies.

Padded steps: z is set to 1, which makes lerp return h_{t-1} exactly and every factor but the carry zero,
so the backward needs no mask at all.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.nn.bptt.capture import record_state_grads
from rnnkit.nn.bptt.common import consumable, grad_outputs, outputs, sigmoid_to_tanh_, step_masks


def gru_sequence(
    gx: Tensor, h0: Tensor, w_hh: Tensor, b_hn: Tensor | None = None, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Run a GRU recurrence over precomputed input pre-activations.

    ``gx`` (T, B, 3H), time-major, gate order (r, z, n), with b_ir + b_hr, b_iz + b_hz and b_in folded in
    (``GRUCell.project_input``); ``h0`` (B, H); ``w_hh`` (3H, H); ``b_hn`` (H,) or None; ``mask`` (B, T)
    bool or None. Returns y (B, T, H), zero at padded steps, and the final h. ``gx`` is consumed (see
    :mod:`rnnkit.nn.bptt.common`).
    """
    y, h, _ = _GRUSequence.apply(consumable(gx), h0, w_hh, b_hn, mask)
    return y, h


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hn, mask):
        T, B, G = gx.shape
        H = G // 3
        m, pad = step_masks(mask, gx.dtype)
        hs = gx.new_empty(T + 1, B, H)  # hs[0] = h0, hs[t + 1] = h_t
        hs[0] = h0
        a2 = gx.new_empty(T, B, H)  # 2 (W_hn h_{t-1} + b_hn): doubled for the tanh-by-sigmoid
        _forward_loop(gx.view(T, B, 3, H), hs, a2, w_hh, b_hn, pad)  # gx becomes r, z, n
        ctx.save_for_backward(gx, hs, a2, w_hh, m)
        ctx.has_bias = b_hn is not None
        ctx.mark_dirty(gx)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(gx)
        return outputs(hs[1:], m), hs[T].clone(), gx

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_last, _):
        gates, hs, a2, w_hh, m = ctx.saved_tensors
        T, B, H = a2.shape
        dg = _factors(gates.view(T, B, 3, H), hs[:-1], a2)
        w_perm = torch.cat([w_hh[2 * H :], w_hh[: 2 * H]])  # rows n, r, z: the order of dg's first slots
        dh = dg.new_empty(T, B, H)  # dL/dh_t
        _backward_loop(grad_outputs(dy, m, hs[1:]), dh_last, dg, dh, w_perm)
        record_state_grads(dh)
        flat = dg.view(T, B, 5 * H)
        dgh = flat[:, :, : 3 * H].reshape(T * B, 3 * H)  # a view: rows of stride 5H
        dh0 = torch.addmm(dg[0, :, 4], dgh[:B], w_perm)
        dw = dgh.t() @ hs[:-1].reshape(T * B, H)
        dw_hh = torch.cat([dw[H:], dw[:H]])
        db_hn = dg[:, :, 0].sum((0, 1)) if ctx.has_bias else None
        return flat[:, :, H : 4 * H], dh0, dw_hh, db_hn, None


def _forward_loop(gates: Tensor, hs: Tensor, a2: Tensor, w_hh: Tensor, b_hn: Tensor | None, pad) -> None:
    """Turn gates (holding gx) into the activations r, z, n and fill hs and a2, step by step, in place."""
    T, B, _, H = gates.shape
    rz = gates.view(T, B, 3 * H)[:, :, : 2 * H]
    r, z, n = gates.unbind(2)
    n.mul_(2)  # doubled pre-activation: tanh(x) = 2 sigmoid(2x) - 1
    w_rz_t, w_n2_t = w_hh[: 2 * H].t(), (2 * w_hh[2 * H :]).t()
    b_hn2 = None if b_hn is None else 2 * b_hn
    minus_one = gates.new_tensor(-1.0)
    addmm, lerp, maximum, mm = torch.addmm, torch.lerp, torch.maximum, torch.mm
    for t in range(T):
        h = hs[t]
        rz_t = rz[t].addmm_(h, w_rz_t)
        a_t = mm(h, w_n2_t, out=a2[t]) if b_hn2 is None else addmm(b_hn2, h, w_n2_t, out=a2[t])
        rz_t.sigmoid_()
        if pad is not None:
            maximum(z[t], pad[t], out=z[t])  # padded: z = 1, so h_t = lerp(n, h, 1) = h exactly
        n_t = n[t].addcmul_(r[t], a_t).sigmoid_()
        lerp(sigmoid_to_tanh_(n_t, minus_one), h, z[t], out=hs[t + 1])


def _factors(gates: Tensor, h_prev: Tensor, a2: Tensor) -> Tensor:
    """(T, B, 5, H) buffer of the factors that turn dh_t into [da, dr, dz, dn, carry], all steps at once."""
    r, z, n = gates.unbind(2)
    T, B, H = a2.shape
    dg = a2.new_empty(T, B, 5, H)
    k_a, k_r, k_z, k_n, carry = dg.unbind(2)
    torch.addcmul(z, z, z, value=-1, out=k_z).mul_(h_prev - n)  # (h_{t-1} - n) z (1 - z)
    torch.mul(n, n, out=k_n).neg_().add_(1).mul_(1 - z)  # (1 - n^2)(1 - z): dn_pre / dh_t
    torch.mul(k_n, r, out=k_a)  # da_t = dn_pre r
    torch.mul(k_a, torch.addcmul(a2, a2, r, value=-1, out=k_r), out=k_r).mul_(0.5)  # dn_pre a (1 - r) r
    carry.copy_(z)
    return dg


def _backward_loop(dy: Tensor, dh_last: Tensor, dg: Tensor, dh: Tensor, w_perm: Tensor) -> None:
    """Turn dg's factors into gradients and fill dh (dL/dh_t), last step first."""
    T, B, _, H = dg.shape
    dgh = dg.view(T, B, 5 * H)[:, :, : 3 * H]  # (T, B, 3H), rows of stride 5H: the matmul operand
    carry = dg[:, :, 4]
    addmm = torch.addmm
    torch.add(dy[T - 1], dh[0].new_zeros(()) if dh_last is None else dh_last, out=dh[T - 1])
    for t in range(T - 1, -1, -1):
        dh_t = dh[t]
        if t < T - 1:
            addmm(dy[t], dgh[t + 1], w_perm, out=dh_t).add_(carry[t + 1])
        dg[t].mul_(dh_t.unsqueeze(1))
