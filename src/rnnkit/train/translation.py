"""Scores of generated text against references, with sacrebleu, and the attention heat map.

BLEU (Papineni et al. 2002) as sacrebleu computes it by default: detokenised hypotheses and references,
its own 13a tokenisation, cased; also lowercased, and chrF (Popovic 2015), the character n-gram F-score.
sacrebleu's signature says exactly which variant a figure is, so figures compare across papers and tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def text_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus BLEU (cased and lowercased) and chrF of ``hypotheses`` against one reference each:
    ``{"bleu": .., "bleu_lc": .., "chrf": .., "signatures": {...}}``; the scores are 0-100."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    refs = [list(references)]
    bleu, bleu_lc, chrf = sacrebleu.BLEU(), sacrebleu.BLEU(lowercase=True), sacrebleu.CHRF()
    scores = {
        "bleu": bleu.corpus_score(list(hypotheses), refs).score,
        "bleu_lc": bleu_lc.corpus_score(list(hypotheses), refs).score,
        "chrf": chrf.corpus_score(list(hypotheses), refs).score,
    }
    signatures = {"bleu": str(bleu.get_signature()), "bleu_lc": str(bleu_lc.get_signature()),
                  "chrf": str(chrf.get_signature())}
    return {**scores, "signatures": signatures}


def plot_attention(weights, source: Sequence[str], target: Sequence[str], path: str | Path) -> Path:
    """A heat map of attention ``weights`` (T, S): target tokens down, source tokens across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = weights.detach().cpu().float().numpy() if hasattr(weights, "detach") else weights
    T, S = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * S + 2), max(3.0, 0.4 * T + 1.5)))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(S), [repr(s)[1:-1] for s in source], rotation=70, fontsize=8)
    ax.set_yticks(range(T), [repr(t)[1:-1] for t in target], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
