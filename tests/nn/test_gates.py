"""Each cell's ``gates(x_t, state)`` against the step it names them for: the returned gates, put into the
cell's published equations (torch's for LSTM and GRU), reproduce the step's output and state."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.nn import Cell, GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell

pytestmark = pytest.mark.usefixtures("float64")


def inputs(cell, batch=3):
    torch.manual_seed(0)
    x = torch.randn(batch, cell.input_size)
    state = tuple(torch.randn(batch, n) for n in cell.state_sizes)
    return x, state


def chunks(t, n):
    return t.chunk(n, dim=-1)


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_gates_reproduce_the_step(bias):
    # torch.nn.LSTMCell's equations: c' = f * c + i * tanh(g), h' = o * tanh(c')
    torch.manual_seed(1)
    cell = LSTMCell(5, 7, bias=bias, forget_bias=0.5)
    x, (h, c) = inputs(cell)
    gates = cell.gates(x, (h, c))
    assert list(gates) == ["i", "f", "o"]
    b_ih, b_hh = (cell.bias_ih, cell.bias_hh) if bias else (None, None)
    _, _, g_x, _ = chunks(F.linear(x, cell.weight_ih, b_ih), 4)
    _, _, g_h, _ = chunks(F.linear(h, cell.weight_hh, b_hh), 4)
    c_next = gates["f"] * c + gates["i"] * torch.tanh(g_x + g_h)
    y, (h_next, c_step) = cell(x, (h, c))
    torch.testing.assert_close(c_step, c_next)
    torch.testing.assert_close(h_next, gates["o"] * torch.tanh(c_next))
    torch.testing.assert_close(y, h_next)


@pytest.mark.parametrize("options", [{"layer_norm": True}, {"proj_size": 3}])
def test_lstm_forget_and_output_gates_are_those_of_the_step(options):
    # c enters the step only through f * c, so c' moves by f * (c1 - c2); and h' = W_hr (o * tanh(LN(c')))
    torch.manual_seed(2)
    cell = LSTMCell(5, 7, **options)
    x, (h, c1) = inputs(cell)
    c2 = torch.randn_like(c1)
    gates = cell.gates(x, (h, c1))
    _, (h1, c1_next) = cell(x, (h, c1))
    _, (_, c2_next) = cell(x, (h, c2))
    torch.testing.assert_close(c1_next - c2_next, gates["f"] * (c1 - c2))
    cell_out = cell.ln_c(c1_next) if cell.layer_norm else c1_next
    out = gates["o"] * torch.tanh(cell_out)
    torch.testing.assert_close(h1, out @ cell.weight_hr.t() if cell.proj_size else out)
    # the gates read h, not c
    for got, want in zip(cell.gates(x, (h, c2)).values(), gates.values()):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_gates_reproduce_the_step(bias):
    # torch.nn.GRUCell's equations: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h
    torch.manual_seed(3)
    cell = GRUCell(5, 7, bias=bias)
    x, (h,) = inputs(cell)
    gates = cell.gates(x, (h,))
    assert list(gates) == ["r", "z"]
    b_ih, b_hh = (cell.bias_ih, cell.bias_hh) if bias else (None, None)
    r_x, z_x, n_x = chunks(F.linear(x, cell.weight_ih, b_ih), 3)
    r_h, z_h, n_h = chunks(F.linear(h, cell.weight_hh, b_hh), 3)
    torch.testing.assert_close(gates["r"], torch.sigmoid(r_x + r_h))
    torch.testing.assert_close(gates["z"], torch.sigmoid(z_x + z_h))
    n = torch.tanh(n_x + gates["r"] * n_h)
    y, (h_next,) = cell(x, (h,))
    torch.testing.assert_close(h_next, (1 - gates["z"]) * n + gates["z"] * h)


def test_mingru_update_gate_is_that_of_the_step_and_the_scan():
    # h' = (1 - z) * h + z * h~ with z and h~ from x alone: h' moves by (1 - z) * (h1 - h2)
    torch.manual_seed(4)
    cell = MinGRUCell(5, 7)
    x, (h1,) = inputs(cell)
    h2 = torch.randn_like(h1)
    (z,) = cell.gates(x, (h1,)).values()
    assert list(cell.gates(x, (h1,))) == ["z"]
    torch.testing.assert_close(cell(x, (h1,))[0] - cell(x, (h2,))[0], (1 - z) * (h1 - h2))
    scanned = [cell.forward_sequence(x.unsqueeze(1), (h,))[0][:, 0] for h in (h1, h2)]
    torch.testing.assert_close(scanned[0] - scanned[1], (1 - z) * (h1 - h2))
    torch.testing.assert_close(cell.gates(x, (h2,))["z"], z)  # z reads x only


def test_minlstm_gates_normalised_are_those_of_the_step_and_the_scan():
    # h' = f / (f + i) * h + i / (f + i) * h~: h' moves by f / (f + i) * (h1 - h2)
    torch.manual_seed(5)
    cell = MinLSTMCell(5, 7)
    x, (h1,) = inputs(cell)
    h2 = torch.randn_like(h1)
    gates = cell.gates(x, (h1,))
    assert list(gates) == ["f", "i"]
    f_norm = gates["f"] / (gates["f"] + gates["i"])
    torch.testing.assert_close(cell(x, (h1,))[0] - cell(x, (h2,))[0], f_norm * (h1 - h2))
    scanned = [cell.forward_sequence(x.unsqueeze(1), (h,))[0][:, 0] for h in (h1, h2)]
    torch.testing.assert_close(scanned[0] - scanned[1], f_norm * (h1 - h2))


@pytest.mark.parametrize(
    "make", [lambda: LSTMCell(5, 7), lambda: GRUCell(5, 7), lambda: MinGRUCell(5, 7), lambda: MinLSTMCell(5, 7)]
)
def test_gates_are_sigmoids_of_shape_b_h(make):
    cell = make()
    x, state = inputs(cell, batch=4)
    gates = cell.gates(x * 100, state)  # large inputs: saturated, still inside [0, 1]
    assert gates
    for g in gates.values():
        assert g.shape == (4, 7)
        assert bool(((g >= 0) & (g <= 1)).all())


def test_a_cell_without_gates_names_none():
    assert RNNCell(5, 7).gates(*inputs(RNNCell(5, 7))) == {}

    class Doubler(Cell):
        input_size = hidden_size = output_size = 3
        state_sizes = (3,)

        def forward(self, x_t, state):
            return 2 * x_t, (2 * x_t,)

    assert Doubler().gates(torch.zeros(2, 3), (torch.zeros(2, 3),)) == {}
