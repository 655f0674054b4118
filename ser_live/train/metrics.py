"""Classification scores as the speech-emotion literature reports them.

UA (unweighted average recall, i.e. balanced accuracy) is the headline: the corpora are not
balanced, and a monitor that calls everything "neutral" should not look good.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def scores(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    """UA, WA, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Classes with no true examples are left out of UA and macro-F1 (they have no recall).
    """
    k = len(labels)
    yt, yp = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    conf = np.zeros((k, k), dtype=int)
    np.add.at(conf, (yt, yp), 1)
    support = conf.sum(axis=1)
    predicted = conf.sum(axis=0)
    tp = np.diag(conf).astype(float)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros(k), where=(precision + recall) > 0)
    present = support > 0
    n = int(support.sum())
    return {
        "n": n,
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "wa": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "labels": list(labels),
        "per_class": {lbl: {"precision": float(precision[i]), "recall": float(recall[i]),
                            "f1": float(f1[i]), "support": int(support[i])}
                      for i, lbl in enumerate(labels)},
        "confusion": conf.tolist(),
    }
