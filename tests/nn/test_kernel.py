"""``layer.kernel_path`` and ``layer.kernel_info``: the structured record of which path a layer ran, in
agreement with the readable ``layer.kernel``, for single layers and the wrappers."""

import pytest
import torch
from torch.nn.utils import parametrize

import rnnkit
from rnnkit.nn import Bidirectional, GRUCell, Kernel, LSTMCell, MinGRUCell, Recurrent, Stacked, weight_drop
from rnnkit.nn.fused import backend
from rnnkit.nn.kernel import common_path
from rnnkit.nn.recurrent import record_states

X = torch.randn(2, 5, 3)


def ran(layer, x=X):
    """``layer`` after one call on ``x``."""
    layer(x)
    return layer


@pytest.mark.parametrize(
    "make, path",
    [
        (lambda: Recurrent(LSTMCell(3, 4)), "torch-fused"),
        (lambda: Recurrent(GRUCell(3, 4)), "torch-fused"),
        (lambda: Recurrent(LSTMCell(3, 4, layer_norm=True)), "sequence"),
        (lambda: Recurrent(MinGRUCell(3, 4)), "sequence"),
        (lambda: Recurrent(LSTMCell(3, 4), kernel="reference"), "sequence"),
        (lambda: Recurrent(LSTMCell(3, 4), kernel="step"), "step"),
        (lambda: Recurrent(MinGRUCell(3, 4), kernel="step"), "step"),
    ],
)
def test_kernel_path_names_the_path_before_and_after_a_call(make, path):
    layer = make()
    assert layer.kernel_path == path  # what a call would take
    layer = ran(layer)
    assert layer.kernel_path == layer.kernel_info.path == path
    assert layer.kernel == str(layer.kernel_info)


def test_kernel_info_parts_make_the_readable_string():
    fused = ran(Recurrent(LSTMCell(3, 4))).kernel_info
    lib = backend(X)
    assert fused == Kernel("torch-fused", f"torch-fused ({lib})", "standard LSTM", lib)
    assert str(fused) == f"torch-fused ({lib}): standard LSTM"
    scan = ran(Recurrent(MinGRUCell(3, 4))).kernel_info
    assert scan == Kernel("sequence", "parallel scan (log-space)", "no torch kernel for minGRU")
    step = ran(Recurrent(GRUCell(3, 4), kernel="step")).kernel_info
    assert step.backend is None and step.reason == "kernel='step' requested"
    assert str(step) == "reference loop (autograd, input projection hoisted): kernel='step' requested"
    with pytest.raises(ValueError, match="path must be one of"):
        Kernel("fused", "torch-fused (oneDNN)", "standard LSTM")


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_projection_lstm_names_the_backend_that_runs_it():
    info = ran(Recurrent(LSTMCell(3, 4, proj_size=2))).kernel_info
    assert info.path == "torch-fused" and info.reason == "standard LSTM with projection"
    assert info.backend != "oneDNN" and info.name == f"torch-fused ({info.backend})"


def test_the_path_follows_each_call():
    layer = Recurrent(LSTMCell(3, 4))
    with record_states():
        assert ran(layer).kernel_path == "step"
    with torch.no_grad():
        assert ran(layer, X[:, :1]).kernel_path == "step"  # one step at inference
    assert ran(layer).kernel_path == "torch-fused"
    weight_drop(layer.cell, 0.5)
    assert parametrize.is_parametrized(layer.cell)
    assert ran(layer).kernel_path == "sequence"


@pytest.mark.parametrize(
    "make, path",
    [
        (lambda: rnnkit.LSTM(3, 4, num_layers=2), "torch-fused"),
        (lambda: rnnkit.LSTM(3, 4, bidirectional=True), "torch-fused"),
        (lambda: rnnkit.LSTM(3, 4, num_layers=2, layer_norm=True, bidirectional=True), "sequence"),
        (lambda: rnnkit.MinGRU(3, 4, bidirectional=True), "sequence"),
        (lambda: rnnkit.GRU(3, 4, num_layers=2, bidirectional=True, kernel="step"), "step"),
    ],
)
def test_wrappers_report_the_path_all_their_layers_took(make, path):
    layer = ran(make())
    assert layer.kernel_path == path
    for inner in layer.layers:
        assert inner.kernel_path == path


def test_wrappers_with_layers_on_different_paths_say_mixed():
    stack = ran(Stacked([Recurrent(LSTMCell(3, 4)), Recurrent(LSTMCell(4, 4, layer_norm=True))]))
    assert stack.kernel_path == "mixed"
    assert [layer.kernel_path for layer in stack.layers] == ["torch-fused", "sequence"]
    pair = ran(Bidirectional(Recurrent(GRUCell(3, 4)), Recurrent(MinGRUCell(3, 4))))
    assert pair.kernel_path == "mixed"
    assert common_path([torch.nn.Identity()]) is None  # a layer that reports no path
