"""Layer invariants: padding never leaks, state carries over, wrappers compose, bad input is refused."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hst

import rnnkit
from rnnkit.nn import (
    Bidirectional,
    LockedDropout,
    LSTMCell,
    Recurrent,
    Stacked,
    debug_checks,
    reverse_padded,
    weight_drop,
)

LAYERS = {
    "lstm": lambda k: rnnkit.LSTM(4, 5, kernel=k),
    "lstm-2-bi": lambda k: rnnkit.LSTM(4, 5, num_layers=2, bidirectional=True, kernel=k),
    "lstm-ln-bi": lambda k: rnnkit.LSTM(4, 5, bidirectional=True, layer_norm=True, kernel=k),
    "lstm-proj": lambda k: rnnkit.LSTM(4, 5, proj_size=2, kernel=k),
    "gru-2": lambda k: rnnkit.GRU(4, 5, num_layers=2, kernel=k),
    "gru-bi": lambda k: rnnkit.GRU(4, 5, bidirectional=True, kernel=k),
    "rnn-relu-bi": lambda k: rnnkit.RNN(4, 5, nonlinearity="relu", bidirectional=True, kernel=k),
    "mingru-2-bi": lambda k: rnnkit.MinGRU(4, 5, num_layers=2, bidirectional=True, kernel=k),
    "minlstm": lambda k: rnnkit.MinLSTM(4, 5, kernel=k),
}
KERNELS = ["auto", "reference", "step"]


def make(name: str, kernel: str):
    torch.manual_seed(0)
    return LAYERS[name](kernel).double().eval()


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=8, deadline=None)
@given(lengths=hst.lists(hst.integers(1, 7), min_size=1, max_size=4))
def test_padded_batch_equals_each_sequence_alone(name, kernel, lengths):
    layer = make(name, kernel)
    steps = max(lengths)
    gen = torch.Generator().manual_seed(len(lengths) * 31 + steps)
    x = torch.randn(len(lengths), steps, 4, generator=gen, dtype=torch.float64)
    for b, n in enumerate(lengths):
        x[b, n:] = 1e3  # garbage in the padding must not matter
    out, state = layer(x, lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone, alone_state = layer(x[b : b + 1, :n])
        torch.testing.assert_close(out[b : b + 1, :n], alone)
        assert not out[b, n:].any(), "padded steps must output zeros"
        for got, want in zip(rnnkit.state.tensors(rnnkit.state.select(state, [b])),
                             rnnkit.state.tensors(alone_state), strict=True):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", LAYERS)
def test_kernels_agree_and_are_reported(name):
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    outs = {}
    for kernel in KERNELS:
        layer = make(name, kernel)
        outs[kernel], _ = layer(x, lengths=[6, 2, 5])
        assert isinstance(layer.kernel, str) and layer.kernel
        if kernel == "step":
            assert "fused" not in layer.kernel
    torch.testing.assert_close(outs["auto"], outs["step"])
    torch.testing.assert_close(outs["reference"], outs["step"])


def test_kernel_names_say_what_ran_and_why():
    assert rnnkit.LSTM(3, 4).kernel.startswith("torch-fused")
    assert "standard LSTM" in rnnkit.LSTM(3, 4).kernel
    ln = rnnkit.LSTM(3, 4, layer_norm=True)
    assert "fused" not in ln.kernel and "layer norm" in ln.kernel
    ref = rnnkit.GRU(3, 4, kernel="reference")
    assert "kernel='reference' requested" in ref.kernel
    assert "parallel scan" in rnnkit.MinGRU(3, 4).kernel
    with pytest.raises(ValueError, match="kernel='fused' is not available"):
        Recurrent(LSTMCell(3, 4, layer_norm=True), kernel="fused")


@pytest.mark.parametrize(
    "make_layer",
    [
        lambda: rnnkit.LSTM(4, 5, num_layers=2),
        lambda: rnnkit.LSTM(4, 5, layer_norm=True),
        lambda: rnnkit.GRU(4, 5, num_layers=2),
        lambda: rnnkit.MinGRU(4, 5, num_layers=2),
        lambda: rnnkit.MinLSTM(4, 5),
    ],
)
def test_carried_state_continues_the_sequence(make_layer):
    """Stateful use: a sequence fed in two calls, the state passed along, equals one call."""
    torch.manual_seed(0)
    layer = make_layer().double()
    x = torch.randn(2, 10, 4, dtype=torch.float64)
    full, full_state = layer(x)
    first, state = layer(x[:, :4])
    second, state = layer(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    for a, b in zip(rnnkit.state.tensors(state), rnnkit.state.tensors(full_state), strict=True):
        torch.testing.assert_close(a, b)


def test_reverse_padded_reverses_within_lengths_and_is_an_involution():
    x = torch.arange(12.0).view(2, 6, 1)
    lengths = torch.tensor([6, 3])
    r = reverse_padded(x, lengths)
    assert r[0, :, 0].tolist() == [5, 4, 3, 2, 1, 0]
    assert r[1, :, 0].tolist() == [8, 7, 6, 9, 10, 11]
    assert torch.equal(reverse_padded(r, lengths), x)


def test_bidirectional_backward_half_reads_the_sequence_reversed():
    torch.manual_seed(1)
    fwd, bwd = Recurrent(LSTMCell(3, 4)), Recurrent(LSTMCell(3, 4))
    bi = Bidirectional(fwd, bwd)
    x = torch.randn(2, 5, 3)
    out, (sf, sb) = bi(x)
    back, _ = bwd(x.flip(1))
    torch.testing.assert_close(out[..., 4:], back.flip(1))
    torch.testing.assert_close(out[..., :4], fwd(x)[0])


def test_stacked_residual_and_dropout():
    torch.manual_seed(2)
    layers = [Recurrent(LSTMCell(4, 4)), Recurrent(LSTMCell(4, 4))]
    plain = Stacked(layers)
    res = Stacked(layers, residual=True)
    x = torch.randn(2, 5, 4)
    first, _ = layers[0](x)
    torch.testing.assert_close(res(x)[0], layers[1](first + x)[0] + first + x)
    assert not torch.allclose(res(x)[0], plain(x)[0])
    dropped = Stacked(layers, dropout=0.5).train()
    assert not torch.allclose(dropped(x)[0], plain(x)[0])
    torch.testing.assert_close(dropped.eval()(x)[0], plain(x)[0])


def test_stacked_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="input_size=4"):
        Stacked([Recurrent(LSTMCell(3, 5)), Recurrent(LSTMCell(4, 4))])


def test_locked_dropout_keeps_one_mask_per_sequence():
    drop = LockedDropout(0.5).train()
    y = drop(torch.ones(3, 20, 8))
    assert torch.equal(y, y[:, :1].expand_as(y)), "the same features must be dropped at every step"
    assert set(y.unique().tolist()) <= {0.0, 2.0} and (y == 0).any()
    assert torch.equal(drop.eval()(torch.ones(3, 20, 8)), torch.ones(3, 20, 8))


def test_weight_drop_masks_recurrent_weights_once_per_sequence():
    torch.manual_seed(3)
    cell = weight_drop(LSTMCell(3, 4), p=0.5)
    layer = Recurrent(cell)
    assert "weight drop" in layer.kernel and "fused" not in layer.kernel
    x = torch.randn(2, 6, 3)
    layer.train()
    a, _ = layer(x)
    b, _ = layer(x)
    assert not torch.allclose(a, b), "a new mask each call"
    a.sum().backward()
    assert cell.parametrizations.weight_hh.original.grad is not None
    # one mask for the whole call: stepping under that same mask reproduces the output
    calls = []
    drop = cell.parametrizations.weight_hh[0]
    drop.register_forward_hook(lambda m, i, o: calls.append(o))
    layer(x)
    assert len(calls) == 1
    layer.eval()
    plain = Recurrent(LSTMCell(3, 4))
    plain.cell.load_state_dict({k.replace("parametrizations.weight_hh.original", "weight_hh"): v
                                for k, v in cell.state_dict().items()})
    torch.testing.assert_close(layer(x)[0], plain(x)[0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m(torch.randn(2, 5)), r"input must have shape \(B, T, 4\), got shape \(2, 5\)"),
        (lambda m: m(torch.randn(2, 5, 3)), r"input has shape \(2, 5, 3\): expected the last dim to be input_size=4"),
        (lambda m: m(torch.randn(2, 5, 4), lengths=[5, 6]), r"lengths .* must lie in \[1, T=5\], got min 5 and max 6"),
        (lambda m: m(torch.randn(2, 5, 4), lengths=[0, 5]), r"lengths .* must lie in \[1, T=5\]"),
        (lambda m: m(torch.randn(2, 5, 4), lengths=[5]), r"lengths must have shape \(2,\)"),
        (lambda m: m(torch.randn(2, 5, 4), lengths=[2.0, 5.0]), r"lengths must be integers"),
        (lambda m: m(torch.randn(2, 5, 4), ((torch.zeros(3, 5), torch.zeros(3, 5)),)),
         r"state\[0\] has shape \(3, 5\), expected \(2, 5\)"),
        (lambda m: m(torch.randn(2, 0, 4)), r"batch and time must be non-empty"),
    ],
)
def test_bad_input_raises_value_error_naming_argument_and_shape(call, message):
    with pytest.raises(ValueError, match=message):
        call(rnnkit.LSTM(4, 5))


def test_nan_input_is_caught_in_debug_checks_only():
    layer = rnnkit.GRU(4, 5)
    x = torch.randn(2, 3, 4)
    x[1, 2, 0] = float("nan")
    layer(x)  # no check outside debug mode: it costs a sync
    with debug_checks(), pytest.raises(ValueError, match=r"input of shape \(2, 3, 4\) holds NaN"):
        layer(x)
    bad_state = ((torch.full((2, 5), float("inf")),),)
    with debug_checks(), pytest.raises(ValueError, match=r"state\[0\] .* holds NaN or Inf"):
        layer(torch.randn(2, 3, 4), bad_state)


def test_constructor_arguments_are_checked():
    with pytest.raises(ValueError, match="batch_first=False"):
        rnnkit.LSTM(3, 4, batch_first=False)
    with pytest.raises(ValueError, match="num_layers"):
        rnnkit.GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        rnnkit.RNN(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="kernel must be one of"):
        rnnkit.LSTM(3, 4, kernel="fast")


def test_record_states_gives_total_derivative_through_the_recurrence():
    from rnnkit.nn.recurrent import record_states

    torch.manual_seed(4)
    layer = rnnkit.RNN(3, 4, num_layers=2).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with record_states() as calls:
        y, _ = layer(x)
        y[:, -1].sum().backward()  # the loss reads only the last step
    assert len(calls) == 2 and all(len(c.states) == 7 for c in calls)
    top = calls[1]
    # dL/dh_t for t < T is non-zero only through the recurrence (and the layer above)
    norms = [s[0].grad.norm().item() for s in top.states[1:]]
    assert norms[-1] > 0 and all(n > 0 for n in norms[:-1])
    # compare with autograd on the definition: d(sum h_T)/d h_t by finite steps of the cell
    h3 = top.states[3][0].detach().requires_grad_()
    state = (h3,)
    for t in range(3, 6):
        _, state = top.layer.cell(calls[1].input[:, t].detach(), state)
    state[0].sum().backward()
    torch.testing.assert_close(top.states[3][0].grad, h3.grad)


def test_one_step_at_inference_takes_the_cell_and_matches_the_fused_kernel():
    torch.manual_seed(0)
    layer = rnnkit.LSTM(5, 7, num_layers=2)
    x = torch.randn(3, 1, 5)
    fused, fused_state = layer(x)  # grad enabled: the fused kernel
    assert "torch-fused" in layer.kernel
    with torch.no_grad():
        stepped, stepped_state = layer(x)
    assert "single step" in layer.kernel
    torch.testing.assert_close(stepped, fused.detach(), atol=1e-6, rtol=1e-5)
    for a, b in zip(rnnkit.state.tensors(stepped_state), rnnkit.state.tensors(fused_state)):
        torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=1e-5)
