"""Task ``seq2seq``: a sequence in, another out: translation, and chat as replies to a dialogue's context.

Parts: ``config`` (the run config, ``DecodeConfig``), ``preprocess`` (``PairEncoding``), ``task`` (pairs,
splits, batches, BLEU and chrF), ``pipeline`` (translations, streamed output, chat replies), ``cli`` (how
``rnnkit predict`` prints, ``--beam``, ``--attention``), ``serve`` (the HTTP endpoints), ``bench``
(``rnnkit bench quality seq2seq``) and ``static/`` (the page's Translate and Chat panels).

Preprocessor: ``PairEncoding``, saved as ``meta.json["preprocessor"]``::

    {"kind": "translate" | "chat", "max_length": int, "context_turns": int, "separator": str,
     "source": <a text codec's dict, see rnnkit.tasks.lm>,
     "target": <the same; absent when both sides share the source codec>}
"""

from rnnkit.tasks.seq2seq.config import DecodeConfig, Seq2SeqDataConfig, Seq2SeqRun
from rnnkit.tasks.seq2seq.preprocess import PairEncoding
from rnnkit.tasks.seq2seq.task import TASK, Seq2SeqTask, load_splits, translate

__all__ = ["TASK", "DecodeConfig", "PairEncoding", "Seq2SeqDataConfig", "Seq2SeqRun", "Seq2SeqTask", "load_splits",
           "translate"]
