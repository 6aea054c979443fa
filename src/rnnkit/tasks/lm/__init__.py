"""Task ``lm``: next-word and next-character prediction on any text, beside a Kneser-Ney n-gram.

Parts: ``config`` (the run config), ``task`` (data, model, metrics and baseline), ``pipeline``
(suggestions, typing sessions, generation), ``cli`` (how ``rnnkit predict`` prints), ``serve`` (the HTTP
endpoints) with ``batching`` (micro-batched completions), ``export`` (the ONNX step graph), ``bench``
(``rnnkit bench quality lm``) and ``static/`` (the page's Type and Generate panels).

Preprocessor: the text codec (``rnnkit.data.text``), saved as ``meta.json["preprocessor"]``:

- ``{"type": "char", "chars": [...], "unk": bool}``: one id per character, in this order (after the
  specials);
- ``{"type": "word", "words": [...], "lowercase": bool, "punctuation": "keep" | "drop"}``: the vocabulary
  after ``<unk>`` and ``<eos>``;
- ``{"type": "bpe", "tokenizer": "<Hugging Face tokenizers JSON>", "lowercase": bool}``.
"""

from rnnkit.tasks.lm.config import LMRun, TextDataConfig, embed_size, lm_train_defaults
from rnnkit.tasks.lm.task import TASK, LanguageModelTask, corpus_spans, validation_text

__all__ = ["TASK", "LMRun", "LanguageModelTask", "TextDataConfig", "corpus_spans", "embed_size",
           "lm_train_defaults", "validation_text"]
