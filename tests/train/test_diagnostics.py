"""Gradient-flow diagnostics: dL/dh_t against autograd on a reference loop, verdicts on networks built to
vanish or explode, gate saturation, and the report's JSON and PNG."""

import json

import pytest
import torch
from torch import nn

from rnnkit.batch import Batch
from rnnkit.data.memory import AddingConfig, AddingProblem
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.sequence import SequenceConfig, SequenceModel
from rnnkit.nn import Cell, Recurrent
from rnnkit.nn.recurrent import record_states
from rnnkit.train.diagnostics import gate_activations, gate_saturation, gradient_flow, judge, plot_gradient_flow

PNG = b"\x89PNG\r\n\x1a\n"


def adding_model(cell: str, T: int, *, hidden: int = 16, batch: int = 8, **encoder):
    task = AddingConfig(length=T, batch_size=batch, num_batches=1)
    model = SequenceModel(
        SequenceConfig(**task.model_fields(), encoder=EncoderConfig(cell=cell, hidden_size=hidden, **encoder))
    )
    return model, next(iter(AddingProblem(task).batches(0)))


def only_cell(model):
    (layer,) = [m for m in model.modules() if isinstance(m, Recurrent)]
    return layer.cell


# ---- dL/dh_t against a reference ----------------------------------------------------------------------
TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_grad_norms_match_autograd_through_a_torch_cell_loop(cell, float64):
    torch.manual_seed(0)
    model, batch = adding_model(cell, 6, hidden=5, batch=3)
    batch = Batch(inputs=batch.inputs.double(), targets=batch.targets.double())
    ours = gradient_flow(model, batch)["layers"][0]["grad_norm"]

    # the reference: torch.nn's cell with the same weights, stepped by hand; dL/dh_t by torch.autograd.grad
    theirs = TORCH_CELLS[cell](2, 5)
    theirs.load_state_dict({k: v for k, v in only_cell(model).state_dict().items()})
    state = None
    hs = []
    for t in range(6):
        state = theirs(batch.inputs[:, t], state)
        hs.append(state[0] if cell == "lstm" else state)
    loss = ((model.head(hs[-1]) - batch.targets) ** 2).mean()
    grads = torch.autograd.grad(loss, hs)
    torch.testing.assert_close(torch.tensor(ours), torch.stack([g.norm() for g in grads]))


def test_parameter_grads_and_kernel_choice_are_left_alone():
    model, batch = adding_model("lstm", 10, bidirectional=True)
    model(batch).loss.backward()
    before = [p.grad.clone() for p in model.parameters()]
    report = gradient_flow(model, batch)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), before))
    # both directions are recorded even though the pair would otherwise run as one fused call
    names = [layer["name"] for layer in report["layers"]]
    assert names == ["encoder.layers.0.forward_layer", "encoder.layers.0.backward_layer"]
    assert all(m.preference == "auto" for m in model.modules() if isinstance(m, Recurrent))
    model(batch)
    assert "both directions in one call" in model.encoder.kernel


# ---- verdicts -----------------------------------------------------------------------------------------
def test_small_recurrent_weights_vanish():
    torch.manual_seed(0)
    model, batch = adding_model("rnn", 100)
    with torch.no_grad():
        w = only_cell(model).weight_hh
        w.mul_(0.05 / torch.linalg.matrix_norm(w, ord=2))  # spectral norm 0.05
    layer = gradient_flow(model, batch)["layers"][0]
    assert layer["status"] == "vanishing"
    assert layer["verdict"].startswith("vanishing: gradient at t=1 is ") and layer["verdict"].endswith("at t=100")
    assert layer["ratio"] < 1e-3


def test_relu_rnn_with_doubling_weights_explodes(float64):
    torch.manual_seed(0)
    model, batch = adding_model("rnn", 100, nonlinearity="relu")
    batch = Batch(inputs=batch.inputs.double(), targets=batch.targets.double())
    cell = only_cell(model)
    with torch.no_grad():  # every unit active at every step, so dh_{t+1}/dh_t = 2 I exactly
        cell.weight_hh.copy_(2 * torch.eye(16))
        cell.weight_ih.abs_()
        cell.bias_ih.abs_()
        cell.bias_hh.abs_()
    layer = gradient_flow(model, batch)["layers"][0]
    assert layer["status"] == "exploding"
    assert layer["ratio"] == pytest.approx(2.0**99, rel=1e-6)
    assert layer["verdict"] == "exploding: gradient at t=1 is 6e+29 times that at t=100"


