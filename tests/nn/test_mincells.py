"""minGRU and minLSTM: the log-space parallel scan (``forward_sequence``) equals stepping (``step``).

References are the cells' own ``step`` methods (the definition) unrolled by ``Recurrent(kernel="step")``,
and a plain loop for :func:`rnnkit.nn.scan.log_scan`. Several tests shrink ``scan.CHUNK`` so that short
sequences cross chunk boundaries and need padding.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch.func import functional_call

from rnnkit.nn import MinGRUCell, MinLSTMCell, Recurrent, length_mask, unroll
from rnnkit.nn import scan as scan_mod
from rnnkit.nn.cells.mingru import d_log_g, g, log_g
from rnnkit.nn.scan import log_scan

CELLS = [MinGRUCell, MinLSTMCell]
F64 = torch.float64


def loop_scan(log_a, log_b, h0, mask=None):
    """The recurrence h_t = a_t h_{t-1} + b_t, one step at a time (the reference for log_scan)."""
    h, out = h0, []
    for t in range(log_a.shape[1]):
        new = log_a[:, t].exp() * h + log_b[:, t].exp()
        h = new if mask is None else torch.where(mask[:, t, None], new, h)
        out.append(h)
    return torch.stack(out, dim=1)


def make_cell(cls, input_size=5, hidden_size=6, seed=0, dtype=F64):
    torch.manual_seed(seed)
    return cls(input_size, hidden_size).to(dtype)


def run_with_grads(layer, x, h0, lengths, w_y, w_h):
    """Outputs, final state and gradients w.r.t. x, h0 and every parameter of one layer."""
    x = x.detach().requires_grad_()
    h0 = h0.detach().requires_grad_()
    y, (h,) = layer(x, (h0,), lengths=lengths)
    loss = (y * w_y).sum() + (h * w_h).sum()
    params = list(layer.parameters())
    grads = torch.autograd.grad(loss, [x, h0, *params])
    return y, h, grads


def assert_layers_agree(cell, x, h0, lengths=None, tol=1e-10):
    scan, step = Recurrent(cell), Recurrent(cell, kernel="step")
    w_y, w_h = torch.randn(x.shape[:2] + (cell.hidden_size,), dtype=x.dtype), torch.randn_like(h0)
    y_s, h_s, g_s = run_with_grads(scan, x, h0, lengths, w_y, w_h)
    assert scan.kernel.startswith("parallel scan (log-space)")
    y_r, h_r, g_r = run_with_grads(step, x, h0, lengths, w_y, w_h)
    assert step.kernel.startswith("reference loop")
    torch.testing.assert_close(y_s, y_r, atol=tol, rtol=tol)
    torch.testing.assert_close(h_s, h_r, atol=tol, rtol=tol)
    for name, a, b in zip(["x", "h0", *dict(cell.named_parameters())], g_s, g_r):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol, msg=lambda m, name=name: f"grad {name}: {m}")


# --- the scan on its own -----------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 4, 5, 13])
@pytest.mark.parametrize("chunk", [1, 4, 64])
def test_log_scan_matches_loop(monkeypatch, steps, chunk):
    monkeypatch.setattr(scan_mod, "CHUNK", chunk)
    torch.manual_seed(steps)
    log_a = torch.nn.functional.logsigmoid(torch.randn(3, steps, 4, dtype=F64)).requires_grad_()
    log_b = torch.randn(3, steps, 4, dtype=F64).requires_grad_()
    h0 = (3 * torch.randn(3, 4, dtype=F64)).requires_grad_()  # mixed signs
    mask = torch.rand(3, steps) < 0.7
    for m in (None, mask):
        got, want = log_scan(log_a, log_b, h0, mask=m), loop_scan(log_a, log_b, h0, m)
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
        w = torch.randn_like(got)
        for a, b in zip(
            torch.autograd.grad((got * w).sum(), [log_a, log_b, h0]),
            torch.autograd.grad((want * w).sum(), [log_a, log_b, h0]),
        ):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_log_scan_gradcheck(monkeypatch):
    monkeypatch.setattr(scan_mod, "CHUNK", 3)  # 7 steps: three chunks, the last one padded
    torch.manual_seed(0)
    log_a = torch.nn.functional.logsigmoid(torch.randn(2, 7, 3, dtype=F64)).requires_grad_()
    log_b = torch.randn(2, 7, 3, dtype=F64).requires_grad_()
    h0 = torch.randn(2, 3, dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(log_scan, (log_a, log_b, h0))
    mask = torch.tensor([[1, 1, 0, 1, 0, 0, 1], [0, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    assert torch.autograd.gradcheck(lambda a, b, h: log_scan(a, b, h, mask=mask), (log_a, log_b, h0))


def test_log_scan_extreme_values_stay_finite():
    """b = 0 (log b = -inf), tiny b, a that forgets at once, and long runs of each: no NaN or Inf."""
    torch.manual_seed(0)
    log_a = torch.nn.functional.logsigmoid(4 * torch.randn(2, 300, 5))
    log_a[:, 100:150] = -60.0  # a = 1e-26: the state is wiped every step
    log_b = torch.randn(2, 300, 5)
    log_b[0, :40] = float("-inf")  # b = 0 from the start: h stays h0 decayed
    log_b[1, 200:] = -1e4
    log_a.requires_grad_(), log_b.requires_grad_()
    h0 = torch.tensor([[-3.0, 0.0, 2.0, -1e-3, 5.0]] * 2, requires_grad=True)
    h = log_scan(log_a, log_b, h0)
    want = loop_scan(log_a.double(), log_b.double(), h0.double())
    torch.testing.assert_close(h.double(), want, atol=1e-5, rtol=1e-4)
    h.square().sum().backward()
    for t in (h, log_a.grad, log_b.grad, h0.grad):
        assert torch.isfinite(t).all()
    assert (log_b.grad[0, :40] == 0).all()  # b = 0 gets no gradient


def test_log_scan_checks_shapes():
    with pytest.raises(ValueError, match=r"\(B, T, H\)"):
        log_scan(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 5))


def test_log_g_is_log_of_g():
    x = torch.cat([torch.linspace(-30, 30, 601, dtype=F64), torch.tensor([0.0], dtype=F64)]).requires_grad_()
    (grad_g,) = torch.autograd.grad(g(x).sum(), x)
    with torch.no_grad():
        torch.testing.assert_close(log_g(x).exp(), g(x))
        torch.testing.assert_close(d_log_g(x), grad_g / g(x))  # d log g = g' / g, also at the kink at 0
    assert torch.isfinite(log_g(torch.tensor([-1e4, 1e4]))).all()


# --- the cells: forward_sequence equals stepping -----------------------------------------------------


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("chunk", [4, 64])
@pytest.mark.parametrize("padded", [False, True])
def test_sequence_equals_step(monkeypatch, cls, chunk, padded):
    monkeypatch.setattr(scan_mod, "CHUNK", chunk)
    cell = make_cell(cls)
    torch.manual_seed(1)
    x = 2 * torch.randn(4, 19, 5, dtype=F64)
    h0 = torch.randn(4, 6, dtype=F64)
    lengths = torch.tensor([19, 11, 4, 1]) if padded else None
    assert_layers_agree(cell, x, h0, lengths)


@pytest.mark.parametrize("cls", CELLS)
def test_sequence_equals_step_with_holes(cls):
    """An arbitrary mask, not only padding at the end: masked steps carry the state, output zero."""
    cell = make_cell(cls)
    torch.manual_seed(2)
    x, h0 = torch.randn(3, 12, 5, dtype=F64), torch.randn(3, 6, dtype=F64)
    mask = torch.rand(3, 12) < 0.6
    mask[2] = False  # a row with no real step keeps h0
    y, (h,) = cell.forward_sequence(x, (h0,), mask=mask)
    y_ref, (h_ref,) = unroll(cell, x, (h0,), mask)
    torch.testing.assert_close(y, y_ref, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(h, h_ref, atol=1e-12, rtol=1e-12)
    assert (y[~mask] == 0).all()
    torch.testing.assert_close(h[2], h0[2])


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("h0_kind", ["negative", "zero"])
def test_sequence_any_initial_state(cls, h0_kind):
    """The h0 term stays out of log space, so h0 <= 0 works (the paper's scan takes log h0)."""
    cell = make_cell(cls)
    torch.manual_seed(3)
    x = torch.randn(2, 9, 5, dtype=F64)
    h0 = -1 - torch.rand(2, 6, dtype=F64) if h0_kind == "negative" else torch.zeros(2, 6, dtype=F64)
    assert_layers_agree(cell, x, h0)


@settings(max_examples=25, deadline=None)
@given(
    cls=hs.sampled_from(CELLS),
    batch=hs.integers(1, 4),
    steps=hs.integers(1, 24),
    chunk=hs.sampled_from([1, 3, 8, 64]),
    scale=hs.sampled_from([0.1, 1.0, 5.0]),
    data=hs.data(),
)
def test_sequence_equals_step_property(cls, batch, steps, chunk, scale, data):
    lengths = torch.tensor(data.draw(hs.lists(hs.integers(1, steps), min_size=batch, max_size=batch)))
    seed = data.draw(hs.integers(0, 2**16))
    cell = make_cell(cls, 3, 4, seed=seed)
    x = scale * torch.randn(batch, steps, 3, dtype=F64)
    h0 = scale * torch.randn(batch, 4, dtype=F64)
    old = scan_mod.CHUNK
    scan_mod.CHUNK = chunk  # hypothesis runs many examples per test call, so no monkeypatch fixture
    try:
        assert_layers_agree(cell, x, h0, lengths)
    finally:
        scan_mod.CHUNK = old


# --- gradcheck ---------------------------------------------------------------------------------------


class Method(torch.nn.Module):
    """``cell.<method>(inp, state, **kwargs)`` as a module's forward, so functional_call can swap in the
    parameters."""

    def __init__(self, cell, method, **kwargs):
        super().__init__()
        self.cell, self.method, self.kwargs = cell, method, kwargs

    def forward(self, inp, state):
        return getattr(self.cell, self.method)(inp, state, **self.kwargs)


def as_function(module):
    """``module(inp, (h0,))`` as a function of (inp, h0, *parameters) -> (out, h), for gradcheck."""
    names = [n for n, _ in module.named_parameters()]

    def fn(inp, h0, *params):
        out, (h,) = functional_call(module, dict(zip(names, params)), (inp, (h0,)))
        return out, h

    return fn, [p.detach().clone().requires_grad_() for p in module.parameters()]


@pytest.mark.parametrize("cls", CELLS)
def test_gradcheck_forward_sequence(monkeypatch, cls):
    monkeypatch.setattr(scan_mod, "CHUNK", 2)
    cell = make_cell(cls, 3, 2)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0]], dtype=torch.bool)
    fn, params = as_function(Method(cell, "forward_sequence", mask=mask))
    x = torch.randn(2, 5, 3, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x, h0, *params))


