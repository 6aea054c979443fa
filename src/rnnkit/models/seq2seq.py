"""``Seq2Seq``: an encoder-decoder with attention, for translation and dialogue (varying in, varying out).

The encoder (bidirectional by default) reads the source; a bridge turns the mean of its outputs into the
decoder's starting state; the decoder reads the target shifted right (teacher forcing) and attends over
the encoder outputs. Attention comes after the recurrence, as in Luong et al. (2015, sec. 3): the decoder's
hidden vector h_t picks a context c_t, and the attentional vector a_t = tanh(W_c [c_t; h_t]) gives the
logits. Without input feeding nothing in the recurrence depends on attention, so training runs the
decoder over the whole target sequence in one fused kernel, and attention and softmax in batched matrix
products over all steps. With ``input_feeding`` (Luong et al. 2015, sec. 3.3) a_{t-1} joins the input of
step t, so training steps one position at a time; ``scheduled_sampling`` (Bengio et al. 2015) also does.

At use time the model is a generator: ``start(batch)`` encodes the sources and ``step(y_prev, state)``
advances the decoder one token. The state holds the encoder memory too, so beam search reorders it with
everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.batch import IGNORE, Batch
from rnnkit.models.base import Output
from rnnkit.models.encoder import EncoderConfig, build_encoder
from rnnkit.nn.attention import Attention
from rnnkit.state import State, map_state, tensors


@dataclass
class Seq2SeqConfig:
    """An encoder-decoder's shape and regularisation.

    ``attention``: "general" (Luong's bilinear score), "dot", "additive" (Bahdanau's perceptron) or
    "none"; ``attention_size`` is the additive perceptron's width (0: the decoder's). ``bridge`` starts
    the decoder from tanh(W mean(encoder outputs)); without it the decoder starts from zeros.
    ``tie_embeddings`` shares the target embedding with the output layer (Press and Wolf 2017);
    ``share_embeddings`` also shares it with the source (one vocabulary for both sides). ``context_layer``
    adds a recurrent layer above the decoder that reads the decoder's output and its attention context
    (Wu et al. 2016, sec. 3: attention from the bottom decoder layer feeds the layers above), so the
    recurrence knows what was attended, as input feeding does, while both layers still run fused over the
    whole target sequence in training. ``dropout``
    applies to embeddings, encoder outputs and attentional vectors; ``label_smoothing`` (Szegedy et al.
    2016) spreads that much target mass uniformly. ``scheduled_sampling`` is the probability of feeding
    the model's own previous prediction instead of the true token during training.
    """

    embed_size: int = 256  # E: the width of both embeddings and of the attentional vectors
    # reads the source
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden_size=256, bidirectional=True))
    # reads the target shifted right; left to right only (bidirectional stays false)
    decoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden_size=512))
    attention: Literal["general", "dot", "additive", "none"] = "general"
    attention_size: int = 0
    input_feeding: bool = False  # the last attentional vector joins the next step's input (Luong et al. 2015, sec. 3.3)
    context_layer: bool = False
    bridge: bool = True
    tie_embeddings: bool = True
    share_embeddings: bool = False
    dropout: float = 0.3
    label_smoothing: float = 0.1
    scheduled_sampling: float = 0.0


class Seq2Seq(nn.Module):
    """``Seq2Seq(config, src_vocab, tgt_vocab, bos_id=...)``.

    ``forward(batch)``: ``batch.inputs`` (B, S) source ids with ``batch.lengths`` (B,);
    ``batch.extras["target_in"]`` (B, T) decoder inputs (``bos_id`` then the target); ``batch.targets``
    (B, T) the ids to predict (the target then its end id, ``IGNORE`` on padding) -> ``Output`` with the
    label-smoothed loss, ``weight`` the number of target tokens, and ``metrics`` sums "nll" (plain
    cross-entropy, nats) and, outside training, "correct" (top-1 hits) over them. The output layer runs on
    the scored positions only, so ``Output.logits`` is None; ``decode`` gives the logits of every step.
    """

    def __init__(self, config: Seq2SeqConfig, src_vocab: int, tgt_vocab: int, *, bos_id: int):
        super().__init__()
        if config.decoder.bidirectional:
            raise ValueError("the decoder reads left to right: model.decoder.bidirectional must be false")
        if config.share_embeddings and src_vocab != tgt_vocab:
            raise ValueError("model.share_embeddings needs one vocabulary for both sides (data.shared_codec)")
        if config.scheduled_sampling and not 0 <= config.scheduled_sampling <= 1:
            raise ValueError(f"model.scheduled_sampling must be in [0, 1], got {config.scheduled_sampling}")
        self.config, self.bos_id = config, bos_id
        E = config.embed_size
        self.src_embed = nn.Embedding(src_vocab, E)
        self.tgt_embed = self.src_embed if config.share_embeddings else nn.Embedding(tgt_vocab, E)
        self.encoder = build_encoder(config.encoder, E)
        memory_size = self.encoder.output_size
        self.decoder = build_encoder(config.decoder, E + (E if config.input_feeding else 0))
        hidden = self.decoder.output_size
        self.upper = None
        if config.context_layer:
            if config.attention == "none":
                raise ValueError("model.context_layer reads the attention context: it needs model.attention")
            upper = EncoderConfig(cell=config.decoder.cell, hidden_size=config.decoder.hidden_size)
            self.upper = build_encoder(upper, hidden + memory_size)
        self._state_sizes = [t.shape[1] for t in tensors(self._init_decoder_state(1))]
        self.bridge = nn.Linear(memory_size, sum(self._state_sizes)) if config.bridge else None
        if config.attention == "none":
            self.attention, self.combine = None, nn.Linear(hidden, E)
        else:
            self.attention = Attention(config.attention, hidden, memory_size, config.attention_size or None)
            self.combine = nn.Linear(memory_size + hidden, E)  # a_t = tanh(W_c [c_t; h_t])
        self.out = nn.Linear(E, tgt_vocab)
        if config.tie_embeddings:
            self.out.weight = self.tgt_embed.weight
            nn.init.uniform_(self.tgt_embed.weight, -0.1, 0.1)
        self.drop = nn.Dropout(config.dropout)

    # ---- the encoder side ---------------------------------------------------------------------------------
    def encode(self, src: Tensor, lengths: Tensor | None) -> State:
        """(B, S) source ids -> the decoder's starting state: (decoder state, memory (B, S, M), keys,
        mask (B, S), fed vector (B, E) or (B, 0))."""
        B, S = src.shape
        lengths = torch.full((B,), S, dtype=torch.long) if lengths is None else lengths
        memory, _ = self.encoder(self.drop(self.src_embed(src)), lengths=lengths)
        mask = torch.arange(S, device=src.device) < lengths.to(src.device).unsqueeze(1)
        memory = self.drop(memory)
        keys = self.attention.keys(memory) if self.attention is not None else memory[:, :0]
        template = self._init_decoder_state(B, device=src.device, dtype=memory.dtype)
        if self.bridge is not None:
            mean = (memory * mask.unsqueeze(-1)).sum(1) / lengths.to(memory.device).clamp(min=1).unsqueeze(1)
            leaves = iter(torch.tanh(self.bridge(mean)).split(self._state_sizes, dim=1))
            template = map_state(lambda _: next(leaves), template)
        fed = memory.new_zeros(B, self.config.embed_size if self.config.input_feeding else 0)
        return (template, memory, keys, mask, fed)

    # ---- the decoder side ---------------------------------------------------------------------------------
    def _init_decoder_state(self, batch_size: int, **kwargs) -> State:
        lower = self.decoder.init_state(batch_size, **kwargs)
        return lower if self.upper is None else (lower, self.upper.init_state(batch_size, **kwargs))

    def _recur(self, x: Tensor, dec_state: State, memory: Tensor, keys: Tensor, mask: Tensor):
        """The decoder over inputs (B, T, I) -> (attentional vectors (B, T, E), weights (B, T, S) or None,
        the decoder state after the last step)."""
        if self.upper is None:
            hidden, dec_state = self.decoder(x, dec_state)
            attentional, weights = self.attend(hidden, memory, keys, mask)
            return attentional, weights, dec_state
        lower, upper = dec_state
        hidden, lower = self.decoder(x, lower)
        context, weights = self.attention(hidden, memory, keys, mask)
        top, upper = self.upper(self.drop(torch.cat([hidden, context], -1)), upper)
        return torch.tanh(self.combine(torch.cat([context, top], -1))), weights, (lower, upper)

    def attend(self, hidden: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        """Decoder vectors (B, T, H) -> (attentional vectors (B, T, E), attention weights (B, T, S) or None)."""
        if self.attention is None:
            return torch.tanh(self.combine(hidden)), None
        context, weights = self.attention(hidden, memory, keys, mask)
        return torch.tanh(self.combine(torch.cat([context, hidden], -1))), weights

    def decode(self, target_in: Tensor, state: State) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced decoding of (B, T) inputs from ``encode``'s state -> (logits (B, T, V), attention
        weights (B, T, S) or None)."""
        attentional, weights = self.decode_vectors(target_in, state)
        return self.out(self.drop(attentional)), weights

    def decode_vectors(self, target_in: Tensor, state: State) -> tuple[Tensor, Tensor | None]:
        """``decode`` before the output layer: (attentional vectors (B, T, E), attention weights)."""
        if self.config.input_feeding or (self.training and self.config.scheduled_sampling):
            return self._decode_stepwise(target_in, state)
        dec_state, memory, keys, mask, _ = state
        attentional, weights, _ = self._recur(self.drop(self.tgt_embed(target_in)), dec_state, memory, keys, mask)
        return attentional, weights

    def _decode_stepwise(self, target_in: Tensor, state: State) -> tuple[Tensor, Tensor | None]:
        vectors, weights = [], []
        y = target_in[:, 0]
        for t in range(target_in.shape[1]):
            if t and self.training and self.config.scheduled_sampling:
                own = torch.rand(y.shape, device=y.device) < self.config.scheduled_sampling
                with torch.no_grad():
                    guess = self.out(vectors[-1]).argmax(-1)
                y = torch.where(own, guess, target_in[:, t])
            elif t:
                y = target_in[:, t]
            attentional, w, state = self._attend_step(y, state)
            vectors.append(attentional)
            weights.append(w)
        stacked = torch.stack(weights, 1) if weights[0] is not None else None
        return torch.stack(vectors, 1), stacked

    def _attend_step(self, y_prev: Tensor, state: State) -> tuple[Tensor, Tensor | None, State]:
        """One decoder step: (attentional vector (B, E), attention weights (B, S) or None, next state)."""
        dec_state, memory, keys, mask, fed = state
        x = self.drop(self.tgt_embed(y_prev))
        if self.config.input_feeding:
            x = torch.cat([x, fed], -1)
        attentional, weights, dec_state = self._recur(x.unsqueeze(1), dec_state, memory, keys, mask)
        attentional = attentional[:, 0]
        fed = attentional if self.config.input_feeding else fed
        return attentional, (weights[:, 0] if weights is not None else None), (dec_state, memory, keys, mask, fed)

    # ---- the task-model and generator protocols -------------------------------------------------------------
    def forward(self, batch: Batch, state: State | None = None) -> Output:
        memory = self.encode(batch.inputs, batch.lengths)
        attentional, _ = self.decode_vectors(batch.extras["target_in"], memory)
        scored = batch.targets != IGNORE
        targets = batch.targets[scored]
        # the output layer runs on the scored positions only: padding costs no softmax
        log_probs = F.log_softmax(self.out(self.drop(attentional[scored])).float(), -1)  # (N, V)
        nll = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)
        eps = self.config.label_smoothing
        loss = nll.mean() if not eps else ((1 - eps) * nll - eps * log_probs.mean(-1)).mean()
        metrics = {"nll": float(nll.detach().sum())}
        if not self.training:
            metrics["correct"] = float((log_probs.argmax(-1) == targets).sum())
        return Output(loss=loss, weight=float(scored.sum()), metrics=metrics)

    def start(self, batch: Batch) -> State:
        """Encode ``batch.inputs`` (B, S) (with ``batch.lengths``); decoding then steps from ``bos_id``."""
        return self.encode(batch.inputs, batch.lengths)

    def step(self, y_prev: Tensor, state: State) -> tuple[Tensor, State]:
        """One target token (B,) -> ((B, V) logits of the next one, the state after it)."""
        attentional, _, state = self._attend_step(y_prev, state)
        return self.out(self.drop(attentional)), state

    @torch.no_grad()
    def attention_map(self, src: Tensor, target: Tensor) -> Tensor:
        """Attention weights (T, S) of one source (S,) while decoding the given target (T,) ids (without
        the start id): row t is where the decoder looked to predict target[t]."""
        state = self.encode(src.unsqueeze(0), None)
        target_in = torch.cat([target.new_tensor([self.bos_id]), target[:-1]]).unsqueeze(0)
        _, weights = self.decode(target_in, state)
        if weights is None:
            raise ValueError("a model with model.attention = 'none' has no attention to show")
        return weights[0]
