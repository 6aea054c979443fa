"""``Recurrent``: a layer that unrolls one cell over time, with per-row lengths.

Three ways to run the same cell, chosen per call (``layer.kernel_path`` names the path that ran,
``layer.kernel`` says it in words with the reason, ``layer.kernel_info`` holds both: :mod:`rnnkit.nn.kernel`):

1. **torch-fused**: torch's own RNN kernel on the cell's parameters, when the cell is a standard LSTM, GRU
   or Elman RNN (``cell.fused_mode``). Lengths are handled by packing.
2. **sequence**: the cell's whole-sequence path, ``cell.forward_sequence`` (a hand-written BPTT kernel, a
   parallel scan), when the cell has one.
3. **step**: the reference loop below, one ``cell.step`` per time step, the input projection hoisted out
   of the loop when the cell offers ``project_input``; autograd does the backward pass.

Padding: at steps past a row's length the state is carried unchanged and the output is zero, so the final
state of each row is its state after its last real step and padded steps never leak into real ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from rnnkit import state as st
from rnnkit.nn.cells.base import Cell
from rnnkit.nn.checks import check_input, check_lengths, check_state
from rnnkit.nn.fused import backend, run_fused
from rnnkit.nn.kernel import Kernel
from rnnkit.state import State

KERNELS = ("auto", "fused", "reference", "step")
_FUSED_NAMES = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "tanh RNN", "RNN_RELU": "relu RNN"}


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B,) lengths -> (B, T) bool, true at real steps."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


@dataclass
class Recording:
    """One call of a recurrent layer under :func:`record_states`: its input (B, T, I) and the state
    before the first step and after every step (T + 1 states). Each state tensor retains its gradient,
    so after ``loss.backward()``, ``states[t][k].grad`` is the total derivative dL/dh_t through the
    recurrence."""

    layer: Recurrent
    input: Tensor
    states: list[State]


_RECORDER: ContextVar[list[Recording] | None] = ContextVar("rnnkit_record_states", default=None)


@contextlib.contextmanager
def record_states() -> Iterator[list[Recording]]:
    """Within this block every ``Recurrent`` layer runs its step loop and records its states.

    >>> with record_states() as calls:
    ...     model(batch).loss.backward()
    >>> grad_norms = [s[0].grad.norm() for s in calls[0].states[1:]]   # ||dL/dh_t||, t = 1..T
    """
    token = _RECORDER.set([])
    try:
        yield _RECORDER.get()
    finally:
        _RECORDER.reset(token)


def unroll(
    cell: Cell, x: Tensor, state: State, mask: Tensor | None = None, *, record: list[State] | None = None
) -> tuple[Tensor, State]:
    """The reference loop: ``cell`` stepped over ``x`` (B, T, I) -> outputs (B, T, O) and final state.

    Where ``mask`` (B, T) is false the state is carried unchanged and the output is zero. If ``record`` is
    a list, the initial state and the state after each step are appended to it, retaining their grads.
    """
    hoisted = hasattr(cell, "project_input")
    inputs = cell.project_input(x) if hoisted else x  # (B, T, G): one matrix product for all steps
    step = cell.step if hoisted else cell.forward
    outputs = []
    if record is not None:
        record.append(_retain(state))
    # unbind once: indexing inputs[:, t] per step would make backward zero-fill a (B, T, G) gradient T times
    for t, x_t in enumerate(inputs.unbind(1)):
        y, new = step(x_t, state)
        if mask is not None:
            m = mask[:, t]
            new = st.where(m, new, state)
            y = torch.where(m.unsqueeze(1), y, 0.0)  # not y * m: padding may hold inf or NaN
        if record is not None:
            record.append(_retain(new))
        state = new
        outputs.append(y)
    return torch.stack(outputs, dim=1), state


def _retain(state: State) -> State:
    for t in st.tensors(state):
        if t.requires_grad:
            t.retain_grad()
    return state


class Recurrent(nn.Module):
    """A cell unrolled over time: ``forward(x (B, T, I), state=None, *, lengths=None) -> (y (B, T, O), state)``.

    ``kernel`` picks the implementation: "auto" (fused when the cell allows, else the cell's sequence
    path, else the step loop), "fused" (an error if the cell has none), "reference" (the sequence path or
    step loop, never fused), "step" (always the step loop: the definition the others are tested against).

    >>> layer = Recurrent(LSTMCell(8, 16))
    >>> y, (h, c) = layer(torch.randn(4, 10, 8), lengths=torch.tensor([10, 7, 3, 1]))
    >>> layer.kernel, layer.kernel_path
    ('torch-fused (oneDNN): standard LSTM', 'torch-fused')

    Until its first call a layer reports the kernel a call would take (``plan`` on an empty input).
    """

    def __init__(self, cell: Cell, *, kernel: str = "auto"):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        if kernel == "fused" and cell.fused_mode is None:
            raise ValueError(f"kernel='fused' is not available for {type(cell).__name__}: {cell.fused_reason}")
        self.cell = cell
        self.preference = kernel
        self.kernel_info = self.describe(self.plan(torch.empty(0)), torch.empty(0))

    @property
    def kernel(self) -> str:
        """The kernel of the last call in words, e.g. "torch-fused (oneDNN): standard LSTM"."""
        return str(self.kernel_info)

    @property
    def kernel_path(self) -> str:
        """The path of the last call: "torch-fused", "sequence" or "step"."""
        return self.kernel_info.path

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def init_state(self, batch_size: int, **kwargs) -> State:
        return self.cell.init_state(batch_size, **kwargs)

    def plan(self, x: Tensor) -> str:
        """Which path a call on ``x`` takes: "torch-fused", "sequence" or "step" (always under record_states)."""
        if _RECORDER.get() is not None or self._single_step(x):
            return "step"
        if self.preference in ("auto", "fused") and self.fused_ok(x):
            return "torch-fused"
        if self.preference != "step" and hasattr(self.cell, "forward_sequence"):
            return "sequence"
        return "step"

    def _single_step(self, x: Tensor) -> bool:
        """One step at inference (a keystroke, a decoding step): one cell call costs less than setting up a
        fused kernel, and there is no backward pass for the fused kernel to speed up."""
        return self.preference == "auto" and x.dim() == 3 and x.shape[1] == 1 and not torch.is_grad_enabled()

    def fused_ok(self, x: Tensor) -> bool:
        return self.cell.fused_mode is not None and not parametrize.is_parametrized(self.cell)

    def describe(self, path: str, x: Tensor) -> Kernel:
        """The :class:`Kernel` of a call on ``x`` that takes ``path``."""
        cell = self.cell
        if path == "torch-fused":
            return self._describe_fused(x)
        if self.preference in ("reference", "step") and cell.fused_mode is not None:
            why = f"kernel={self.preference!r} requested"
        elif self._single_step(x):
            why = "a single step at inference"
        elif parametrize.is_parametrized(cell):
            why = "parametrized weights (weight drop)"
        else:
            why = cell.fused_reason
        if path == "sequence":
            return Kernel("sequence", cell.sequence_kernel, why)
        hoist = ", input projection hoisted" if hasattr(cell, "project_input") else ""
        return Kernel("step", f"reference loop (autograd{hoist})", why)

    def _describe_fused(self, x: Tensor) -> Kernel:
        lib = backend(x)
        if getattr(self.cell, "proj_size", 0):
            # oneDNN has no projection LSTM; torch falls back to its own fused CPU kernel
            lib = "ATen" if lib == "oneDNN" else lib
            return Kernel("torch-fused", f"torch-fused ({lib})", "standard LSTM with projection", lib)
        return Kernel("torch-fused", f"torch-fused ({lib})", f"standard {_FUSED_NAMES[self.cell.fused_mode]}", lib)

    def forward(
        self, x: Tensor, state: State | None = None, *, lengths: Tensor | Sequence[int] | None = None
    ) -> tuple[Tensor, State]:
        check_input(x, self.cell.input_size)
        batch, steps, _ = x.shape
        lengths = check_lengths(lengths, batch, steps)
        if lengths is not None and bool((lengths == steps).all()):
            lengths = None  # nothing is padded: skip packing and masking
        zero = self.cell.init_state(batch, device=x.device, dtype=x.dtype)
        if state is None:
            state = zero
        else:
            check_state(state, zero)
        recorder = _RECORDER.get()
        path = self.plan(x)
        self.kernel_info = self.describe(path, x)
        # One weight-drop mask per sequence: parametrized weights are computed once for the whole call.
        with parametrize.cached():
            if path == "torch-fused":
                cell = self.cell
                out, (final,) = run_fused(
                    cell.fused_mode, [cell.fused_weights()], x, [state], lengths, has_bias=cell.bias
                )
                return out, final
            mask = None if lengths is None else length_mask(lengths.to(x.device), steps)
            if path == "sequence":
                return self.cell.forward_sequence(x, state, mask=mask)
            if recorder is None:
                return unroll(self.cell, x, state, mask)
            recorder.append(Recording(self, x, []))
            return unroll(self.cell, x, state, mask, record=recorder[-1].states)

    def extra_repr(self) -> str:
        return f"kernel={self.preference!r}"
