"""The run config of the ``lm`` task: how text becomes batches, the model, the training defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rnnkit.data.text import CodecConfig
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LMConfig
from rnnkit.train.trainer import TrainConfig


@dataclass
class TextDataConfig:
    """How text becomes batches: the codec, the validation share, B parallel streams of T-step chunks.
    The n-gram baseline of ``ngram_order`` is fitted on at most ``baseline_tokens`` training tokens.
    Next-word accuracy and keystroke savings are scored on about ``keyboard_words`` validation words, in
    whole documents spread over the split (a third of them for keystroke savings; 0 skips both)."""

    codec: CodecConfig = field(default_factory=CodecConfig)
    # share held out for validation: whole documents spread evenly when there are ten or more, else each one's end
    valid_fraction: float = 0.1
    batch_size: int = 32  # B: parallel streams the text is cut into (validation uses at most 16)
    # T: tokens a chunk; the state carries over to the next chunk, gradients stop at its edge
    bptt: int = 32  # Tiny Shakespeare, 10 minutes: 32 steps beat 64 at equal speed (docs/defaults.md, bench quality lm)
    ngram_order: int = 3
    baseline_tokens: int = 5_000_000
    # after training, also interpolate the model with the n-gram, the weight fitted on the validation split; the
    # run keeps both for ``--scorer mixture`` (rnnkit.tasks.lm.mixture)
    mixture: bool = True
    keyboard_words: int = 1000


def lm_train_defaults() -> TrainConfig:
    # Adam at 4e-3 with a short warmup and a cosine decay to a tenth: the setting measured best for a
    # 2x512 character model trained for minutes on two cores (docs/defaults.md, "bench quality lm")
    return TrainConfig(steps=4000, lr=4e-3, schedule="cosine", warmup_steps=25, min_lr_ratio=0.1, eval_every=500,
                       clip_norm=1.0)


def _lm_model_defaults() -> LMConfig:
    # forget_bias 0, as torch.nn.LSTM: with one the model learned more slowly in the first hundreds of updates
    return LMConfig(embed_size=0, encoder=EncoderConfig(hidden_size=512, num_layers=2, dropout=0.2, forget_bias=0.0))


def word_model_defaults() -> LMConfig:
    """The model a word or BPE codec gets when the run leaves ``model`` at its (character) defaults: one
    256-unit LSTM layer, a tied 128-wide embedding and AWD-LSTM's dropouts, the demo's model. Words are
    thirty times rarer than characters in a corpus, and a 2x512 model with a 512-wide softmax learns
    from them slowly on a CPU: on Tiny Shakespeare's words, 5 minutes of this model reached a validation
    perplexity of 79.0 against the Kneser-Ney trigram's 108.3, where 10 minutes of 2x512 reached 284.0
    (docs/defaults.md)."""
    return LMConfig(embed_size=128, encoder=EncoderConfig(hidden_size=256, num_layers=1, forget_bias=0.0),
                    tie_weights=True, input_dropout=0.2, output_dropout=0.3, embed_dropout=0.1)


def wide_word_model() -> LMConfig:
    """The word model a time budget gets when the small one would pass over the text more than
    ``WIDE_AFTER`` times its ``max_epochs``: 512 units and heavier dropouts (DropConnect on the recurrent
    weights too). On Tiny Shakespeare's words, 10 minutes on two cores: validation perplexity 72.3 (30
    passes), where the small model reached 79.0 in the 40 passes it is allowed (docs/results.md)."""
    return replace(word_model_defaults(), encoder=EncoderConfig(hidden_size=512, num_layers=1, forget_bias=0.0),
                   input_dropout=0.3, output_dropout=0.4, weight_drop=0.3)


WIDE_AFTER = 1.5

# The word model's passes over its training text: on Tiny Shakespeare's 200,000 words, 40 passes (5 minutes on
# two cores) reached a validation perplexity of 79.0 and 80 passes (10 minutes) 96.4 (docs/results.md)
WORD_MAX_EPOCHS = 40.0


def resolve(cfg: LMRun) -> LMRun:
    """``cfg`` with the model a word or BPE codec gets when ``model`` is left at its defaults (see
    ``word_model_defaults``), trained for at most ``WORD_MAX_EPOCHS`` passes unless ``train.max_epochs``
    is set; any other config as it is."""
    if cfg.data.codec.type == "char" or cfg.model != _lm_model_defaults():
        return cfg
    train = cfg.train if cfg.train.max_epochs is not None else replace(cfg.train, max_epochs=WORD_MAX_EPOCHS)
    return replace(cfg, model=word_model_defaults(), train=train)


CHAR_EMBED_SIZE = 64  # Tiny Shakespeare, 10 minutes: 1.456 nats/char, against 1.49-1.51 at 512 (docs/defaults.md)


def embed_size(cfg: LMRun) -> int:
    """The embedding width the run's model gets. ``model.embed_size`` 0 picks it from the codec: a character
    vocabulary holds only some dozens of symbols, so 64 (at most the hidden width) carries all of it, and the
    first layer's input projection costs an eighth of what a 512-wide embedding costs; words and subwords
    get the hidden width."""
    if cfg.model.embed_size:
        return cfg.model.embed_size
    hidden = cfg.model.encoder.hidden_size
    return min(CHAR_EMBED_SIZE, hidden) if cfg.data.codec.type == "char" else hidden


@dataclass
class LMRun:
    data: TextDataConfig = field(default_factory=TextDataConfig)
    model: LMConfig = field(default_factory=_lm_model_defaults)
    train: TrainConfig = field(default_factory=lm_train_defaults)