@pytest.mark.parametrize("cls", CELLS)
def test_gradcheck_step(cls):
    cell = make_cell(cls, 3, 2)
    gx = torch.randn(2, cell.weight_ih.shape[0], dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 2, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda gx, h0: cell.step(gx, (h0,))[0], (gx, h0))
    fn, params = as_function(cell)  # forward = step(project_input(x)): through the weights too
    x = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x, h0, *params))


# --- long sequences ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CELLS)
def test_long_sequence_is_stable_and_accurate(cls):
    """T = 2048 in float32, gates pushed towards saturation: finite values and gradients, and close to
    stepping in float64 (about 1e-5 apart; one unchunked log-space scan drifts by about 1e-3 here)."""
    cell = make_cell(cls, 4, 8, dtype=torch.float32)
    torch.manual_seed(4)
    x = 3 * torch.randn(2, 2048, 4)
    h0 = -2 * torch.ones(2, 8)
    lengths = torch.tensor([2048, 1500])
    layer = Recurrent(cell)
    xg, h0g = x.clone().requires_grad_(), h0.clone().requires_grad_()
    y, (h,) = layer(xg, (h0g,), lengths=lengths)
    (y.sum() + h.sum()).backward()
    for t in (y, h, xg.grad, h0g.grad, *(p.grad for p in cell.parameters())):
        assert torch.isfinite(t).all()
    with torch.no_grad():
        cell64 = make_cell(cls, 4, 8)
        cell64.load_state_dict(cell.state_dict())
        y_ref, _ = unroll(cell64, x.double(), (h0.double(),), length_mask(lengths, 2048))
    torch.testing.assert_close(y.double(), y_ref, atol=5e-5, rtol=5e-5)


@pytest.mark.parametrize("cls", CELLS)
def test_saturated_gates_stay_finite(cls):
    """Pre-activations around +-100: in float32 gates are exactly 0 or 1 (minLSTM's step even divides 0 by 0
    there), the scan stays finite and matches stepping in float64."""
    cell = make_cell(cls, 4, 8, dtype=torch.float32)
    torch.manual_seed(5)
    x = (100 * torch.randn(3, 100, 4)).requires_grad_()
    h0 = torch.randn(3, 8)
    y, (h,) = Recurrent(cell)(x, (h0,))
    (y.sum() + h.sum()).backward()
    for t in (y, h, x.grad, *(p.grad for p in cell.parameters())):
        assert torch.isfinite(t).all()
    with torch.no_grad():
        y_ref, _ = Recurrent(cell.to(F64), kernel="step")(x.double(), (h0.double(),))
    torch.testing.assert_close(y.double(), y_ref, atol=1e-3, rtol=1e-4)
