"""The hand-written BPTT kernels (``rnnkit.nn.bptt``) against the step loop, autograd and torch.

The reference is each cell's ``step`` unrolled by ``Recurrent(kernel="step")`` with autograd doing the
backward: the definition. The kernels must match it in outputs, final state and every gradient, padded or
not; ``gradcheck`` checks the autograd Functions on their own; the float32 tests hold the kernels (which
compute tanh as 2 sigmoid(2x) - 1) to torch's fused layers.
"""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import GRUCell, LSTMCell, Recurrent, RNNCell
from rnnkit.nn.bptt import capture_state_grads, gru_sequence, lstm_sequence, rnn_sequence
from rnnkit.nn.bptt.lnlstm import _LNLSTMSequence

F64 = torch.float64
B, T, IN, H = 4, 7, 3, 5

VARIANTS = {
    "lstm": lambda: LSTMCell(IN, H),
    "lstm_nobias": lambda: LSTMCell(IN, H, bias=False),
    "lstm_proj": lambda: LSTMCell(IN, H, proj_size=3),
    "lstm_ln": lambda: LSTMCell(IN, H, layer_norm=True),
    "lstm_ln_proj": lambda: LSTMCell(IN, H, layer_norm=True, proj_size=3),
    "gru": lambda: GRUCell(IN, H),
    "gru_nobias": lambda: GRUCell(IN, H, bias=False),
    "rnn_tanh": lambda: RNNCell(IN, H),
    "rnn_relu": lambda: RNNCell(IN, H, nonlinearity="relu"),
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are tiny: on a busy machine, waking torch's thread pool costs more than the math."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_cell(name: str, seed: int = 0, dtype=F64):
    """A cell with every parameter jittered, so layer-norm gains and shifts are not the trivial 1 and 0."""
    torch.manual_seed(seed)
    cell = VARIANTS[name]().to(dtype)
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell


def inputs(cell, seed: int = 1, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, IN, generator=g, dtype=dtype)
    state = tuple(torch.randn(B, n, generator=g, dtype=dtype) for n in cell.state_sizes)
    return x, state


def run(cell, kernel: str, x, state, lengths=None):
    """Outputs, final state and the gradients of a fixed random loss w.r.t. x, the state and every parameter."""
    cell.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    y, final = Recurrent(cell, kernel=kernel)(x, state, lengths=lengths)
    g = torch.Generator().manual_seed(2)
    loss = sum((torch.randn(t.shape, generator=g, dtype=t.dtype) * t).sum() for t in (y, *final))
    loss.backward()
    grads = [x.grad, *(s.grad for s in state), *(p.grad for p in cell.parameters())]
    return y.detach(), [s.detach() for s in final], grads


@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_sequence_kernel_equals_step_loop(name, padded):
    cell = make_cell(name)
    x, state = inputs(cell)
    lengths = torch.randint(1, T + 1, (B,), generator=torch.Generator().manual_seed(3)) if padded else None
    if padded:
        lengths[0] = T  # one full row, and at least one short one
        lengths[1] = 1
    y_ref, final_ref, grads_ref = run(cell, "step", x, state, lengths)
    y, final, grads = run(cell, "reference", x, state, lengths)
    assert "hand-written BPTT" in Recurrent(cell, kernel="reference").kernel
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(final, final_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(grads_ref)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("use", ["outputs", "final_state"])
@pytest.mark.parametrize("name", ["lstm", "lstm_ln", "gru", "rnn_tanh"])
def test_loss_on_part_of_the_results(name, use):
    """The kernels skip materialising unused gradients: a loss on y alone or on the state alone."""
    cell = make_cell(name)
    x, state = inputs(cell)
    grads = []
    for kernel in ("step", "reference"):
        xx = x.clone().requires_grad_()
        y, final = Recurrent(cell, kernel=kernel)(xx, state)
        loss = y.sum() if use == "outputs" else final[0].pow(2).sum()
        grads.append(torch.autograd.grad(loss, [xx, *cell.parameters()]))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "lstm_ln", "gru", "rnn_tanh"])
def test_padded_steps_carry_the_state_exactly(name):
    cell = make_cell(name)
    x, state = inputs(cell)
    lengths = torch.tensor([T, 3, 1, 5])
    with torch.no_grad():
        y, final = Recurrent(cell, kernel="reference")(x, state, lengths=lengths)
        y_cut, final_cut = Recurrent(cell, kernel="reference")(x[1:2, :3], tuple(s[1:2] for s in state))
    assert (y[1, 3:] == 0).all() and (y[2, 1:] == 0).all()
    for a, b in zip(final, final_cut):
        torch.testing.assert_close(a[1:2], b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["lstm", "lstm_proj", "gru", "rnn_tanh", "rnn_relu"])
