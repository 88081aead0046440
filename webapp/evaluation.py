"""Detection quality measures: confusion counts, precision, recall, F1, false and missed alarms."""

import numpy as np


def confusion_metrics(actual, predicted):
    """Metrics of predicted verdicts against 0/1 labels.

    FAR is the share of normal readings flagged, MAR the share of anomalous readings missed:
    F1 alone flatters a detector that flags everything when anomalies are common.
    """
    actual = np.asarray(actual, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    tp = int(np.sum(actual & predicted))
    fp = int(np.sum(~actual & predicted))
    fn = int(np.sum(actual & ~predicted))
    tn = int(np.sum(~actual & ~predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rows": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "far": round(fp / (fp + tn), 4) if fp + tn else 0.0,
        "mar": round(fn / (fn + tp), 4) if fn + tp else 0.0,
    }
