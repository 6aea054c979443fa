"""Each cell against its torch.nn counterpart with copied weights: outputs and gradients."""

import pytest
import torch
from torch import nn

from rnnkit.nn import GRUCell, LSTMCell, RNNCell

pytestmark = pytest.mark.usefixtures("float64")


def grads(module: nn.Module, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [p.grad.clone() for p in module.parameters()] + [t.grad.clone() for t in tensors]


def run_pair(ours, theirs, x, state):
    """One step of both cells from the same inputs; returns (our outputs, their outputs, our grads, theirs)."""
    results = []
    for cell, is_ours in ((ours, True), (theirs, False)):
        xx = x.clone().requires_grad_()
        ss = tuple(s.clone().requires_grad_() for s in state)
        if is_ours:
            y, new = cell(xx, ss)
        else:
            out = cell(xx, ss if len(ss) > 1 else ss[0])
            new = out if isinstance(out, tuple) else (out,)
        torch.manual_seed(0)
        weights = [torch.randn_like(t) for t in new]
        sum((w * t).sum() for w, t in zip(weights, new)).backward()
        results.append((new, grads(cell, xx, *ss)))
    return results


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: RNNCell(5, 7), lambda: nn.RNNCell(5, 7)),
        (lambda: RNNCell(5, 7, nonlinearity="relu"), lambda: nn.RNNCell(5, 7, nonlinearity="relu")),
        (lambda: RNNCell(5, 7, bias=False), lambda: nn.RNNCell(5, 7, bias=False)),
        (lambda: LSTMCell(5, 7), lambda: nn.LSTMCell(5, 7)),
        (lambda: LSTMCell(5, 7, bias=False), lambda: nn.LSTMCell(5, 7, bias=False)),
        (lambda: GRUCell(5, 7), lambda: nn.GRUCell(5, 7)),
        (lambda: GRUCell(5, 7, bias=False), lambda: nn.GRUCell(5, 7, bias=False)),
    ],
)
def test_cell_matches_torch_cell(ours, theirs):
    torch.manual_seed(1)
    ours, theirs = ours(), theirs()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 5)
    state = tuple(torch.randn(3, n) for n in ours.state_sizes)
    (ys, g_ours), (yt, g_theirs) = run_pair(ours, theirs, x, state)
    for a, b in zip(ys, yt):
        torch.testing.assert_close(a, b)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b)


def test_lstm_projection_step_matches_torch_lstm():
    torch.manual_seed(2)
    theirs = nn.LSTM(5, 8, proj_size=3, batch_first=True)
    ours = LSTMCell(5, 8, proj_size=3)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        getattr(ours, name).data.copy_(getattr(theirs, name + "_l0"))
    x, h, c = torch.randn(2, 5), torch.randn(2, 3), torch.randn(2, 8)
    y, (h1, c1) = ours(x, (h, c))
    yt, (ht, ct) = theirs(x.unsqueeze(1), (h.unsqueeze(0), c.unsqueeze(0)))
    torch.testing.assert_close(y, yt[:, 0])
    torch.testing.assert_close(c1, ct[0])
    assert ours.state_sizes == (3, 8) and y.shape == (2, 3)


def test_forget_bias_is_added_to_the_forget_slice_only():
    torch.manual_seed(3)
    a = LSTMCell(4, 6, forget_bias=0.0)
    torch.manual_seed(3)
    b = LSTMCell(4, 6, forget_bias=1.0)
    delta = b.bias_ih - a.bias_ih
    torch.testing.assert_close(delta[6:12], torch.ones(6))
    assert not delta[:6].any() and not delta[12:].any()
    torch.testing.assert_close(b.bias_hh, a.bias_hh)


def test_layer_norm_lstm_normalises_and_is_differentiable():
    torch.manual_seed(4)
    cell = LSTMCell(4, 6, layer_norm=True)
    assert cell.fused_mode is None and "layer norm" in cell.fused_reason
    x, state = torch.randn(3, 4, requires_grad=True), cell.init_state(3)
    # scaling the input weights leaves the normalised input term unchanged
    y1, _ = cell(x, state)
    with torch.no_grad():
        cell.weight_ih.mul_(10.0)
    y2, _ = cell(x, state)
    torch.testing.assert_close(y1, y2, atol=1e-4, rtol=1e-4)
    assert torch.autograd.gradcheck(lambda x: cell(x, state)[0], (x,))


def test_cell_validates_sizes():
    with pytest.raises(ValueError, match="hidden_size"):
        LSTMCell(4, 0)
    with pytest.raises(ValueError, match="proj_size"):
        LSTMCell(4, 6, proj_size=6)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(4, 6, nonlinearity="sigmoid")
