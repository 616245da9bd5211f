"""Which way is better for a metric, read from its name: the one rule for the whole package.

The writer uses it for ``EventLog(best=...)`` without ``mode=`` (``best="val/acc"``
is maximised), the importers for ``--best`` without ``--mode``, and the
bundle's analysis for every metric that is not the run's objective. A name
that says nothing (``lr``, ``grad_norm``) has no goal; callers that need one
take ``"min"``, the direction of a loss.
"""

from __future__ import annotations

import re
from typing import Final, Literal

_LOWER_BETTER: Final[frozenset[str]] = frozenset(
    "loss nll err error errors perplexity ppl mse mae rmse mape cer wer bpb bpc regret cost".split()
)
_HIGHER_BETTER: Final[frozenset[str]] = frozenset(
    "acc accuracy reward rewards return returns score f1 precision recall auc map iou miou "
    "bleu rouge success r2 top1 top5".split()
)
#: words that make a metric a spread, not a score (``eval_std_reward``): no goal
_SPREAD: Final[frozenset[str]] = frozenset("std stddev sigma var variance".split())
_WORD: Final = re.compile(r"[a-z0-9]+")


def name_goal(metric: str) -> Literal["min", "max"] | None:
    """``"min"`` for losses and errors, ``"max"`` for accuracies, rewards and scores
    (by the words of the name: ``val/acc``, ``eval_success_rate``), None otherwise.

    A name with both kinds of words (``loss_of_best_acc``) is taken as a loss,
    and any name holding ``loss`` is one (``trainloss``).
    """
    lowered = metric.lower()
    words = set(_WORD.findall(lowered))
    if words & _SPREAD:
        return None
    if words & _LOWER_BETTER or (not words & _HIGHER_BETTER and "loss" in lowered):
        return "min"
    if words & _HIGHER_BETTER:
        return "max"
    return None