def test_judge_words():
    assert judge([1.0, 0.5, 1.0])[:2] == ("stable", "stable: gradient at t=1 is 1 times that at t=3")
    assert judge([1e-9, 1.0])[1] == "vanishing: gradient at t=1 is 1e-09 of that at t=2"
    assert judge([1e5, 1.0])[1] == "exploding: gradient at t=1 is 1e+05 times that at t=2"
    assert judge([0.0, 0.0])[0] == "no gradient"
    assert judge([float("inf"), 1.0])[0] == "non-finite"


# ---- gate saturation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cell,gates", [("lstm", "ifo"), ("gru", "rz"), ("mingru", "z"), ("minlstm", "fi"), ("rnn", "")]
)
def test_gate_saturation_is_a_share_per_gate(cell, gates):
    model, batch = adding_model(cell, 20)
    shares = gradient_flow(model, batch)["layers"][0]["gate_saturation"]
    assert set(shares) == set(gates)
    assert all(0.0 <= s <= 1.0 for s in shares.values())


def test_saturated_gates_are_found_in_the_right_slices():
    # i, f, o pinned at +-20 and g at 0: each sigmoid gate is saturated everywhere; reading the wrong
    # slice (g, whose pre-activation is 0) would give a share of 0
    model, batch = adding_model("lstm", 20)
    cell = only_cell(model)
    with torch.no_grad():
        for p in (cell.weight_ih, cell.weight_hh, cell.bias_hh):
            p.zero_()
        cell.bias_ih.copy_(torch.cat([torch.full((16,), v) for v in (20.0, -20.0, 0.0, 20.0)]))
    assert gradient_flow(model, batch)["layers"][0]["gate_saturation"] == {"i": 1.0, "f": 1.0, "o": 1.0}

    model, batch = adding_model("gru", 20)
    cell = only_cell(model)
    with torch.no_grad():
        for p in (cell.weight_ih, cell.weight_hh, cell.bias_hh):
            p.zero_()
        cell.bias_ih.copy_(torch.cat([torch.full((16,), v) for v in (20.0, -20.0, 0.0)]))
    assert gradient_flow(model, batch)["layers"][0]["gate_saturation"] == {"r": 1.0, "z": 1.0}


class Leaky(Cell):
    """A custom cell with no gates: h' = (h + x) / 2."""

    input_size = hidden_size = output_size = 4
    state_sizes = (4,)

    def forward(self, x_t, state):
        h = (state[0] + x_t) / 2
        return h, (h,)


def test_a_cell_without_gates_reports_none():
    layer = Recurrent(Leaky())
    with record_states() as calls:
        layer(torch.randn(2, 5, 4))
    assert gate_saturation(calls[0]) == {}
    assert gate_activations(nn.Linear(4, 4), torch.zeros(2, 5, 4), [(torch.zeros(2, 4),)] * 5) == {}


def test_gate_activations_are_the_cells_own_gates_at_every_step():
    model, batch = adding_model("gru", 7)
    with record_states() as calls:
        model(batch)
    rec = calls[0]
    gates = gate_activations(rec.layer.cell, rec.input, rec.states[:-1])
    for t in (0, 3, 6):
        for name, g in rec.layer.cell.gates(rec.input[:, t], rec.states[t]).items():
            torch.testing.assert_close(gates[name][:, t], g)


def test_fresh_gates_are_mostly_unsaturated():
    torch.manual_seed(0)
    model, batch = adding_model("lstm", 20)
    shares = gradient_flow(model, batch)["layers"][0]["gate_saturation"]
    assert max(shares.values()) < 0.1


# ---- output -------------------------------------------------------------------------------------------
def test_report_is_json_and_plots(tmp_path):
    model, batch = adding_model("gru", 30, num_layers=2)
    report = gradient_flow(model, batch)
    assert report["steps"] == 30 and report["batch_size"] == 8 and len(report["layers"]) == 2
    layer = report["layers"][1]
    assert layer["cell"] == "GRUCell" and len(layer["grad_norm"]) == 30
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    path = plot_gradient_flow(report, tmp_path / "flow.png")
    assert path.read_bytes().startswith(PNG)
    # a model without sigmoid gates plots too
    model, batch = adding_model("rnn", 10)
    assert plot_gradient_flow(gradient_flow(model, batch), tmp_path / "rnn.png").read_bytes().startswith(PNG)
