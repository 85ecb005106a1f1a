"""Change-point metrics of van den Burg & Williams 2020, "An Evaluation of Change Point Detection Algorithms".

Written from the paper's definitions (Section 4.1), with its conventions:

- Change points are 0-based indices of the first value of a new segment, and the start of the series,
  index 0, is counted as a change point in both the annotations and the predictions ("as the
  first observation is always a change point"), so a method that predicts nothing still has one
  true positive and a series without changes is scored.
- **F1** with a margin :math:`M` (5 in the paper): a true positive is an annotated point :math:`\\tau` with a
  predicted point :math:`x` at :math:`|\\tau - x| \\le M`, each prediction used for at most one
  annotated point (the closest one free). With annotators :math:`k = 1..K` giving sets
  :math:`\\mathcal{T}_k` and their union :math:`\\mathcal{T}^*`, precision is
  :math:`P = |TP(\\mathcal{T}^*, X)| / |X|` and recall the annotators' mean,
  :math:`R = \\frac1K \\sum_k |TP(\\mathcal{T}_k, X)| / |\\mathcal{T}_k|`; :math:`F_1 = 2PR/(P+R)`.
- **Covering** (Arbeláez et al. 2011) of annotator :math:`k`'s segmentation :math:`\\mathcal{G}` by the predicted
  one :math:`\\mathcal{G}'`: :math:`C(\\mathcal{G}', \\mathcal{G}) = \\frac1T \\sum_{A \\in \\mathcal{G}} |A|
  \\max_{A' \\in \\mathcal{G}'} J(A, A')`, with :math:`J` the Jaccard index of two segments; averaged
  over the annotators.

Annotations are given as a list of lists (one per annotator) or, for a single annotator, one list.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

__all__ = ["covering", "f_measure", "true_positives"]


def _annotators(annotations: Sequence[Iterable[int]] | Sequence[int]) -> list[set[int]]:
    items = list(annotations)
    if not items or all(isinstance(a, int) for a in items):
        return [{int(a) for a in items}]  # type: ignore[arg-type]
    return [{int(a) for a in annotator} for annotator in items]  # type: ignore[union-attr]


def true_positives(annotated: Iterable[int], predicted: Iterable[int], margin: int = 5) -> set[int]:
    """Annotated points matched by a prediction within ``margin``, each prediction used once.

    Annotated points are taken in increasing order, each matched to the closest free prediction
    (the earlier of two equally close).
    """
    free = set(predicted)
    matched = set()
    for tau in sorted(set(annotated)):
        close = [(abs(tau - x), x) for x in free if abs(tau - x) <= margin]
        if close:
            free.remove(min(close)[1])
            matched.add(tau)
    return matched


def f_measure(
    annotations: Sequence[Iterable[int]] | Sequence[int], predictions: Iterable[int], margin: int = 5
) -> tuple[float, float, float]:
    """(F1, precision, recall) of ``predictions`` against the annotators' change points.

    >>> f_measure([[10, 20], [11, 20], [10], [0, 5]], [10, 20])
    (1.0, 1.0, 1.0)
    >>> round(f_measure([[10, 20], [11, 20], [10], [0, 5]], [])[0], 4)  # 10/17
    0.5882
    """
    annotators = [a | {0} for a in _annotators(annotations)]
    predicted = set(predictions) | {0}
    union = set().union(*annotators)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    recall = sum(len(true_positives(a, predicted, margin)) / len(a) for a in annotators) / len(annotators)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return f1, precision, recall


def _segments(points: Iterable[int], n: int) -> list[tuple[int, int]]:
    """The segments [start, end) that change points cut 0..n-1 into (points outside are ignored)."""
    cuts = sorted({p for p in points if 0 < p < n})
    bounds = [0, *cuts, n]
    return list(itertools.pairwise(bounds))


def _cover(predicted: list[tuple[int, int]], truth: list[tuple[int, int]], n: int) -> float:
    total = 0.0
    j = 0
    for a, b in truth:
        best = 0.0
        # Only predicted segments that overlap [a, b) can have a non-zero Jaccard index.
        while j < len(predicted) and predicted[j][1] <= a:
            j += 1
        k = j
        while k < len(predicted) and predicted[k][0] < b:
            c, d = predicted[k]
            inter = min(b, d) - max(a, c)
            union = max(b, d) - min(a, c)
            best = max(best, inter / union)
            k += 1
        total += (b - a) * best
    return total / n


def covering(annotations: Sequence[Iterable[int]] | Sequence[int], predictions: Iterable[int], n: int) -> float:
    """Segmentation covering of the annotators' segmentations by ``predictions``, averaged over them.

    >>> round(covering([[10, 20], [10], [0, 5]], [10, 20], 45), 4)
    0.7963
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    predicted = _segments(predictions, n)
    annotators = _annotators(annotations)
    return sum(_cover(predicted, _segments(a, n), n) for a in annotators) / len(annotators)
