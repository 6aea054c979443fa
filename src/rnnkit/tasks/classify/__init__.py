"""Task ``classify``: a sequence of any length in, one label out (sentiment, topic, speaker, activity).

Parts: ``config`` (the run config), ``preprocess`` (``Encoding``), ``task`` (data, splits, starting
weights, metrics and baselines), ``pipeline`` (labels and explanations), ``cli`` (how ``rnnkit predict``
prints, ``--explain``), ``serve`` (the HTTP endpoints), ``export`` (the ONNX whole-sequence graph),
``bench`` (``rnnkit bench quality classify``) and ``static/`` (the page's Classify panel).

Preprocessor: ``Encoding``, saved as ``meta.json["preprocessor"]``::

    {"classes": [name, ...], "max_length": int,
     "text": <a text codec's dict, see rnnkit.tasks.lm>}          # text runs
    {"classes": [...], "max_length": int, "mean": [F floats], "std": [F floats]}   # numeric runs
"""

from rnnkit.tasks.classify.config import ClassifyDataConfig, ClassifyRun, InitConfig
from rnnkit.tasks.classify.preprocess import Encoding
from rnnkit.tasks.classify.task import TASK, ClassifyTask, init_from_lm, split_data

__all__ = ["TASK", "ClassifyDataConfig", "ClassifyRun", "ClassifyTask", "Encoding", "InitConfig", "init_from_lm",
           "split_data"]
