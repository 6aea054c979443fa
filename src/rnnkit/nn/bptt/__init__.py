"""Hand-written BPTT kernels: the fast reference path of the LSTM, GRU and Elman RNN cells.

A cell's ``forward_sequence`` computes the input half of every step at once (``project_input``, one
matrix product whose backward autograd does, also as single products) and hands the recurrence to one
``torch.autograd.Function`` per cell family:

- forward: a Python loop over t, per step one addmm (``gx_t + h_{t-1} @ W_hh^T``) and a few elementwise
  ops, each writing into a preallocated time-major buffer;
- backward: a loop over t in reverse, per step one addmm for dh_{t-1} and two to four elementwise ops,
  after every factor that does not depend on the recurrence was computed for all steps at once; dW_hh is
  then one matrix product over all T*B rows and the bias gradients come through gx in one sum.

Files: :mod:`.lstm` (plain and with projection), :mod:`.lnlstm` (layer norm), :mod:`.gru`, :mod:`.rnn`;
:mod:`.common` (layout, masks, tanh by sigmoid) and :mod:`.capture` (``capture_state_grads``: the
per-step dL/dh_t each backward computes anyway, for gradient-flow diagnostics).

Measured on this project's 2-core CPU machine (torch 2.13, MKL/oneDNN, AVX2), one training step
(forward and backward of a batch-first layer), 1 thread, CPU time, median of 5-9 interleaved repeats,
as a fraction of torch's fused layer on the same shapes (higher is faster)::

    (T, B, I, H)           LSTM   LSTM+LN*  LSTM proj H/2**  GRU    RNN tanh  RNN relu
    (100, 32, 64, 256)     0.93   0.73      1.03             1.08   1.13      1.12
    (200, 64, 128, 512)    0.85   0.67      1.02             1.06   1.05      1.03

    *  against the fused plain nn.LSTM (torch has no layer-norm LSTM)
    ** torch runs an LSTM with projection without oneDNN, on its ATen kernel
"""

from rnnkit.nn.bptt.capture import capture_state_grads
from rnnkit.nn.bptt.gru import gru_sequence
from rnnkit.nn.bptt.lnlstm import ln_lstm_sequence
from rnnkit.nn.bptt.lstm import lstm_sequence
from rnnkit.nn.bptt.rnn import rnn_sequence

__all__ = ["capture_state_grads", "gru_sequence", "ln_lstm_sequence", "lstm_sequence", "rnn_sequence"]