def test_float32_matches_torch_fused(name):
    cell = make_cell(name, dtype=torch.float32)
    x, state = inputs(cell, dtype=torch.float32)
    lengths = torch.tensor([T, 3, 1, 5])
    y_ref, final_ref, grads_ref = run(cell, "fused", x, state, lengths)
    y, final, grads = run(cell, "reference", x, state, lengths)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip([*final, *grads], [*final_ref, *grads_ref]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_inference_without_grad():
    cell = make_cell("lstm")
    x, state = inputs(cell)
    with torch.no_grad():
        y, final = cell.forward_sequence(x, state)
        y_ref, final_ref = Recurrent(cell, kernel="step")(x, state)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(final[1], final_ref[1])


@pytest.mark.parametrize("name", ["lstm_proj", "lstm_ln", "gru", "rnn_relu"])
def test_backward_twice_with_retained_graph(name):
    """The backward passes only read what the forward saved, so a retained graph gives the same gradients."""
    cell = make_cell(name)
    x, state = inputs(cell)
    x.requires_grad_()
    y, _ = cell.forward_sequence(x, state)
    first = torch.autograd.grad(y.sum(), [x, *cell.parameters()], retain_graph=True)
    second = torch.autograd.grad(y.sum(), [x, *cell.parameters()])
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sequence_kernel_names():
    assert LSTMCell(2, 3).sequence_kernel == "reference loop (hand-written BPTT)"
    assert "layer-norm" in LSTMCell(2, 3, layer_norm=True).sequence_kernel
    assert "hand-written BPTT" in GRUCell(2, 3).sequence_kernel
    assert "hand-written BPTT" in RNNCell(2, 3).sequence_kernel


# --- gradcheck on the autograd Functions themselves (small float64 problems) ---

b, t, h = 2, 3, 3
MASK = torch.tensor([[True, True, True], [True, False, False]])


def leaf(*shape):
    return torch.randn(*shape, dtype=F64, requires_grad=True)


@pytest.mark.parametrize("mask", [None, MASK], ids=["full", "padded"])
@pytest.mark.parametrize("proj", [0, 2], ids=["plain", "proj"])
def test_gradcheck_lstm(proj, mask):
    torch.manual_seed(0)
    o = proj or h
    args = (leaf(t, b, 4 * h), leaf(b, o), leaf(b, h), leaf(4 * h, o), leaf(o, h) if proj else None)

    def fn(gx, h0, c0, w_hh, w_hr):
        y, (hn, cn) = lstm_sequence(gx, (h0, c0), w_hh, w_hr, mask)
        return y, hn, cn

    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("mask", [None, MASK], ids=["full", "padded"])
def test_gradcheck_ln_lstm(mask):
    torch.manual_seed(0)
    args = (leaf(t, b, 4 * h), leaf(b, h), leaf(b, h), leaf(4 * h, h), None, leaf(4 * h), leaf(h), leaf(h))

    def fn(gx, *rest):  # the Function overwrites gx: hand it a copy, as ln_lstm_sequence does
        return _LNLSTMSequence.apply(gx.clone(), *rest, 1e-5, 1e-5, mask)[:3]

    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("mask", [None, MASK], ids=["full", "padded"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradcheck_gru(bias, mask):
    torch.manual_seed(0)
    args = (leaf(t, b, 3 * h), leaf(b, h), leaf(3 * h, h), leaf(h) if bias else None)
    assert torch.autograd.gradcheck(lambda *a: gru_sequence(*a, mask), args)


@pytest.mark.parametrize("mask", [None, MASK], ids=["full", "padded"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradcheck_rnn(nonlinearity, mask):
    torch.manual_seed(0)
    args = (leaf(t, b, h), leaf(b, h), leaf(h, h))
    assert torch.autograd.gradcheck(lambda *a: rnn_sequence(*a, nonlinearity, mask), args)


def test_gx_that_is_a_leaf_is_not_overwritten():
    gx = leaf(t, b, 4 * h)
    before = gx.detach().clone()
    lstm_sequence(gx, (leaf(b, h), leaf(b, h)), leaf(4 * h, h))
    assert torch.equal(gx.detach(), before)


# --- capture_state_grads: the per-step dL/dh_t against autograd's ---


def state_grads_by_autograd(cell, x, state):
    """dL/dh_t for every step of the step loop, by retaining the gradient of each h_t."""
    gx = cell.project_input(x)
    hs = []
    for i in range(x.shape[1]):
        y, state = cell.step(gx[:, i], state)
        y.retain_grad()
        hs.append(y)
    loss = (torch.stack(hs, 1) ** 2).sum() + state[-1].sum()
    loss.backward()
    return torch.stack([y.grad for y in hs], 1), loss


@pytest.mark.parametrize("name", ["lstm", "lstm_proj", "lstm_ln", "gru", "rnn_relu"])
def test_capture_state_grads_matches_autograd(name):
    cell = make_cell(name)
    x, state = inputs(cell)
    expected, _ = state_grads_by_autograd(cell, x, state)
    with capture_state_grads() as grads:
        y, final = cell.forward_sequence(x, state)
        ((y**2).sum() + final[-1].sum()).backward()
    assert len(grads) == 1
    assert grads[0].shape == (B, T, cell.output_size)
    torch.testing.assert_close(grads[0], expected, rtol=1e-10, atol=1e-12)


def test_capture_state_grads_nests_and_closes():
    cell = make_cell("gru")
    x, state = inputs(cell)
    with capture_state_grads() as outer:
        with capture_state_grads() as inner:
            cell.forward_sequence(x, state)[0].sum().backward()
        cell.forward_sequence(x, state)[0].sum().backward()
    cell.forward_sequence(x, state)[0].sum().backward()
    assert len(inner) == 1 and len(outer) == 2
    torch.testing.assert_close(inner[0], outer[0])
