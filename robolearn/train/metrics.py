"""Metrics of a binary success predictor (accuracy, ROC AUC, calibration) and of an embedding of video (alignment
across views): what training validates with and evaluation reports, in one place."""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (the probability that a positive outscores a negative; ties count
    half), from ranks. None when only one class is present."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def calibration(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error over `bins` equal-width probability bins, and the bins
    (range, count, mean predicted, observed rate)."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    ece, table = 0.0, []
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        pred, obs = float(probs[m].mean()), float(labels[m].mean())
        ece += m.mean() * abs(pred - obs)
        table.append({"range": [float(edges[b]), float(edges[b + 1])], "count": int(m.sum()),
                      "predicted": pred, "observed": obs})  # fmt: skip
    return float(ece), table


def binary_report(logits: np.ndarray, labels: np.ndarray) -> dict:
    """loss (BCE), accuracy at 0.5, ROC AUC, ECE and the positive rate of a set of predictions."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    probs = 1 / (1 + np.exp(-logits))
    loss = np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits))))
    ece, _ = calibration(probs, labels)
    return {
        "loss": float(loss),
        "accuracy": float(np.mean((probs >= 0.5) == (labels >= 0.5))),
        "auc": roc_auc(logits, labels),
        "ece": ece,
        "positive_rate": float(labels.mean()),
        "frames": int(len(labels)),
    }


def nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of `a` (T, D), the index of its nearest row of `b` (euclidean)."""
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return d.argmin(1)


def alignment_error(feats: list[np.ndarray], pairs: list[tuple[int, int]]) -> float | None:
    """Mean over episodes and ordered view `pairs` of |t - t_nn| / T."""
    errors = [np.abs(nearest(e[:, i], e[:, j]) - np.arange(len(e))).mean() / len(e) for e in feats for i, j in pairs]
    return float(np.mean(errors)) if errors else None
