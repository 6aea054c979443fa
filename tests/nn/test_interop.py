"""rnnkit.LSTM/GRU/RNN load from and export to torch.nn.LSTM/GRU/RNN with identical outputs."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

CASES = [
    (rnnkit.LSTM, lambda **kw: nn.LSTM(6, 8, batch_first=True, **kw)),
    (rnnkit.GRU, lambda **kw: nn.GRU(6, 8, batch_first=True, **kw)),
    (rnnkit.RNN, lambda **kw: nn.RNN(6, 8, batch_first=True, **kw)),
    (rnnkit.RNN, lambda **kw: nn.RNN(6, 8, batch_first=True, nonlinearity="relu", **kw)),
]
IDS = ["lstm", "gru", "rnn-tanh", "rnn-relu"]


def torch_h0(module: nn.RNNBase, batch: int):
    d = 2 if module.bidirectional else 1
    h = torch.randn(module.num_layers * d, batch, module.proj_size or module.hidden_size)
    if isinstance(module, nn.LSTM):
        return h, torch.randn(module.num_layers * d, batch, module.hidden_size)
    return h


def assert_states_close(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ours_cls, make", CASES, ids=IDS)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, False), (1, True), (3, True)])
@pytest.mark.parametrize("kernel", ["auto", "reference", "step"])
def test_from_torch_gives_torch_outputs(ours_cls, make, num_layers, bidirectional, kernel):
    torch.manual_seed(num_layers)
    theirs = make(num_layers=num_layers, bidirectional=bidirectional).eval()
    ours = ours_cls.from_torch(theirs, kernel=kernel).eval()
    x = torch.randn(3, 7, 6)
    hx = torch_h0(theirs, 3)
    want, want_state = theirs(x, hx)
    got, state = ours(x, ours.from_torch_state(hx))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert_states_close(ours.to_torch_state(state), want_state)


@pytest.mark.parametrize("ours_cls, make", CASES, ids=IDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kernel", ["auto", "reference"])
def test_lengths_match_torch_packed_sequences(ours_cls, make, bidirectional, kernel):
    torch.manual_seed(5)
    theirs = make(num_layers=2, bidirectional=bidirectional).eval()
    ours = ours_cls.from_torch(theirs, kernel=kernel).eval()
    x, lengths = torch.randn(4, 9, 6), torch.tensor([9, 4, 1, 6])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, want_state = theirs(packed)
    want, _ = pad_packed_sequence(out, batch_first=True, total_length=9)
    got, state = ours(x, lengths=lengths)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert_states_close(ours.to_torch_state(state), want_state)


@pytest.mark.parametrize("kernel", ["auto", "reference"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_projection_matches_torch(kernel, bidirectional):
    torch.manual_seed(6)
    theirs = nn.LSTM(6, 8, num_layers=2, proj_size=3, bidirectional=bidirectional, batch_first=True)
    ours = rnnkit.LSTM.from_torch(theirs, kernel=kernel)
    x = torch.randn(2, 5, 6)
    hx = torch_h0(theirs, 2)
    want, want_state = theirs(x, hx)
    got, state = ours(x, ours.from_torch_state(hx))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert_states_close(ours.to_torch_state(state), want_state)


@pytest.mark.parametrize("ours_cls, make", CASES, ids=IDS)
def test_to_torch_round_trip(ours_cls, make):
    torch.manual_seed(7)
    kwargs = {"nonlinearity": "relu"} if "relu" in repr(make(num_layers=1)) else {}
    ours = ours_cls(6, 8, num_layers=2, bidirectional=True, dropout=0.25, **kwargs)
    theirs = ours.to_torch()
    assert theirs.batch_first and theirs.dropout == 0.25 and theirs.num_layers == 2
    back = ours_cls.from_torch(theirs)
    for a, b in zip(ours.state_dict().values(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(2, 5, 6)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-5, rtol=1e-5)


def test_from_torch_rejects_the_wrong_module_and_layer_norm_has_no_torch_twin():
    with pytest.raises(TypeError, match="torch.nn.LSTM"):
        rnnkit.LSTM.from_torch(nn.GRU(3, 4))
    with pytest.raises(ValueError, match="layer-norm"):
        rnnkit.LSTM(3, 4, layer_norm=True).to_torch()
